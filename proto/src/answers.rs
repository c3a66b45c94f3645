//! Query answers as they leave Muster (CLI JSON/CSV now, NATS and HTTP
//! later): the domain's answer types, made serializable at this edge.

use crate::entry::{Receipt, ReceiptStatus, StoredEntry, Submission};
use muster_domain as d;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a unit stood on the day asked about.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct StatusOut {
    /// `active`, `not_yet_established`, `closed` or `unknown`.
    pub status: String,
    /// For `closed`: the closing day.
    pub closed_on: Option<String>,
}

impl From<d::UnitStatus> for StatusOut {
    fn from(status: d::UnitStatus) -> StatusOut {
        let closed_on = match status {
            d::UnitStatus::Closed { on } => Some(on.to_string()),
            _ => None,
        };
        StatusOut { status: status.as_str().to_owned(), closed_on }
    }
}

/// Headcount of a unit on a day.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct HeadcountOut {
    pub unit: String,
    pub date: String,
    pub known_at_seq: Option<u64>,
    #[serde(flatten)]
    pub status: StatusOut,
    pub rolled_up: bool,
    pub posted: u32,
    pub working: u32,
}

impl HeadcountOut {
    /// From the domain's answer.
    pub fn new(h: &d::Headcount, known_at_seq: Option<u64>) -> HeadcountOut {
        HeadcountOut {
            unit: h.unit.to_string(),
            date: h.date.to_string(),
            known_at_seq,
            status: h.status.into(),
            rolled_up: h.rolled_up,
            posted: h.posted,
            working: h.working,
        }
    }
}

/// One unit of the tree.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct TreeNodeOut {
    pub unit: String,
    pub name: String,
    pub category: String,
    pub parent: Option<String>,
    pub depth: u32,
    pub quota: Option<u32>,
    pub posted: u32,
    pub working: u32,
    pub rolled_posted: u32,
    pub rolled_working: u32,
}

impl From<&d::TreeNode> for TreeNodeOut {
    fn from(n: &d::TreeNode) -> TreeNodeOut {
        TreeNodeOut {
            unit: n.unit.to_string(),
            name: n.name.to_string(),
            category: n.category.as_str().to_owned(),
            parent: n.parent.as_ref().map(|p| p.to_string()),
            depth: n.depth,
            quota: n.quota,
            posted: n.posted,
            working: n.working,
            rolled_posted: n.rolled_posted,
            rolled_working: n.rolled_working,
        }
    }
}

/// An event an answer rests on: enough to find the order behind it in
/// the HR system (source, id, order reference) and in the ledger (seq,
/// recorded time).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct EventRefOut {
    /// Its ledger sequence.
    pub seq: u64,
    /// The HR system that sent it.
    pub source: String,
    /// Its id there.
    pub id: String,
    /// Its CloudEvents type, e.g. `org.muster.staff.transferred.v1`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The day it took effect.
    pub effective_date: String,
    /// The order or decision it carries out, e.g. `南湖公〔2015〕44号`.
    pub order_ref: Option<String>,
    /// When the ledger recorded it (RFC 3339, UTC).
    pub recorded_at: String,
}

