//! `/unit/{id}`: a unit's headcount series, its roster on a day, its
//! lineage through mergers and splits, and every event that touched it.

use super::known_at_field;
use crate::chart::{self, Bar, Edge, Line, Node};
use crate::layout::{self, date_control, frame, pinned, staff_link, unit_link, Section};
use crate::params::{link, pin, segment, Params};
use crate::{Api, ApiError};
use maud::{html, Markup};
use muster_domain::Date;
use muster_proto::answers::*;
use muster_proto::requests::*;

const ACCEPTED: &[&str] = &["date", "from", "to", "rollup", "known_at"];

/// Everything the page shows, asked of the API at one ledger state.
struct Answers {
    own: HeadcountOut,
    rolled: HeadcountOut,
    node: Option<TreeNodeOut>,
    series: Vec<SeriesPointOut>,
    roster: Vec<RosterEntryOut>,
    lineage: Vec<LineageEdgeOut>,
    events: Vec<UnitEventOut>,
}

/// The page.
pub fn page(api: &impl Api, unit: &str, pairs: &[(String, String)]) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, ACCEPTED)?;
    let state = pin(api, &params)?;
    let k = Some(state.seq);
    let date = params.or("date", &layout::today());
    let rollup = params.flag("rollup")?;
    let headcount = |rollup| HeadcountRequest {
        unit: unit.to_owned(),
        date: date.clone(),
        rollup,
        known_at_seq: k,
        known_at_time: None,
    };
    let own = api.headcount(headcount(false))?;
    let events = api.unit_events(UnitEventsRequest { unit: unit.to_owned(), known_at_seq: k, known_at_time: None })?;
    let (from, to) = range(&params, &date, &events)?;
    let series = SeriesRequest {
        unit: unit.to_owned(),
        from: from.clone(),
        to: to.clone(),
        rollup,
        known_at_seq: k,
        known_at_time: None,
    };
    let answers = Answers {
        rolled: api.headcount(headcount(true))?,
        node: api
            .tree(TreeRequest { date: date.clone(), known_at_seq: k, known_at_time: None })?
            .into_iter()
            .find(|n| n.unit == unit),
        series: api.series(series)?,
        roster: api.roster(RosterRequest {
            unit: unit.to_owned(),
            date: date.clone(),
            known_at_seq: k,
            known_at_time: None,
        })?,
        lineage: api.lineage(LineageRequest { unit: unit.to_owned(), known_at_seq: k, known_at_time: None })?,
        own,
        events,
    };
    let day = layout::day(&date)?;
    let (from_day, to_day) = (layout::day(&from)?, layout::day(&to)?);
    let rollup_text = if rollup { "true" } else { "" };
    let own_pairs = [("date", date.as_str()), ("from", from.as_str()), ("to", to.as_str()), ("rollup", rollup_text)];
    let path = format!("/unit/{}", segment(unit));
    let seq = state.seq.to_string();
    let body = html! {
        form.controls method="get" action=(path) aria-label="Day and range" {
            (date_control(&path, "date", "Day", day, &[("from", &from), ("to", &to), ("rollup", rollup_text), ("known_at", &seq)]))
            label { "Series from" input type="date" name="from" value=(from); }
            label { "to" input type="date" name="to" value=(to); }
            label { "Roll up sub-units" input type="checkbox" name="rollup" value="true" checked[rollup]; }
            (known_at_field(params.get("known_at")))
            button type="submit" { "Show" }
        }
        (summary(unit, &answers, &date, state.seq))
        h2 #series { "Headcount " (from) " → " (to) @if rollup { " (rolled up)" } }
        (series_chart(&answers, from_day, to_day))
        h2 #roster { "Roster on " (date) " (" (answers.roster.len()) ")" }
        (roster(&answers.roster, unit, &date, state.seq))
        h2 #lineage { "Lineage: mergers and splits" }
        (lineage(unit, &answers.lineage, &date, state.seq))
        h2 #events { "Every event that touched " code { (unit) } " (" (answers.events.len()) ")" }
        (event_table(&answers.events))
    };
    let title = match &answers.node {
        Some(node) => format!("{} {unit}", node.name),
        None => format!("Unit {unit}"),
    };
    Ok(frame(Section::Organisation, &title, Some(pinned(&state, &path, &own_pairs)), body))
}

