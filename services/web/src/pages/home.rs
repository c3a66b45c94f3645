//! `/`: where an auditor starts: find a unit or a staff member, and the
//! questions the workbench answers, each a link to where it is answered.

use crate::layout::{self, frame, pinned, staff_link, unit_link, Section};
use crate::params::{link, pin, Params};
use crate::{Api, ApiError};
use maud::{html, Markup};
use muster_proto::answers::TreeNodeOut;
use muster_proto::requests::{HistoryRequest, LineageRequest, TreeRequest};

const ACCEPTED: &[&str] = &["find", "known_at"];

/// Names matching a search, at most this many (the rest: narrow it).
const MATCHES_SHOWN: usize = 50;

/// The page.
pub fn page(api: &impl Api, pairs: &[(String, String)]) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, ACCEPTED)?;
    let state = pin(api, &params)?;
    let today = layout::today();
    let found = match params.get("find") {
        Some(text) => Some(find(api, text, &today, state.seq)?),
        None => None,
    };
    let body = html! {
        @if let Some(found) = found { (found) }
        h2 { "What you can answer here" }
        ul.questions {
            li { a href=(link("/org", &[("date", &today)])) { "Headcount of every unit on a day" } ", posted (by home unit) and working (where people actually work), alone or with its sub-units, as the tree stood that day. Step the day, search the tree, open a unit." }
            li { "A unit's headcount over time, its roster, and " strong { "where a former unit went" } ": open the unit (search it above) and see its lineage through mergers and splits." }
            li { a href="/audit" { "The front-line audit" } " between two days: who really moved to the front line, who moved only on paper, who came back, each traced to the order behind it. Download it as HTML, CSV, JSON or XLSX." }
            li { a href="/corrections" { "What the ledger said then vs now" } ": a day's figures as reported at an earlier point, as corrected since, and the late orders and retractions that explain the difference. Every page also takes a \"Known at\"." }
            li { "Who changed what, under which order, recorded when: every unit's events and every staff member's timeline list source, id, order number, effective date, entry number and recording time." }
            li { a href="/ledger" { "The ledger" } ": this copy's status, the hash chain re-walked, and the signed checkpoints that let a third party check it." }
        }
    };
    Ok(frame(Section::Home, "The staffing ledger", Some(pinned(&state, "/", &[])), body))
}

/// Units and staff matching `text`: an exact id (as known at the pinned
/// state), else units active today whose id or name contains it.
fn find(api: &impl Api, text: &str, today: &str, seq: u64) -> Result<Markup, ApiError> {
    let k = Some(seq);
    let unit = api.lineage(LineageRequest { unit: text.to_owned(), known_at_seq: k, known_at_time: None }).is_ok();
    let staff = api.history(HistoryRequest { staff: text.to_owned(), known_at_seq: k, known_at_time: None }).is_ok();
    let tree = api.tree(TreeRequest { date: today.to_owned(), known_at_seq: k, known_at_time: None })?;
    let needle = text.to_lowercase();
    let named: Vec<&TreeNodeOut> = tree
        .iter()
        .filter(|n| {
            n.unit != text && (n.unit.to_lowercase().contains(&needle) || n.name.to_lowercase().contains(&needle))
        })
        .collect();
    Ok(html! {
        section #found aria-label="Search results" {
            h2 { "Found for “" (text) "”" }
            ul {
                @if unit { li { "Unit " (unit_link(text, None, today, seq)) } }
                @if staff { li { "Staff member " (staff_link(text, seq)) } }
                @for n in named.iter().take(MATCHES_SHOWN) { li { "Unit " (unit_link(&n.unit, Some(&n.name), today, seq)) } }
            }
            @if named.len() > MATCHES_SHOWN { p.note { (named.len() - MATCHES_SHOWN) " more units match: narrow the search." } }
            @if !unit && !staff && named.is_empty() {
                p #not-found { "No unit or staff member is called “" (text) "”, and no unit active on " (today) " has it in its name." }
            }
        }
    })
}
