//! `/audit`: the front-line audit between two days, every number a link
//! to the members behind it; `/audit/members`: those members, each with
//! the events (and orders) that moved them.

use super::{difference, known_at_field};
use crate::chart::{self, Line};
use crate::layout::{frame, pinned, staff_link, unit_link, Pinned, Section};
use crate::params::{link, pin, Params};
use crate::{Api, ApiError};
use maud::{html, Markup};
use muster_domain::Date;
use muster_proto::answers::*;
use muster_proto::requests::{AuditRequest, HistoryRequest};

const ACCEPTED: &[&str] = &["scope", "from", "to", "known_at"];
const MEMBERS_ACCEPTED: &[&str] = &["scope", "from", "to", "known_at", "set", "cause"];

/// The audit's request as a page's parameters give it, pinned to `seq`.
fn request(params: &Params, seq: u64) -> Option<AuditRequest> {
    Some(AuditRequest {
        from: params.get("from")?.to_owned(),
        to: params.get("to")?.to_owned(),
        scope: params.get("scope").map(str::to_owned),
        known_at_seq: Some(seq),
        known_at_time: None,
    })
}

/// Links within one audit: its parameters at its ledger state. In a
/// document (the HTML report, read offline) the links stay inside it.
struct Here<'a> {
    audit: &'a AuditOut,
    seq: String,
    document: bool,
}

impl Here<'_> {
    fn seq(&self) -> u64 {
        self.seq.parse().unwrap_or(0)
    }

    /// A unit: a link to its page, or in a document its name and id.
    fn unit(&self, unit: &str, name: Option<&str>, date: &str) -> Markup {
        if self.document {
            html! { @if let Some(name) = name { span lang="zh-Hans" { (name) } " " } code { (unit) } }
        } else {
            unit_link(unit, name, date, self.seq())
        }
    }

    /// A member: a link to their timeline; in a document, where the
    /// tables list each member's events beside them, their id.
    fn staff(&self, staff: &str) -> Markup {
        if self.document {
            html! { code { (staff) } }
        } else {
            staff_link(staff, self.seq())
        }
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        vec![
            ("scope", self.audit.scope.as_deref().unwrap_or("")),
            ("from", &self.audit.from),
            ("to", &self.audit.to),
            ("known_at", &self.seq),
        ]
    }

    /// The members page of one set (and cause); in a document, its
    /// section of the set.
    fn members(&self, set: Set, cause: Option<&str>) -> String {
        if self.document {
            return format!("#members-{}", set.name());
        }
        let mut pairs = self.pairs();
        pairs.push(("set", set.name()));
        pairs.push(("cause", cause.unwrap_or("")));
        link("/audit/members", &pairs)
    }

    /// A download of the same audit from the JSON API's paths.
    fn download(&self, path: &str) -> String {
        let pairs: Vec<(&str, &str)> =
            self.pairs().into_iter().map(|(k, v)| if k == "known_at" { ("known_at_seq", v) } else { (k, v) }).collect();
        link(path, &pairs)
    }

    /// The evidence pack of the same question: computed at the newest
    /// signed checkpoint, not at this page's pin (a pack is only as good
    /// as the checkpoint it was computed under).
    fn evidence(&self) -> String {
        let pairs: Vec<(&str, &str)> = self.pairs().into_iter().filter(|(k, _)| *k != "known_at").collect();
        link("/v1/evidence.zip", &pairs)
    }

    /// The organisation tree on `date` (the scope's subtree).
    fn tree(&self, date: &str) -> String {
        if self.document {
            return "#subunits".to_owned();
        }
        link("/org", &[("date", date), ("under", self.audit.scope.as_deref().unwrap_or("")), ("known_at", &self.seq)])
    }
}

