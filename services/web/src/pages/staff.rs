//! `/staff/{id}`: a staff member's history as a timeline of home and
//! working units, with the event behind every step.

use super::known_at_field;
use crate::chart::{self, Stretch};
use crate::layout::{frame, pinned, unit_link, Section};
use crate::params::{pin, segment, Params};
use crate::{Api, ApiError};
use maud::{html, Markup};
use muster_domain::Date;
use muster_proto::answers::HistoryEntryOut;
use muster_proto::requests::HistoryRequest;

const ACCEPTED: &[&str] = &["known_at"];

/// The page.
pub fn page(api: &impl Api, staff: &str, pairs: &[(String, String)]) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, ACCEPTED)?;
    let state = pin(api, &params)?;
    let history =
        api.history(HistoryRequest { staff: staff.to_owned(), known_at_seq: Some(state.seq), known_at_time: None })?;
    let path = format!("/staff/{}", segment(staff));
    let body = html! {
        form.controls method="get" action=(path) aria-label="Ledger state" {
            (known_at_field(params.get("known_at")))
            button type="submit" { "Show" }
        }
        (timeline(&history))
        h2 { "Every event behind it (" (history.len()) ")" }
        (table(&history, state.seq))
    };
    Ok(frame(Section::Staff, &format!("Staff member {staff}"), Some(pinned(&state, &path, &[])), body))
}

/// Home and working units over time: each stretch from one event to the
/// next, the last to today (or to leaving).
fn timeline(history: &[HistoryEntryOut]) -> Markup {
    let days: Vec<Date> = history.iter().filter_map(|h| Date::parse(&h.date).ok()).collect();
    let (Some(first), Some(last)) = (days.first().copied(), days.last().copied()) else {
        return html! {};
    };
    let active_now = history.last().is_some_and(|h| h.active);
    let end = if active_now { crate::dates::today().max(last) } else { last };
    let end = if end <= first { crate::dates::step(first, crate::dates::Step::Years(1)).unwrap_or(end) } else { end };
    let stretches = |pick: fn(&HistoryEntryOut) -> (&str, Option<&str>)| -> Vec<Stretch> {
        let mut out = Vec::new();
        for (i, h) in history.iter().enumerate() {
            if !h.active {
                continue;
            }
            let from = days[i];
            let to = days.get(i + 1).copied().unwrap_or(end);
            let (unit, name) = pick(h);
            out.push(Stretch {
                from,
                to,
                unit: unit.to_owned(),
                href: format!("#event-{}", h.seq),
                title: format!(
                    "{} {unit} from {from}: {} (entry #{})",
                    name.unwrap_or(""),
                    h.event.replace('_', " "),
                    h.seq
                ),
            });
        }
        out
    };
    let home = stretches(|h| (&h.home, h.home_name.as_deref()));
    let working = stretches(|h| (&h.working, h.working_name.as_deref()));
    chart::timeline(
        "Home unit (posted) and working unit over time; each stretch links to the event that began it",
        first,
        end,
        &home,
        &working,
    )
}

fn table(history: &[HistoryEntryOut], seq: u64) -> Markup {
    html! {
        table #history-table {
            tr { th { "Effective" } th { "Event" } th { "Order" } th { "Source / id" } th.num { "Entry" } th { "Recorded" } th { "Home after" } th { "Working after" } }
            @for h in history {
                tr id={"event-" (h.seq)} {
                    td.date { (h.date) }
                    td { (h.event.replace('_', " ")) @if !h.active { " " span.badge { "not active" } } }
                    td.order lang="zh-Hans" { @if let Some(o) = &h.order_ref { (o) } }
                    td { @if let (Some(s), Some(i)) = (&h.source, &h.id) { code { (s) "/" (i) } } }
                    td.num { "#" (h.seq) " " (crate::layout::prove_link(h.seq)) }
                    td { @if let Some(r) = &h.recorded_at { (r) } }
                    td { (unit_link(&h.home, h.home_name.as_deref(), &h.date, seq)) }
                    td {
                        (unit_link(&h.working, h.working_name.as_deref(), &h.date, seq))
                        @if h.working != h.home { " " span.badge.seconded { "seconded" } }
                    }
                }
            }
        }
    }
}
