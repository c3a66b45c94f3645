//! The audit's documents that are not pages: every move as CSV
//! (`moves_csv`), the whole audit as a workbook an auditor can filter
//! (`audit_xlsx`), and the one-line reconciliation the terminal and the
//! workbook print. The HTML report is the workbench's (`muster_web`), so
//! that the report and the page an auditor browses are one rendering.
//!
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use muster_proto::answers::{AuditOut, EventRefOut, ReconciliationOut};
use std::fmt::Write;

mod xlsx;
pub use xlsx::audit_xlsx;

/// Why a document could not be written.
#[derive(Debug)]
pub struct ReportError(pub String);

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportError {}

/// `org.muster.staff.transferred.v1` as `staff transferred`.
pub fn event_kind(event_type: &str) -> String {
    let short = event_type.strip_prefix("org.muster.").unwrap_or(event_type);
    let short = short.rsplit_once(".v").map_or(short, |(kind, _)| kind);
    short.replace('.', " ")
}

/// The arithmetic of the change in posted office strength as one line a
/// reader can check, for the terminal and the report alike.
pub fn reconciliation_line(r: &ReconciliationOut) -> String {
    format!(
        "{} → {} = {} + {} joined − {} left + {} entered the scope − {} left it + {} moved up \
         ({} transferred, {} restructured, {} relabelled) − {} moved down ({} transferred, {} restructured, \
         {} relabelled): {}",
        r.office_posted_from,
        r.office_posted_to,
        r.office_posted_from,
        r.joined,
        r.left,
        r.entered_scope,
        r.left_scope,
        r.moved_up_total(),
        r.moved_up_transferred,
        r.moved_up_restructured,
        r.moved_up_reclassified,
        r.moved_down_total(),
        r.moved_down_transferred,
        r.moved_down_restructured,
        r.moved_down_reclassified,
        if r.balances { "balances" } else { "DOES NOT BALANCE" }
    )
}

/// Every move, down then up, as CSV (RFC 4180), one row a move:
/// direction, staff, from_unit, to_unit, cause, working_on_to, paper_move,
/// then the units' names and the events behind the move (several joined
/// with `; `, in timeline order): their seqs, sources, ids, types,
/// effective dates, order references and recorded times.
pub fn moves_csv(a: &AuditOut) -> String {
    let cell = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut out = String::from(
        "direction,staff,from_unit,to_unit,cause,working_on_to,paper_move,from_unit_name,to_unit_name,\
         working_on_to_name,event_seqs,event_sources,event_ids,event_types,effective_dates,order_refs,recorded_at\n",
    );
    for (direction, moves) in [("down", &a.moved_down), ("up", &a.moved_up)] {
        for m in moves {
            let events =
                |field: fn(&EventRefOut) -> String| cell(&m.events.iter().map(field).collect::<Vec<_>>().join("; "));
            let _ = writeln!(
                out,
                "{direction},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                cell(&m.staff),
                cell(&m.from_unit),
                cell(&m.to_unit),
                cell(&m.cause),
                cell(&m.working_on_to),
                m.paper_move,
                cell(m.from_unit_name.as_deref().unwrap_or_default()),
                cell(m.to_unit_name.as_deref().unwrap_or_default()),
                cell(m.working_on_to_name.as_deref().unwrap_or_default()),
                events(|e| e.seq.to_string()),
                events(|e| e.source.clone()),
                events(|e| e.id.clone()),
                events(|e| e.event_type.clone()),
                events(|e| e.effective_date.clone()),
                events(|e| e.order_ref.clone().unwrap_or_default()),
                events(|e| e.recorded_at.clone()),
            );
        }
    }
    out
}