/// The series' range: as asked, else from the unit's first event to its
/// last (and the page's day), so the whole life of the unit shows.
fn range(params: &Params, date: &str, events: &[UnitEventOut]) -> Result<(String, String), ApiError> {
    let first = events.iter().map(|e| e.event.effective_date.as_str()).min().unwrap_or(date).min(date);
    let last = events.iter().map(|e| e.event.effective_date.as_str()).max().unwrap_or(date).max(date);
    let from = params.or("from", first);
    let mut to = params.or("to", last);
    if params.get("to").is_none() && to <= from {
        // A unit whose every event is on one day: show a year from it.
        to = crate::dates::step(layout::day(&from)?, crate::dates::Step::Years(1)).map_or(to, |d| d.to_string());
    }
    Ok((from, to))
}

fn summary(unit: &str, a: &Answers, date: &str, seq: u64) -> Markup {
    html! {
        div.figures {
            div.figure { div.value #posted data-value=(a.own.posted) { (a.own.posted) } div.label { "posted on " (date) } }
            div.figure { div.value #working data-value=(a.own.working) { (a.own.working) } div.label { "working on " (date) } }
            div.figure { div.value #rolled-posted data-value=(a.rolled.posted) { (a.rolled.posted) } div.label { "posted with sub-units" } }
            div.figure { div.value #rolled-working data-value=(a.rolled.working) { (a.rolled.working) } div.label { "working with sub-units" } }
        }
        p #unit-status {
            @match &a.node {
                Some(n) => {
                    span.badge.(n.category) { (n.category.replace('_', " ")) }
                    " Quota " @if let Some(q) = n.quota { strong { (q) } } @else { "none" }
                    @if let Some(parent) = &n.parent { " · under " (unit_link(parent, None, date, seq)) }
                    " · " a href=(link("/org", &[("date", date), ("under", unit), ("known_at", &seq.to_string())])) { "its subtree on this day" }
                }
                None => {
                    "On " (date) " " code { (unit) } " is " strong { (a.own.status.status.replace('_', " ")) }
                    @if let Some(on) = &a.own.status.closed_on { " (closed on " (on) ")" } "."
                }
            }
        }
    }
}

fn series_chart(a: &Answers, from: Date, to: Date) -> Markup {
    let points = |pick: fn(&SeriesPointOut) -> u32| {
        a.series.iter().filter_map(|p| Date::parse(&p.date).ok().map(|d| (d, pick(p)))).collect::<Vec<_>>()
    };
    let mut lines = vec![
        Line { label: "posted", class: "posted", dashed: false, points: points(|p| p.posted) },
        Line { label: "working", class: "working", dashed: true, points: points(|p| p.working) },
    ];
    // The quota where the unit has one: a point per stretch with a quota
    // (the line breaks where it has none).
    if a.series.iter().any(|p| p.quota.is_some()) {
        let quota = a.series.iter().filter_map(|p| Some((Date::parse(&p.date).ok()?, p.quota?))).collect();
        lines.push(Line { label: "quota (own)", class: "quota", dashed: true, points: quota });
    }
    html! {
        (chart::step_chart("Posted and working headcount", from, to, &lines))
        table.series {
            caption { "Every day the counts changed" }
            tr { th { "From" } th { "Status" } th.num { "Posted" } th.num { "Working" } th.num { "Quota (own)" } }
            @for p in &a.series {
                tr {
                    td.date { (p.date) } td { (p.status.status.replace('_', " ")) } td.num { (p.posted) } td.num { (p.working) }
                    td.num { @if let Some(q) = p.quota { (q) } @else { "–" } }
                }
            }
        }
    }
}

fn roster(roster: &[RosterEntryOut], unit: &str, date: &str, seq: u64) -> Markup {
    if roster.is_empty() {
        return html! { p.muted { "Nobody is posted or working here on " (date) "." } };
    }
    html! {
        table #roster-table {
            tr { th { "Staff" } th { "Home (posted)" } th { "Working" } th { "Since" } }
            @for r in roster {
                tr {
                    td { (staff_link(&r.staff, seq)) }
                    td { (unit_link(&r.home, r.home_name.as_deref(), date, seq)) @if r.home != unit { " " span.badge.seconded { "seconded in" } } }
                    td {
                        (unit_link(&r.working, r.working_name.as_deref(), date, seq))
                        @if r.working != r.home { " " span.badge.seconded { "on secondment" @if let Some(u) = &r.seconded_until { " until " (u) } } }
                    }
                    td { @if let Some(e) = &r.since { (event_ref(e)) } }
                }
            }
        }
    }
}

/// An event in one line: date, type, order, source and id, seq.
pub fn event_ref(e: &EventRefOut) -> Markup {
    html! {
        span.event data-seq=(e.seq) {
            (e.effective_date) " · " (e.event_type.trim_start_matches("org.muster.").trim_end_matches(".v1"))
            @if let Some(order) = &e.order_ref { " · order " span.order lang="zh-Hans" { (order) } }
            " · " code { (e.source) "/" (e.id) } " · entry #" (e.seq)
        }
    }
}

fn lineage(unit: &str, edges: &[LineageEdgeOut], date: &str, seq: u64) -> Markup {
    if edges.is_empty() {
        return html! { p.muted { "No merger or split involves this unit." } };
    }
    let mut nodes: Vec<Node> = Vec::new();
    let index = |id: &str, nodes: &mut Vec<Node>| match nodes.iter().position(|n| n.unit == id) {
        Some(i) => i,
        None => {
            let href = link(&format!("/unit/{}", segment(id)), &[("known_at", &seq.to_string())]);
            nodes.push(Node { unit: id.to_owned(), href, current: id == unit });
            nodes.len() - 1
        }
    };
    let drawn: Vec<Edge> = edges
        .iter()
        .map(|e| Edge {
            from: index(&e.from, &mut nodes),
            to: index(&e.to, &mut nodes),
            label: format!("{} → {}: {} on {} (entry #{})", e.from, e.to, e.event.replace('_', " "), e.date, e.seq),
        })
        .collect();
    html! {
        (chart::lineage("Units it came from and went into (left to right in time)", &nodes, &drawn))
        table #lineage-table {
            tr { th { "Date" } th { "Event" } th { "From" } th { "Into" } th.num { "Entry" } }
            @for e in edges {
                tr { td.date { (e.date) } td { (e.event.replace('_', " ")) } td { (unit_link(&e.from, None, date, seq)) } td { (unit_link(&e.to, None, date, seq)) } td.num { "#" (e.seq) } }
            }
        }
    }
}

fn event_table(events: &[UnitEventOut]) -> Markup {
    html! {
        table #events-table {
            tr { th { "Effective" } th { "What" } th { "Order" } th { "Source / id" } th.num { "Entry" } th { "Recorded" } }
            @for e in events {
                tr id={"event-" (e.event.seq)} class=[e.retracted_by.map(|_| "muted")] {
                    td.date { (e.event.effective_date) }
                    td { (e.summary) @if let Some(by) = e.retracted_by { " " span.badge.retracted { "retracted by entry #" (by) } } }
                    td lang="zh-Hans" { @if let Some(o) = &e.event.order_ref { (o) } }
                    td { code { (e.event.source) "/" (e.event.id) } }
                    td.num { "#" (e.event.seq) " " (crate::layout::prove_link(e.event.seq)) }
                    td { (e.event.recorded_at) }
                }
            }
        }
    }
}

/// Direct sub-units of the first node as labelled bars of their rolled
/// posted strength (the audit's before/after picture); each links to the
/// unit's page, or in a `document` to nothing outside it.
pub fn subunit_bars(caption: &str, tree: &[TreeNodeOut], parent: &str, date: &str, seq: u64, document: bool) -> Markup {
    let rows: Vec<Bar> = tree
        .iter()
        .filter(|n| n.parent.as_deref() == Some(parent))
        .map(|n| Bar {
            label: format!("{} {}", n.name, n.unit),
            value: n.rolled_posted,
            class: n.category.clone(),
            href: if document {
                "#subunits".to_owned()
            } else {
                link(&format!("/unit/{}", segment(&n.unit)), &[("date", date), ("known_at", &seq.to_string())])
            },
            title: format!(
                "{} ({}), {}: {} posted, {} working (with sub-units){}",
                n.name,
                n.unit,
                n.category.replace('_', " "),
                n.rolled_posted,
                n.rolled_working,
                n.quota.map(|q| format!(", quota {q}")).unwrap_or_default()
            ),
        })
        .collect();
    chart::bars(caption, &rows)
}