impl EventRefOut {
    /// The reference of a recorded event (`None` for a payload that did
    /// not decode: no answer rests on one).
    pub fn of(entry: &StoredEntry) -> Option<EventRefOut> {
        let Submission::Event(envelope) = &entry.body.submission else { return None };
        Some(EventRefOut {
            seq: entry.body.seq,
            source: envelope.source.clone(),
            id: envelope.id.clone(),
            event_type: envelope.body.type_name().to_owned(),
            effective_date: envelope.effective_date.0.to_string(),
            order_ref: envelope.order_ref.clone(),
            recorded_at: utc_ms_text(entry.body.recorded_at_ms),
        })
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds
/// (`2016-01-05T08:00:00.123Z`).
pub fn utc_ms_text(ms: u64) -> String {
    const DAY_MS: u64 = 86_400_000;
    // 1900-01-01 (day 0 of `Date`) to 1970-01-01.
    const EPOCH_DAY: u64 = 25_567;
    let (days, rest) = (ms / DAY_MS, ms % DAY_MS);
    let Some(date) = u32::try_from(days + EPOCH_DAY).ok().and_then(|n| d::Date::from_day_number(n).ok()) else {
        return format!("{ms} ms after 1970");
    };
    let (h, m, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{date}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// What answers name beside the domain's ids: the events behind them (read
/// from the ledger beforehand, by seq) and units' names (from the timeline,
/// as known at the answer's `known_at`).
pub struct Trace<'a> {
    /// The timeline answered from.
    pub timeline: &'a d::Timeline,
    /// The answer's `known_at`.
    pub known_at: Option<u64>,
    /// The events the answer names.
    pub events: BTreeMap<u64, EventRefOut>,
}

impl Trace<'_> {
    fn event(&self, seq: u64) -> Option<EventRefOut> {
        self.events.get(&seq).cloned()
    }

    fn name(&self, unit: &d::UnitId, date: d::Date) -> Option<String> {
        self.timeline.unit_name_on(unit, date, self.known_at).map(str::to_owned)
    }
}

/// One staff member on a roster.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct RosterEntryOut {
    pub staff: String,
    pub home: String,
    pub home_name: Option<String>,
    pub working: String,
    pub working_name: Option<String>,
    pub seconded_until: Option<String>,
    /// The event that put them where they are that day.
    pub since: Option<EventRefOut>,
}

impl RosterEntryOut {
    /// A roster line on `date`, with the names and the event behind it.
    pub fn new(r: &d::RosterEntry, date: d::Date, trace: &Trace) -> RosterEntryOut {
        RosterEntryOut {
            staff: r.staff.to_string(),
            home: r.home.to_string(),
            home_name: trace.name(&r.home, date),
            working: r.working.to_string(),
            working_name: trace.name(&r.working, date),
            seconded_until: r.seconded_until.map(|u| u.to_string()),
            since: trace.timeline.staff_since(&r.staff, date, trace.known_at).and_then(|seq| trace.event(seq)),
        }
    }
}

/// One event of a staff member's history: the event, traceable to its
/// order, and where they stood after it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct HistoryEntryOut {
    pub seq: u64,
    pub date: String,
    pub event: String,
    pub source: Option<String>,
    pub id: Option<String>,
    pub order_ref: Option<String>,
    pub recorded_at: Option<String>,
    pub active: bool,
    pub home: String,
    pub home_name: Option<String>,
    pub working: String,
    pub working_name: Option<String>,
}

impl HistoryEntryOut {
    /// A history line, with the event's references and the units' names
    /// on its effective date.
    pub fn new(h: &d::HistoryEntry, trace: &Trace) -> HistoryEntryOut {
        let event = trace.event(h.seq);
        HistoryEntryOut {
            seq: h.seq,
            date: h.date.to_string(),
            event: h.kind.as_str().to_owned(),
            source: event.as_ref().map(|e| e.source.clone()),
            id: event.as_ref().map(|e| e.id.clone()),
            order_ref: event.as_ref().and_then(|e| e.order_ref.clone()),
            recorded_at: event.map(|e| e.recorded_at),
            active: h.active,
            home: h.home.to_string(),
            home_name: trace.name(&h.home, h.date),
            working: h.working.to_string(),
            working_name: trace.name(&h.working, h.date),
        }
    }
}

/// One lineage edge.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct LineageEdgeOut {
    pub date: String,
    pub seq: u64,
    pub event: String,
    pub from: String,
    pub to: String,
}

impl From<&d::LineageEdge> for LineageEdgeOut {
    fn from(e: &d::LineageEdge) -> LineageEdgeOut {
        LineageEdgeOut {
            date: e.date.to_string(),
            seq: e.seq,
            event: e.kind.as_str().to_owned(),
            from: e.from.to_string(),
            to: e.to.to_string(),
        }
    }
}

/// One point of a headcount series.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct SeriesPointOut {
    pub date: String,
    #[serde(flatten)]
    pub status: StatusOut,
    pub posted: u32,
    pub working: u32,
    /// The unit's own quota that day, if any (not summed when rolled up).
    pub quota: Option<u32>,
}