/// The form, and the audit when the form was filled in.
pub fn page(api: &impl Api, pairs: &[(String, String)]) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, ACCEPTED)?;
    let state = pin(api, &params)?;
    let form = form(&params, "/audit", None);
    let Some(request) = request(&params, state.seq) else {
        let body = html! {
            (form)
            p { "Give the scope (a unit id, e.g. " code { "NH" } "; empty: the whole ledger) and two days; the audit counts who moved between office and front line, and how." }
        };
        return Ok(frame(Section::Audit, "Front-line audit", Some(pinned(&state, "/audit", &[])), body));
    };
    let audit = api.audit(request)?;
    let here = Here { audit: &audit, seq: state.seq.to_string(), document: false };
    let own: Vec<(&str, &str)> = here.pairs().into_iter().filter(|(k, _)| *k != "known_at").collect();
    let body = html! {
        (form)
        (headline(&here))
        (downloads(&here))
        (strength(&here))
        (moves_by_cause(&here))
        (named(&here))
        (reconciliation(&here))
        (subunits(&here))
        (quotas(&here))
    };
    let title = title(&audit);
    Ok(frame(Section::Audit, &title, Some(pinned(&state, "/audit", &own)), body))
}

/// "Front-line audit: 南湖分局 Nanhu sub-bureau (NH), 2013-01-01 → 2016-12-01".
fn title(audit: &AuditOut) -> String {
    let scope = match &audit.scope {
        Some(scope) => {
            let name =
                audit.tree_to.first().or(audit.tree_from.first()).filter(|n| &n.unit == scope).map(|n| n.name.as_str());
            format!("{} ({scope})", name.unwrap_or(scope))
        }
        None => "the whole ledger".to_owned(),
    };
    format!("Front-line audit: {scope}, {} → {}", audit.from, audit.to)
}

fn form(params: &Params, action: &str, extra: Option<Markup>) -> Markup {
    html! {
        form.controls method="get" action=(action) aria-label="Audit" {
            label { "Scope (unit id; empty: everything)" input type="text" name="scope" value=[params.get("scope")] size="10"; }
            label { "From" input type="date" name="from" value=[params.get("from")] required; }
            label { "To" input type="date" name="to" value=[params.get("to")] required; }
            (known_at_field(params.get("known_at")))
            @if let Some(extra) = extra { (extra) }
            button type="submit" { "Run the audit" }
        }
    }
}

fn figure(id: &str, value: impl std::fmt::Display, label: Markup, href: Option<String>) -> Markup {
    html! {
        div.figure {
            div.value {
                @if let Some(href) = href { a #(id) href=(href) { (value) } } @else { span #(id) { (value) } }
            }
            div.label { (label) }
        }
    }
}

fn headline(here: &Here) -> Markup {
    let a = here.audit;
    let share = a.moved_down_share.map_or("–".to_owned(), |s| format!("{s}%"));
    html! {
        h2 { "The answer" }
        p.lead {
            "Of " strong { (a.strength_from.office_posted) } " office staff posted on " (a.from) ", "
            a #moved-at-front href=(here.members(Set::AtFront, None)) { (a.moved_down_at_front) }
            " (" strong #moved-share { (share) } ") moved to the front line by " (a.to) " and work there; "
            a href=(here.members(Set::Paper, None)) { (a.paper_moves.len()) } " more moved on paper only (seconded back), "
            a href=(here.members(Set::Up, None)) { (a.moved_up.len()) } " moved the other way, "
            a href=(here.members(Set::RoundTrips, None)) { (a.round_trips.len()) } " went down and came back."
        }
        div.figures {
            (figure("fig-at-front", a.moved_down_at_front, html! { "moved down and working at the front (" (share) " of office strength on " (a.from) ")" }, Some(here.members(Set::AtFront, None))))
            (figure("fig-real", a.moved_down_real, html! { "moved down by transfer or restructuring (reclassified units not counted)" }, Some(here.members(Set::Real, None))))
            (figure("fig-paper", a.paper_moves.len(), html! { "paper moves: posted down, working in an office" }, Some(here.members(Set::Paper, None))))
            (figure("fig-round", a.round_trips.len(), html! { "round trips: down and back up" }, Some(here.members(Set::RoundTrips, None))))
            (figure("fig-up", a.moved_up.len(), html! { "moved up to an office" }, Some(here.members(Set::Up, None))))
        }
    }
}

fn downloads(here: &Here) -> Markup {
    html! {
        p.downloads {
            "Download this audit: "
            a href=(here.download("/v1/audit.html")) download { "HTML report" }
            a href=(here.download("/v1/audit.csv")) download { "CSV (every move)" }
            a href=(here.download("/v1/audit")) download="audit.json" { "JSON" }
            a href=(here.download("/v1/audit.xlsx")) download { "XLSX workbook" }
        }
        p.downloads {
            "For a third party: "
            a #evidence-pack href=(here.evidence()) download {
                "evidence pack (ZIP: this audit at the newest signed checkpoint, every cited event with its proof)"
            }
            " — they check it with " code { "muster verify --evidence PACK --public-key KEY" } "."
        }
    }
}

