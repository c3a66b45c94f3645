//! Answers to the point-in-time queries. Every list is in a fixed order,
//! so the same ledger always gives the same bytes.

use crate::{Category, Date, EventKind, Seq, StaffId, UnitId};

/// Where a unit stands on the day asked about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UnitStatus {
    /// Established on or before the day and not closed on or before it.
    Active,
    /// Established, but only after the day.
    NotYetEstablished,
    /// Closed (merged, split or dissolved) on or before the day.
    Closed {
        /// The closing day; the unit is not active on it.
        on: Date,
    },
    /// No accepted event (as known then) ever established this id.
    Unknown,
}

impl UnitStatus {
    /// A stable snake_case name for outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitStatus::Active => "active",
            UnitStatus::NotYetEstablished => "not_yet_established",
            UnitStatus::Closed { .. } => "closed",
            UnitStatus::Unknown => "unknown",
        }
    }
}

/// Headcount of one unit on one day.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Headcount {
    /// The unit asked about.
    pub unit: UnitId,
    /// The day asked about.
    pub date: Date,
    /// Whether the unit was active that day.
    pub status: UnitStatus,
    /// Whether the counts include every unit below it that day.
    pub rolled_up: bool,
    /// Staff active that day whose home unit is this one (or below it).
    pub posted: u32,
    /// Staff active that day working here (or below): seconded in, or
    /// posted here and not seconded away.
    pub working: u32,
}

/// One active unit in the tree on a day.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TreeNode {
    /// The unit.
    pub unit: UnitId,
    /// Its name that day (shared text, like the ids).
    pub name: std::sync::Arc<str>,
    /// Its category that day.
    pub category: Category,
    /// Its parent that day.
    pub parent: Option<UnitId>,
    /// Its quota that day.
    pub quota: Option<u32>,
    /// 0 for a root.
    pub depth: u32,
    /// Posted at this unit itself.
    pub posted: u32,
    /// Working at this unit itself.
    pub working: u32,
    /// Posted at this unit and every unit below it.
    pub rolled_posted: u32,
    /// Working at this unit and every unit below it.
    pub rolled_working: u32,
}

/// A staff member posted at or working in a unit on a day.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RosterEntry {
    /// The staff member.
    pub staff: StaffId,
    /// Their home unit that day.
    pub home: UnitId,
    /// Where they work that day (the host while seconded).
    pub working: UnitId,
    /// The last day of their secondment, if seconded with an end.
    pub seconded_until: Option<Date>,
}

/// One event in a staff member's history, with where they stood after it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HistoryEntry {
    /// The event's ledger sequence.
    pub seq: Seq,
    /// Its effective date.
    pub date: Date,
    /// What it was.
    pub kind: EventKind,
    /// Whether the staff member was active after it.
    pub active: bool,
    /// Home unit after it.
    pub home: UnitId,
    /// Working unit after it (on its effective date).
    pub working: UnitId,
}

/// One edge of a unit's lineage: `from` went (wholly or partly) into `to`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct LineageEdge {
    /// The effective date of the merger or split.
    pub date: Date,
    /// Its ledger sequence.
    pub seq: Seq,
    /// [`EventKind::UnitsMerged`] or [`EventKind::UnitSplit`].
    pub kind: EventKind,
    /// A source unit.
    pub from: UnitId,
    /// The target or a part.
    pub to: UnitId,
}

/// A point of a headcount series: the counts from this day on, until the
/// next point.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SeriesPoint {
    /// The first day these counts hold.
    pub date: Date,
    /// The unit's status that day.
    pub status: UnitStatus,
    /// Posted (rolled up if asked).
    pub posted: u32,
    /// Working (rolled up if asked).
    pub working: u32,
    /// The unit's own quota that day (never summed over sub-units: a
    /// rolled-up series still shows the unit's own), if it has one and is
    /// active.
    pub quota: Option<u32>,
}

/// One event that touched a unit ([`crate::Timeline::unit_events`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UnitEvent {
    /// Its ledger sequence.
    pub seq: Seq,
    /// Its effective date (a retraction's own).
    pub date: Date,
    /// The retraction that undid it, when that is known at the question's
    /// point.
    pub retracted_by: Option<Seq>,
}

/// Own and rolled-up counts of a unit on a day.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct UnitCounts {
    pub posted: u32,
    pub working: u32,
    pub rolled_posted: u32,
    pub rolled_working: u32,
}

/// One unit of a corrected scope ([`crate::Timeline::corrections`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CorrectedUnit {
    /// The unit.
    pub unit: UnitId,
    /// Its name on the day, as corrected (else as reported).
    pub name: std::sync::Arc<str>,
    /// Depth below the scope, as corrected (else as reported).
    pub depth: u32,
    /// Its counts as reported; none when it was not in the scope then.
    pub reported: Option<UnitCounts>,
    /// Its counts as corrected; none likewise.
    pub corrected: Option<UnitCounts>,
    /// The events (of [`Corrections::events`]) that changed its own counts
    /// on the day or its place in the scope, in sequence order.
    pub explained_by: Vec<Seq>,
}

/// One event recorded between the two points that changed the day.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CorrectionEvent {
    /// Its ledger sequence.
    pub seq: Seq,
    /// For a retraction: the event it undid.
    pub retracts: Option<Seq>,
    /// The scope's units whose own counts on the day or place in the scope
    /// it changed, in the order of [`Corrections::units`].
    pub units: Vec<UnitId>,
}

/// A scope on a day as reported (at one sequence) and as corrected (at a
/// later one), with the events recorded in between.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Corrections {
    /// Every unit of the scope at either point: depth-first as corrected,
    /// then those only reported.
    pub units: Vec<CorrectedUnit>,
    /// The events, in sequence order.
    pub events: Vec<CorrectionEvent>,
}