impl From<&d::SeriesPoint> for SeriesPointOut {
    fn from(p: &d::SeriesPoint) -> SeriesPointOut {
        SeriesPointOut {
            date: p.date.to_string(),
            status: p.status.into(),
            posted: p.posted,
            working: p.working,
            quota: p.quota,
        }
    }
}

/// What an import did.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
pub struct ImportSummary {
    /// Events read.
    pub submitted: u64,
    /// Accepted.
    pub accepted: u64,
    /// Rejected (recorded or not).
    pub rejected: u64,
    /// Already recorded with the same content.
    pub duplicates: u64,
    /// Rejected without a usable id: nothing could be recorded.
    pub unrecorded: u64,
    /// Rejections by reason code.
    pub rejected_by_code: BTreeMap<String, u64>,
    /// The ledger's head after a local import; for `muster-publish`, the
    /// highest seq among its receipts (the head as far as it saw).
    pub head_seq: u64,
    /// Its hash, hex.
    pub head_hash: String,
}

impl ImportSummary {
    /// Counts one receipt.
    pub fn count(&mut self, receipt: &Receipt) {
        self.submitted += 1;
        if receipt.duplicate {
            self.duplicates += 1;
            return;
        }
        match receipt.status {
            ReceiptStatus::Accepted => self.accepted += 1,
            ReceiptStatus::Rejected => {
                self.rejected += 1;
                if receipt.seq.is_none() {
                    self.unrecorded += 1;
                }
                *self.rejected_by_code.entry(receipt.code.clone().unwrap_or_default()).or_default() += 1;
            }
        }
    }
}

/// Office and front-line strength on one day.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct StrengthOut {
    pub office_posted: u32,
    pub office_working: u32,
    pub front_posted: u32,
    pub front_working: u32,
}

impl From<d::Strength> for StrengthOut {
    fn from(s: d::Strength) -> StrengthOut {
        StrengthOut {
            office_posted: s.office_posted,
            office_working: s.office_working,
            front_posted: s.front_posted,
            front_working: s.front_working,
        }
    }
}

/// One figure on both days, with its change.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct ChangeOut {
    /// On D1.
    pub from: u32,
    /// On D2.
    pub to: u32,
    /// to − from.
    pub change: i64,
    /// 100 × change / from, one decimal (None when from is 0).
    pub percent: Option<f64>,
}

impl ChangeOut {
    /// The change from `from` to `to`.
    pub fn new(from: u32, to: u32) -> ChangeOut {
        let change = i64::from(to) - i64::from(from);
        ChangeOut { from, to, change, percent: percent_of(change as f64, from) }
    }
}

/// 100 × part / whole, one decimal; None when whole is 0. The one
/// rounding of every share an answer states (and an evidence pack's
/// checker recomputes).
pub fn percent_of(part: f64, whole: u32) -> Option<f64> {
    (whole > 0).then(|| (1000.0 * part / f64::from(whole)).round() / 10.0)
}

/// A unit whose number of direct sub-units changed.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct SubunitChangeOut {
    pub unit: String,
    pub name: String,
    pub from: u32,
    pub to: u32,
}

/// One member whose home changed category, with the units' names and the
/// events behind the move.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct MoveOut {
    pub staff: String,
    pub from_unit: String,
    /// Its name on D1.
    pub from_unit_name: Option<String>,
    pub to_unit: String,
    /// Its name on D2.
    pub to_unit_name: Option<String>,
    /// `transferred`, `restructured` or `reclassified`.
    pub cause: String,
    pub working_on_to: String,
    pub working_on_to_name: Option<String>,
    pub paper_move: bool,
    /// The events behind it, in timeline order ([`d::Move::events`]).
    pub events: Vec<EventRefOut>,
}