fn strength(here: &Here) -> Markup {
    let a = here.audit;
    let row = |label: &str, change: &ChangeOut| {
        html! {
            tr {
                th { (label) }
                td.num { (change.from) } td.num { (change.to) }
                td.num { (difference(i64::from(change.from), i64::from(change.to))) }
                td.num { @if let Some(p) = change.percent { (p) "%" } }
            }
        }
    };
    let points = |pick: fn(&StrengthOut) -> u32| -> Vec<(Date, u32)> {
        a.strength_series.iter().filter_map(|p| Date::parse(&p.date).ok().map(|d| (d, pick(&p.strength)))).collect()
    };
    let lines = [
        Line { label: "office, posted", class: "office", dashed: false, points: points(|s| s.office_posted) },
        Line { label: "front line, posted", class: "front", dashed: false, points: points(|s| s.front_posted) },
        Line { label: "office, working", class: "office", dashed: true, points: points(|s| s.office_working) },
        Line { label: "front line, working", class: "front", dashed: true, points: points(|s| s.front_working) },
    ];
    let (Ok(from), Ok(to)) = (Date::parse(&a.from), Date::parse(&a.to)) else { return html! {} };
    html! {
        h2 #strength { "Strength on both days" }
        table #strength-table {
            tr { th {} th.num { a href=(here.tree(&a.from)) { (a.from) } } th.num { a href=(here.tree(&a.to)) { (a.to) } } th.num { "Change" } th.num { "%" } }
            (row("Office, posted", &a.office_posted))
            (row("Office, working", &a.office_working))
            (row("Front line, posted", &a.front_posted))
            (row("Front line, working", &a.front_working))
        }
        (chart::step_chart("Office and front-line strength (solid: posted, dashed: working)", from, to, &lines))
    }
}

fn moves_by_cause(here: &Here) -> Markup {
    let r = &here.audit.reconciliation;
    let row = |cause: &str, down: u32, up: u32| {
        html! {
            tr {
                th { (cause) }
                td.num { a href=(here.members(Set::Down, Some(cause))) { (down) } }
                td.num { a href=(here.members(Set::Up, Some(cause))) { (up) } }
            }
        }
    };
    html! {
        h2 #causes { "Moves by cause" }
        table #causes-table {
            tr { th { "Cause" } th.num { "Office → front line" } th.num { "Front line → office" } }
            (row("transferred", r.moved_down_transferred, r.moved_up_transferred))
            (row("restructured", r.moved_down_restructured, r.moved_up_restructured))
            (row("reclassified", r.moved_down_reclassified, r.moved_up_reclassified))
            tr { th { "all" } td.num { a href=(here.members(Set::Down, None)) { (r.moved_down_total()) } } td.num { a href=(here.members(Set::Up, None)) { (r.moved_up_total()) } } }
        }
        p.note { "Reclassified: the unit itself was relabelled front line; nobody moved. Such moves are not counted in the headline." }
    }
}

/// Paper moves and round trips, each member named.
fn named(here: &Here) -> Markup {
    let a = here.audit;
    let list = |staff: &[String]| {
        html! { @for (i, s) in staff.iter().enumerate() { @if i > 0 { ", " } (here.staff(s)) } }
    };
    html! {
        h2 #paper { "Paper moves (" a href=(here.members(Set::Paper, None)) { (a.paper_moves.len()) } ")" }
        @if a.paper_moves.is_empty() { p.muted { "None: everyone moved down works at the front." } }
        @else { p { "Posted to a front-line unit but working in an office on " (a.to) ": " (list(&a.paper_moves)) } }
        h2 #round-trips { "Round trips (" a href=(here.members(Set::RoundTrips, None)) { (a.round_trips.len()) } ")" }
        @if a.round_trips.is_empty() { p.muted { "None." } }
        @else { p { "Moved to the front line and back to an office between the two days: " (list(&a.round_trips)) } }
    }
}

