//! `/corrections`: a scope on a day as the ledger reported it at one
//! point and as corrected at a later one, with the late-keyed events and
//! retractions recorded in between that explain every difference.

use super::{difference, known_at_field};
use crate::layout::{self, frame, pinned, unit_link, Section};
use crate::params::{known_at, link, pin, Params};
use crate::{Api, ApiError};
use maud::{html, Markup};
use muster_proto::answers::{CorrectedUnitOut, CorrectionsOut, CountsOut};
use muster_proto::requests::CorrectionsRequest;

const ACCEPTED: &[&str] = &["unit", "date", "reported_at", "known_at"];

/// The form, and the comparison once it is filled in.
pub fn page(api: &impl Api, pairs: &[(String, String)]) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, ACCEPTED)?;
    let state = pin(api, &params)?;
    let form = form(&params);
    let (Some(unit), Some(date), Some(reported)) = (params.get("unit"), params.get("date"), params.get("reported_at"))
    else {
        let body = html! {
            (form)
            p { "What did the ledger say then, and what does it say now? Give a unit (its subtree is compared), a day, and the earlier point (an entry number or a time) the figures were reported at." }
        };
        return Ok(frame(
            Section::Corrections,
            "Reported vs corrected",
            Some(pinned(&state, "/corrections", &[])),
            body,
        ));
    };
    let (reported_at_seq, reported_at_time) = known_at(Some(reported))?;
    let request = CorrectionsRequest {
        unit: unit.to_owned(),
        date: date.to_owned(),
        reported_at_seq,
        reported_at_time,
        known_at_seq: Some(state.seq),
        known_at_time: None,
    };
    let answer = api.corrections(request)?;
    let body = html! {
        (form)
        (points(&answer))
        (units(&answer, state.seq))
        (events(&answer))
    };
    let own = [("unit", unit), ("date", date), ("reported_at", reported)];
    let title = format!(
        "{unit} on {date}: as reported at #{} vs as corrected at #{}",
        answer.reported.seq, answer.corrected.seq
    );
    Ok(frame(Section::Corrections, &title, Some(pinned(&state, "/corrections", &own)), body))
}

fn form(params: &Params) -> Markup {
    html! {
        form.controls method="get" action="/corrections" aria-label="Compare" {
            label { "Unit (its subtree)" input type="text" name="unit" value=[params.get("unit")] size="10" required; }
            label { "Day" input type="date" name="date" value=[params.get("date").map(str::to_owned).or_else(|| Some(layout::today()))] required; }
            label { "As reported at (entry # or time)" input type="text" name="reported_at" value=[params.get("reported_at")] size="24" required; }
            (known_at_field(params.get("known_at")))
            button type="submit" { "Compare" }
        }
    }
}

fn points(a: &CorrectionsOut) -> Markup {
    let point = |label: &str, s: &muster_proto::answers::StateOut| {
        html! {
            div.figure {
                div.label { (label) }
                div.value { "#" (s.seq) }
                div.label { @if let Some(at) = &s.recorded_at { "recorded " (at) } br; code title=(s.hash) { (s.hash.get(..16).unwrap_or(&s.hash)) "…" } }
            }
        }
    };
    let changed = a.units.iter().filter(|u| u.reported != u.corrected).count();
    html! {
        div.figures {
            (point("As reported: the ledger at", &a.reported))
            (point("As corrected: the ledger at", &a.corrected))
        }
        p #corrections-summary {
            strong { (changed) } " of " (a.units.len()) " units differ on " (a.date) "; "
            strong { (a.events.len()) } " events recorded in between explain it."
        }
    }
}

fn counts(c: Option<&CountsOut>, pick: fn(&CountsOut) -> u32) -> Markup {
    match c {
        Some(c) => html! { (pick(c)) },
        None => html! { span.muted title="not in the scope on that day at that point" { "–" } },
    }
}

fn units(a: &CorrectionsOut, seq: u64) -> Markup {
    let value = |c: Option<&CountsOut>, pick: fn(&CountsOut) -> u32| c.map_or(0, pick);
    html! {
        h2 { "Headcounts on " (a.date) }
        table #corrections-table {
            tr {
                th { "Unit" }
                th.num { "Posted, reported" } th.num { "Posted, corrected" } th.num { "Change" }
                th.num { "Working, reported" } th.num { "Working, corrected" }
                th.num { "Posted ∑, reported" } th.num { "Posted ∑, corrected" }
                th { "Explained by" }
            }
            @for u in &a.units {
                @let (r, c) = (u.reported.as_ref(), u.corrected.as_ref());
                tr.changed[r != c] data-unit=(u.unit) {
                    td style={"padding-left: " (8 + 16 * u.depth) "px"} { (unit_link(&u.unit, Some(&u.name), &a.date, seq)) }
                    td.num.reported-posted { (counts(r, |c| c.posted)) }
                    td.num.corrected-posted { (counts(c, |c| c.posted)) }
                    td.num { (difference(i64::from(value(r, |c| c.posted)), i64::from(value(c, |c| c.posted)))) }
                    td.num { (counts(r, |c| c.working)) } td.num { (counts(c, |c| c.working)) }
                    td.num { (counts(r, |c| c.rolled_posted)) } td.num { (counts(c, |c| c.rolled_posted)) }
                    td { (explained(u)) }
                }
            }
        }
    }
}

fn explained(u: &CorrectedUnitOut) -> Markup {
    html! { @for (i, seq) in u.explained_by.iter().enumerate() { @if i > 0 { ", " } a href={"#event-" (seq)} { "#" (seq) } } }
}

fn events(a: &CorrectionsOut) -> Markup {
    html! {
        h2 { "Recorded between #" (a.reported.seq) " and #" (a.corrected.seq) }
        @if a.events.is_empty() { p.muted { "No event recorded in between changes this day in this scope." } } @else {
            table #correction-events {
                tr { th.num { "Entry" } th { "Recorded" } th { "Effective" } th { "What" } th { "Order" } th { "Source / id" } th { "Units" } }
                @for e in &a.events {
                    tr id={"event-" (e.event.seq)} {
                        td.num { "#" (e.event.seq) }
                        td { (e.event.recorded_at) }
                        td.date { (e.event.effective_date) }
                        td {
                            (e.summary)
                            @if let Some(t) = &e.retracts { br; span.badge.retracted { "retracts #" (t.seq) } " " (t.effective_date) " " code { (t.source) "/" (t.id) } }
                        }
                        td.order lang="zh-Hans" { @if let Some(o) = &e.event.order_ref { (o) } }
                        td { code { (e.event.source) "/" (e.event.id) } }
                        td { (e.units.join(", ")) }
                    }
                }
            }
        }
        p.note { "A look at any page as the ledger knew it earlier: give its \"Known at\". " a href=(link("/corrections", &[])) { "Start over" } }
    }
}