impl MoveOut {
    /// A move between `from` and `to`, traced.
    pub fn new(m: &d::Move, (from, to): (d::Date, d::Date), trace: &Trace) -> MoveOut {
        MoveOut {
            staff: m.staff.to_string(),
            from_unit: m.from_unit.to_string(),
            from_unit_name: trace.name(&m.from_unit, from),
            to_unit: m.to_unit.to_string(),
            to_unit_name: trace.name(&m.to_unit, to),
            cause: m.cause.as_str().to_owned(),
            working_on_to: m.working_on_to.to_string(),
            working_on_to_name: trace.name(&m.working_on_to, to),
            paper_move: m.paper_move,
            events: m.events.iter().filter_map(|seq| trace.event(*seq)).collect(),
        }
    }
}

/// One unit's establishment on a day.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct UnitQuotaOut {
    pub unit: String,
    pub category: String,
    pub quota: Option<u32>,
    pub posted: u32,
    pub over_quota: u32,
    pub vacancies: u32,
}

impl From<&d::UnitQuota> for UnitQuotaOut {
    fn from(u: &d::UnitQuota) -> UnitQuotaOut {
        UnitQuotaOut {
            unit: u.unit.to_string(),
            category: u.category.as_str().to_owned(),
            quota: u.quota,
            posted: u.posted,
            over_quota: u.over_quota,
            vacancies: u.vacancies,
        }
    }
}

/// The arithmetic of the change in posted office strength.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct ReconciliationOut {
    pub office_posted_from: u32,
    pub office_posted_to: u32,
    pub joined: u32,
    pub left: u32,
    pub entered_scope: u32,
    pub left_scope: u32,
    pub moved_down_transferred: u32,
    pub moved_down_restructured: u32,
    pub moved_down_reclassified: u32,
    pub moved_up_transferred: u32,
    pub moved_up_restructured: u32,
    pub moved_up_reclassified: u32,
    /// Whether to − from = joined − left + entered − left_scope + up − down.
    pub balances: bool,
}

impl ReconciliationOut {
    /// Everyone moved up, relabelled units included.
    pub fn moved_up_total(&self) -> u32 {
        self.moved_up_transferred + self.moved_up_restructured + self.moved_up_reclassified
    }

    /// Everyone moved down, relabelled units included.
    pub fn moved_down_total(&self) -> u32 {
        self.moved_down_transferred + self.moved_down_restructured + self.moved_down_reclassified
    }

    /// Whether these figures satisfy the domain's identity
    /// ([`d::Reconciliation::balances`]), recomputed rather than taken
    /// from `balances`: for a checker holding only the answer.
    pub fn holds(&self) -> bool {
        d::Reconciliation {
            office_posted_from: self.office_posted_from,
            office_posted_to: self.office_posted_to,
            joined: self.joined,
            left: self.left,
            entered_scope: self.entered_scope,
            left_scope: self.left_scope,
            moved_down_transferred: self.moved_down_transferred,
            moved_down_restructured: self.moved_down_restructured,
            moved_down_reclassified: self.moved_down_reclassified,
            moved_up_transferred: self.moved_up_transferred,
            moved_up_restructured: self.moved_up_restructured,
            moved_up_reclassified: self.moved_up_reclassified,
        }
        .balances()
    }
}

impl From<d::Reconciliation> for ReconciliationOut {
    fn from(r: d::Reconciliation) -> ReconciliationOut {
        ReconciliationOut {
            office_posted_from: r.office_posted_from,
            office_posted_to: r.office_posted_to,
            joined: r.joined,
            left: r.left,
            entered_scope: r.entered_scope,
            left_scope: r.left_scope,
            moved_down_transferred: r.moved_down_transferred,
            moved_down_restructured: r.moved_down_restructured,
            moved_down_reclassified: r.moved_down_reclassified,
            moved_up_transferred: r.moved_up_transferred,
            moved_up_restructured: r.moved_up_restructured,
            moved_up_reclassified: r.moved_up_reclassified,
            balances: r.balances(),
        }
    }
}