fn reconciliation(here: &Here) -> Markup {
    let r = &here.audit.reconciliation;
    let row = |label: &str, sign: &str, n: u32| html! { tr { td { (label) } td.num { (sign) (n) } } };
    html! {
        h2 #reconciliation { "Reconciliation of office strength" }
        table #reconciliation-table {
            (row(&format!("Office posted on {}", here.audit.from), "", r.office_posted_from))
            (row("joined", "+ ", r.joined))
            (row("left", "− ", r.left))
            (row("came into the scope", "+ ", r.entered_scope))
            (row("left the scope", "− ", r.left_scope))
            (row("moved to the front line", "− ", r.moved_down_total()))
            (row("moved up from the front line", "+ ", r.moved_up_total()))
            tr { th { "Office posted on " (here.audit.to) } th.num { (r.office_posted_to) } }
        }
        p #balances { @if r.balances { "The figures balance." } @else { strong.down { "The figures do not balance: report this." } } }
    }
}

fn subunits(here: &Here) -> Markup {
    let a = here.audit;
    html! {
        h2 #subunits { "Units whose sub-units changed" }
        @if a.subunits.is_empty() { p.muted { "None." } } @else {
            table #subunits-table {
                tr { th { "Unit" } th.num { "Sub-units on " (a.from) } th.num { "on " (a.to) } th.num { "Change" } }
                @for s in &a.subunits {
                    tr { td { (here.unit(&s.unit, Some(&s.name), &a.to)) } td.num { (s.from) } td.num { (s.to) } td.num { (difference(i64::from(s.from), i64::from(s.to))) } }
                }
            }
        }
        @if let Some(parent) = charted_parent(a) {
            (super::unit::subunit_bars(&format!("The sub-units of {parent} on {}, by posted strength with their own sub-units (purple: office, green: front line)", a.from), &a.tree_from, parent, &a.from, here.seq(), here.document))
            (super::unit::subunit_bars(&format!("… and on {}", a.to), &a.tree_to, parent, &a.to, here.seq(), here.document))
        }
    }
}

/// Whose sub-units the charts draw: of the units whose sub-units
/// changed, the one that changed most, the first of equals (NH-HQ's 32 internal units → 9,
/// not a station's squad → 7 community offices: the table lists those);
/// the scope itself when none did.
fn charted_parent(a: &AuditOut) -> Option<&str> {
    let change = |s: &&SubunitChangeOut| i64::from(s.to).abs_diff(i64::from(s.from));
    match a.subunits.iter().rev().max_by_key(change) {
        Some(most) => Some(most.unit.as_str()),
        None => a.tree_from.first().map(|root| root.unit.as_str()),
    }
}

fn quotas(here: &Here) -> Markup {
    let a = here.audit;
    let table = |units: &[UnitQuotaOut], date: &str, id: &str| {
        let with_quota = units.iter().filter(|u| u.quota.is_some()).count();
        let listed: Vec<&UnitQuotaOut> = units.iter().filter(|u| u.over_quota > 0 || u.vacancies > 0).collect();
        html! {
            @if with_quota == 0 { p.muted { "No unit has a quota on " (date) "." } }
            @else if listed.is_empty() { p.muted { "On " (date) " all " (with_quota) " units with a quota are exactly at it." } }
            @else {
                table id=(id) {
                    caption { "On " (date) ": " (listed.len()) " of the " (with_quota) " units with a quota are over it or have vacancies" }
                    tr { th { "Unit" } th { "Category" } th.num { "Quota" } th.num { "Posted" } th.num { "Over quota" } th.num { "Vacancies" } }
                    @for u in listed {
                        tr {
                            td { (here.unit(&u.unit, None, date)) } td { (u.category.replace('_', " ")) }
                            td.num { @if let Some(q) = u.quota { (q) } } td.num { (u.posted) }
                            td.num { @if u.over_quota > 0 { span.badge.over { (u.over_quota) } } @else { "0" } }
                            td.num { (u.vacancies) }
                        }
                    }
                }
            }
        }
    };
    html! {
        h2 #quotas { "Quotas" }
        (table(&a.units_from, &a.from, "quotas-from"))
        (table(&a.units_to, &a.to, "quotas-to"))
    }
}

/// The members behind one of the audit's numbers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    /// Every move from office to front line.
    Down,
    /// … by transfer or restructuring (not reclassification).
    Real,
    /// … of those, working at the front on D2 (the headline).
    AtFront,
    /// … posted down but working in an office.
    Paper,
    /// Every move from front line to office.
    Up,
    /// Members who went down and came back.
    RoundTrips,
}

impl Set {
    const ALL: [Set; 6] = [Set::Down, Set::Real, Set::AtFront, Set::Paper, Set::Up, Set::RoundTrips];

    fn name(self) -> &'static str {
        match self {
            Set::Down => "down",
            Set::Real => "real",
            Set::AtFront => "at_front",
            Set::Paper => "paper",
            Set::Up => "up",
            Set::RoundTrips => "round_trips",
        }
    }

    fn about(self) -> &'static str {
        match self {
            Set::Down => "moved from an office to the front line",
            Set::Real => "moved to the front line by transfer or restructuring",
            Set::AtFront => "moved to the front line and working there",
            Set::Paper => "posted to the front line but working in an office (paper moves)",
            Set::Up => "moved from the front line to an office",
            Set::RoundTrips => "moved down and back up (round trips)",
        }
    }

    /// The moves in this set, as the audit lists them.
    fn moves(self, a: &AuditOut) -> Vec<&MoveOut> {
        let real = |m: &&MoveOut| m.cause != "reclassified";
        match self {
            Set::Down => a.moved_down.iter().collect(),
            Set::Real => a.moved_down.iter().filter(real).collect(),
            Set::AtFront => a.moved_down.iter().filter(real).filter(|m| !m.paper_move).collect(),
            Set::Paper => a.moved_down.iter().filter(|m| m.paper_move).collect(),
            Set::Up => a.moved_up.iter().collect(),
            // Down and back up: in an office on both days, so no move
            // between them; their own histories show the trip.
            Set::RoundTrips => Vec::new(),
        }
    }
}

/// `/audit/members`.
pub fn members(api: &impl Api, pairs: &[(String, String)]) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, MEMBERS_ACCEPTED)?;
    let state = pin(api, &params)?;
    let set_name = params.or("set", "at_front");
    let set = Set::ALL.into_iter().find(|s| s.name() == set_name).ok_or_else(|| {
        let names: Vec<&str> = Set::ALL.iter().map(|s| s.name()).collect();
        ApiError::bad_request(format!("set '{set_name}' is not one of {}", names.join(", ")))
    })?;
    let request = request(&params, state.seq).ok_or_else(|| ApiError::bad_request("from and to are required"))?;
    let audit = api.audit(request)?;
    let here = Here { audit: &audit, seq: state.seq.to_string(), document: false };
    let cause = params.get("cause");
    let moves: Vec<&MoveOut> = set.moves(&audit).into_iter().filter(|m| cause.is_none_or(|c| m.cause == c)).collect();
    let count = if set == Set::RoundTrips { audit.round_trips.len() } else { moves.len() };
    let table = if set == Set::RoundTrips { round_trips_table(api, &here)? } else { moves_table(&here, &moves) };
    let back = link("/audit", &here.pairs());
    let extra =
        html! { input type="hidden" name="set" value=(set.name()); input type="hidden" name="cause" value=[cause]; };
    let body = html! {
        (form(&params, "/audit/members", Some(extra)))
        p { strong #member-count { (count) } " members: " (set.about()) @if let Some(c) = cause { ", cause " em { (c) } } ". " a href=(back) { "Back to the audit" } }
        (table)
    };
    let own: Vec<(&str, &str)> = here
        .pairs()
        .into_iter()
        .filter(|(k, _)| *k != "known_at")
        .chain([("set", set.name()), ("cause", cause.unwrap_or(""))])
        .collect();
    let pinned: Pinned = pinned(&state, "/audit/members", &own);
    Ok(frame(Section::Audit, &format!("{}: {}", title(&audit), set.about()), Some(pinned), body))
}