/// The front-line audit between two days.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[allow(missing_docs)]
pub struct AuditOut {
    pub from: String,
    pub to: String,
    pub scope: Option<String>,
    pub known_at_seq: Option<u64>,
    pub strength_from: StrengthOut,
    pub strength_to: StrengthOut,
    pub office_posted: ChangeOut,
    pub office_working: ChangeOut,
    pub front_posted: ChangeOut,
    pub front_working: ChangeOut,
    /// Moved down, not counting relabelled units.
    pub moved_down_real: u32,
    /// Of those, working at the front line on D2 (paper moves left out):
    /// the figure a "one third of the office moved down" claim is about.
    pub moved_down_at_front: u32,
    /// `moved_down_at_front` as a percentage of office posted strength on
    /// D1, one decimal (None when that was 0).
    pub moved_down_share: Option<f64>,
    pub moved_down: Vec<MoveOut>,
    pub moved_up: Vec<MoveOut>,
    pub paper_moves: Vec<String>,
    pub round_trips: Vec<String>,
    pub units_from: Vec<UnitQuotaOut>,
    pub units_to: Vec<UnitQuotaOut>,
    /// Units whose number of direct sub-units changed (e.g. 32 → 9).
    pub subunits: Vec<SubunitChangeOut>,
    pub reconciliation: ReconciliationOut,
    /// Strength on D1, the first of every month between, and D2: for the
    /// report's chart.
    pub strength_series: Vec<StrengthPointOut>,
    /// The tree (in scope) on D1 and on D2, for the report.
    pub tree_from: Vec<TreeNodeOut>,
    pub tree_to: Vec<TreeNodeOut>,
}

/// Strength on one day.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct StrengthPointOut {
    /// The day.
    pub date: String,
    /// The strength.
    pub strength: StrengthOut,
}

impl AuditOut {
    /// From the domain's audit, the strength series and the trees; its
    /// moves traced with `trace` (which holds the events of
    /// [`d::Move::events`]).
    pub fn new(
        a: &d::Audit,
        trace: &Trace,
        series: &[(d::Date, d::Strength)],
        tree_from: &[d::TreeNode],
        tree_to: &[d::TreeNode],
    ) -> AuditOut {
        let known_at_seq = trace.known_at;
        let traced = |m: &d::Move| MoveOut::new(m, (a.from, a.to), trace);
        let (f, t) = (a.strength_from, a.strength_to);
        let real = a.moved_down.iter().filter(|m| m.cause != d::MoveCause::Reclassified).count() as u32;
        let at_front = a.moved_down.iter().filter(|m| m.cause != d::MoveCause::Reclassified && !m.paper_move).count();
        AuditOut {
            from: a.from.to_string(),
            to: a.to.to_string(),
            scope: a.scope.as_ref().map(|s| s.to_string()),
            known_at_seq,
            strength_from: f.into(),
            strength_to: t.into(),
            office_posted: ChangeOut::new(f.office_posted, t.office_posted),
            office_working: ChangeOut::new(f.office_working, t.office_working),
            front_posted: ChangeOut::new(f.front_posted, t.front_posted),
            front_working: ChangeOut::new(f.front_working, t.front_working),
            moved_down_real: real,
            moved_down_at_front: at_front as u32,
            moved_down_share: percent_of(at_front as f64, f.office_posted),
            moved_down: a.moved_down.iter().map(traced).collect(),
            moved_up: a.moved_up.iter().map(traced).collect(),
            paper_moves: a.moved_down.iter().filter(|m| m.paper_move).map(|m| m.staff.to_string()).collect(),
            round_trips: a.round_trips.iter().map(|s| s.to_string()).collect(),
            units_from: a.units_from.iter().map(Into::into).collect(),
            units_to: a.units_to.iter().map(Into::into).collect(),
            subunits: a
                .subunits
                .iter()
                .map(|c| SubunitChangeOut { unit: c.unit.to_string(), name: c.name.clone(), from: c.from, to: c.to })
                .collect(),
            reconciliation: a.reconciliation.into(),
            strength_series: series
                .iter()
                .map(|(date, strength)| StrengthPointOut { date: date.to_string(), strength: (*strength).into() })
                .collect(),
            tree_from: tree_from.iter().map(Into::into).collect(),
            tree_to: tree_to.iter().map(Into::into).collect(),
        }
    }
}