fn moves_table(here: &Here, moves: &[&MoveOut]) -> Markup {
    let a = here.audit;
    html! {
        table.members-table {
            tr { th { "Staff" } th { "On " (a.from) } th { "On " (a.to) } th { "Cause" } th { "Working on " (a.to) } th { "The events that moved them" } }
            @for m in moves {
                tr data-staff=(m.staff) {
                    td { (here.staff(&m.staff)) }
                    td { (here.unit(&m.from_unit, m.from_unit_name.as_deref(), &a.from)) }
                    td { (here.unit(&m.to_unit, m.to_unit_name.as_deref(), &a.to)) }
                    td { (m.cause) }
                    td { (here.unit(&m.working_on_to, m.working_on_to_name.as_deref(), &a.to)) @if m.paper_move { " " span.badge.over { "paper move" } } }
                    td { ul { @for e in &m.events { li {
                        (super::unit::event_ref(e)) " · recorded " (e.recorded_at)
                        @if !here.document { " · " (crate::layout::prove_link(e.seq)) }
                    } } } }
                }
            }
        }
    }
}

/// Each round-trip member with the events between the audit's two days
/// that took them down and back (their `history`, as the API answers it).
fn round_trips_table(api: &impl Api, here: &Here) -> Result<Markup, ApiError> {
    let a = here.audit;
    let mut rows = Vec::new();
    for staff in &a.round_trips {
        let request = HistoryRequest { staff: staff.clone(), known_at_seq: Some(here.seq()), known_at_time: None };
        let history = api.history(request)?;
        let between: Vec<HistoryEntryOut> = history
            .into_iter()
            .filter(|h| h.date.as_str() > a.from.as_str() && h.date.as_str() <= a.to.as_str())
            .collect();
        rows.push((staff, between));
    }
    Ok(html! {
        table.members-table {
            tr { th { "Staff" } th { "Their events between " (a.from) " and " (a.to) } }
            @for (staff, events) in &rows {
                tr data-staff=(staff) {
                    td { (here.staff(staff)) }
                    td { ul { @for h in events {
                        li {
                            (h.date) " · " (h.event.replace('_', " ")) " → home " (here.unit(&h.home, h.home_name.as_deref(), &h.date))
                            @if h.working != h.home { ", working " (here.unit(&h.working, h.working_name.as_deref(), &h.date)) }
                            @if let Some(o) = &h.order_ref { " · order " span.order lang="zh-Hans" { (o) } }
                            " · entry #" (h.seq)
                        }
                    } } }
                }
            }
        }
    })
}

/// The audit as one self-contained HTML document (the report behind
/// `/v1/audit.html` and `muster audit --html`): the page's figures and
/// charts, then the members of every set with the events that moved
/// them. Its stylesheet is inline; no script, no link out of it.
pub fn document(audit: &AuditOut, state: &StateOut) -> String {
    let here = Here { audit, seq: state.seq.to_string(), document: true };
    let sets = Set::ALL.into_iter().filter(|set| *set != Set::RoundTrips);
    let body = html! {
        (headline(&here))
        (strength(&here))
        (moves_by_cause(&here))
        (named(&here))
        (reconciliation(&here))
        (subunits(&here))
        (quotas(&here))
        @for set in sets {
            @let moves = set.moves(audit);
            section id={"members-" (set.name())} {
                h2 { "Members " (set.about()) " (" (moves.len()) ")" }
                @if moves.is_empty() { p.muted { "None." } } @else { (moves_table(&here, &moves)) }
            }
        }
        section id="members-round_trips" { h2 { "Round trips" } p { "Listed above; each member's timeline in the workbench shows the trip." } }
    };
    crate::layout::document(&title(audit), state, &here.download("/v1/audit"), body).into_string()
}