/// `state`: one point of the ledger, the one an answer was computed
/// from. Every workbench page shows it and pins its questions to `seq`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct StateOut {
    /// The last entry counted (0: an empty ledger).
    pub seq: u64,
    /// That entry's chain hash, hex (empty for 0).
    pub hash: String,
    /// When that entry was committed (none for 0).
    pub recorded_at: Option<String>,
    /// The answering replica's head when asked: `seq < head_seq` is a
    /// look back at what the ledger said earlier.
    pub head_seq: u64,
}

/// With `"proof": true` in a request (`proof=true` over HTTP): the state
/// an answer was computed at, with the Merkle root of the ledger's tree of
/// `seq` entries. A checkpoint of the same size signs the same root; one
/// of another size is tied to it by a consistency proof.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct ProvenStateOut {
    /// The ledger point.
    #[serde(flatten)]
    pub state: StateOut,
    /// The tree's size: `seq`.
    pub tree_size: u64,
    /// Its Merkle root, hex.
    pub root: String,
}

/// With `"proof": true`: the answer (what the endpoint answers without
/// it) and the state it was computed at.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct ProvenOut<T> {
    /// The answer.
    pub answer: T,
    /// …
    pub state: ProvenStateOut,
}

/// `unit_events`: one event that touched a unit.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct UnitEventOut {
    /// The event and its order.
    #[serde(flatten)]
    pub event: EventRefOut,
    /// What it did, in words (`PJ00396 transferred PJ-TR1 → PJ-TR2`).
    pub summary: String,
    /// The sequence of the retraction that undid it, when that is known
    /// at the query's point.
    pub retracted_by: Option<u64>,
}

/// Own and rolled-up counts of a unit on a day.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct CountsOut {
    pub posted: u32,
    pub working: u32,
    pub rolled_posted: u32,
    pub rolled_working: u32,
}

impl From<d::UnitCounts> for CountsOut {
    fn from(c: d::UnitCounts) -> CountsOut {
        CountsOut {
            posted: c.posted,
            working: c.working,
            rolled_posted: c.rolled_posted,
            rolled_working: c.rolled_working,
        }
    }
}

/// `corrections`: one unit of the scope, as reported and as corrected.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct CorrectedUnitOut {
    /// Unit id.
    pub unit: String,
    /// Its name on the day, as corrected (else as reported).
    pub name: String,
    /// Depth below the scope (0: the scope).
    pub depth: u32,
    /// Its counts as reported; none when it was not in the scope on the
    /// day as the ledger knew it then.
    pub reported: Option<CountsOut>,
    /// Its counts as corrected; none likewise.
    pub corrected: Option<CountsOut>,
    /// The sequences (of [`CorrectionsOut::events`]) that changed its own
    /// counts or its place in the scope.
    pub explained_by: Vec<u64>,
}

impl From<&d::CorrectedUnit> for CorrectedUnitOut {
    fn from(u: &d::CorrectedUnit) -> CorrectedUnitOut {
        CorrectedUnitOut {
            unit: u.unit.to_string(),
            name: u.name.to_string(),
            depth: u.depth,
            reported: u.reported.map(Into::into),
            corrected: u.corrected.map(Into::into),
            explained_by: u.explained_by.clone(),
        }
    }
}

/// `corrections`: an event recorded between the two points that changed
/// the day's picture: a late-keyed event effective on or before the day,
/// or a retraction of one.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct CorrectionEventOut {
    /// The event and its order.
    #[serde(flatten)]
    pub event: EventRefOut,
    /// What it did, in words.
    pub summary: String,
    /// For a retraction: the event it undid.
    pub retracts: Option<EventRefOut>,
    /// The units of the scope whose own counts or place it changed.
    pub units: Vec<String>,
}

/// `corrections`: a scope on a day as reported and as corrected.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct CorrectionsOut {
    /// The scope.
    pub unit: String,
    /// The day.
    pub date: String,
    /// The earlier point ("as reported").
    pub reported: StateOut,
    /// The later point ("as corrected").
    pub corrected: StateOut,
    /// Every unit in the scope on the day at either point, depth-first
    /// as corrected, then those only reported.
    pub units: Vec<CorrectedUnitOut>,
    /// The events that explain the differences, in sequence order.
    pub events: Vec<CorrectionEventOut>,
}

/// [`CheckpointOut::format`] of a C2SP checkpoint (a signed note that
/// commits to the Merkle tree) …
pub const CHECKPOINT_FORMAT_NOTE: &str = "c2sp-note";
/// … and of the first format (JSON, the chain head alone).
pub const CHECKPOINT_FORMAT_JSON: &str = "json-v1";

/// `checkpoints`: one signed checkpoint, checked by the replica.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct CheckpointOut {
    /// `c2sp-note` (a tlog checkpoint in a signed note, committing to the
    /// Merkle tree) or `json-v1` (the first format: the chain head alone).
    pub format: String,
    /// The chain head it signs: sequence (the tree size) …
    pub seq: u64,
    /// … and hash, hex.
    pub head_hash: String,
    /// When the head was committed.
    pub recorded_at: String,
    /// The log it names (`muster/<prefix>`; none in `json-v1`).
    pub origin: Option<String>,
    /// The Merkle root at `seq`, hex (none in `json-v1`).
    pub root: Option<String>,
    /// The signing key, hex: the one the checkpoint (json-v1) or its
    /// publisher (c2sp-note) names; empty when none is named.
    pub public_key: String,
    /// The ed25519 signature, hex.
    pub signature: String,
    /// Whether the signature verifies against `public_key`.
    pub signature_ok: bool,
    /// Whether this replica's entry `seq` has the same hash, and its tree
    /// at `seq` the same root; none when it has not applied `seq` yet.
    pub matches_replica: Option<bool>,
    /// The checkpoint exactly as published (a signed note's text with its
    /// signature lines, or the JSON): what to hand to a third party.
    pub published: String,
}

/// An entry's inclusion in the ledger's Merkle tree (RFC 9162): leaf
/// `seq - 1`, whose data is the entry's chain hash. Verify with the RFC's
/// algorithm: `hashes` lead from `leaf_hash` to `root`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct InclusionProofOut {
    /// The entry.
    pub seq: u64,
    /// The event it recorded.
    pub source: String,
    /// …
    pub id: String,
    /// The entry's chain hash (the leaf's data), hex.
    pub entry_hash: String,
    /// SHA-256(0x00 ‖ chain hash), hex.
    pub leaf_hash: String,
    /// The tree the proof is for.
    pub tree_size: u64,
    /// Its root, hex.
    pub root: String,
    /// The audit path, bottom up, hex.
    pub hashes: Vec<String>,
}

/// That the tree of `from_size` entries is a prefix of the tree of
/// `to_size` (RFC 9162 consistency proof).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct ConsistencyProofOut {
    /// The older tree's size …
    pub from_size: u64,
    /// … and root, hex.
    pub from_root: String,
    /// The newer tree's size …
    pub to_size: u64,
    /// … and root, hex.
    pub to_root: String,
    /// The proof, hex.
    pub hashes: Vec<String>,
}

/// `evidence_entries`: the entries asked for, in the order asked, each
/// proven in the tree of `tree_size`. It may stop before the last one
/// asked (`limits::EVIDENCE_ANSWER_BYTES_MAX`): ask again for the rest.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct EvidenceEntriesOut {
    /// The tree …
    pub tree_size: u64,
    /// … and its root, hex.
    pub root: String,
    /// The entries.
    pub entries: Vec<ProvenEntryOut>,
}

/// One entry with what proves it, checked with nothing but SHA-256:
/// `hash` of the `entry` line = SHA-256(`prev_hash` ‖ its body's canonical
/// bytes); leaf `seq - 1` = SHA-256(0x00 ‖ that hash); `hashes` lead from
/// the leaf to the root (RFC 9162).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct ProvenEntryOut {
    /// The entry's sequence.
    pub seq: u64,
    /// The chain hash of entry `seq - 1`, hex (zeros for the first).
    pub prev_hash: String,
    /// The entry as a line of `muster export` (without its newline).
    pub entry: String,
    /// Its audit path in the tree, bottom up, hex.
    pub hashes: Vec<String>,
}
