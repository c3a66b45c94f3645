//! The pure core of Muster: the staffing timeline.
//!
//! Events (units established, merged, split…; staff joined, transferred,
//! seconded…) are validated against the whole timeline with the event
//! inserted at its place — [`Timeline::decide`] — and recorded —
//! [`Timeline::apply`]. Queries answer for any day, as the ledger knew it
//! at any sequence (`known_at`), without replaying the log.
//!
//! **Invariant:** no IO, no clock, no randomness, no iteration over hash
//! maps in results: the same events in the same order give the same
//! answers, byte for byte.
//!
//! ```
//! use muster_domain::{Category, Date, Event, Timeline, UnitId};
//! let mut timeline = Timeline::new();
//! let d = |s| Date::parse(s).unwrap();
//! let office = Event::UnitEstablished { unit: "HQ".into(), name: "Office".into(),
//!     category: Category::Office, parent: None, quota: None };
//! let decision = timeline.decide(1, d("2013-01-01"), &office).unwrap();
//! timeline.apply(decision);
//! let join = Event::StaffJoined { staff: "S1".into(), unit: "HQ".into() };
//! let decision = timeline.decide(2, d("2013-02-01"), &join).unwrap();
//! timeline.apply(decision);
//! assert_eq!(timeline.headcount(&UnitId::from("HQ"), d("2013-01-31"), None, false).posted, 0);
//! assert_eq!(timeline.headcount(&UnitId::from("HQ"), d("2013-02-01"), None, false).posted, 1);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod audit;
mod corrections;
mod counts;
mod date;
mod decide;
mod event;
#[cfg(test)]
mod given;
mod history;
mod parallel;
mod queries;
mod query;
mod reason;
mod timeline;

pub use audit::{Audit, Move, MoveCause, Reconciliation, Strength, SubunitChange, UnitQuota};
pub use date::{Date, DateError};
pub use event::{Allocation, Category, Event, EventKind, MergeTarget, NewUnit, Seq, StaffId, UnitId};
pub use history::{Pos, SEQ_MAX};
pub use query::{
    CorrectedUnit, CorrectionEvent, Corrections, Headcount, HistoryEntry, LineageEdge, RosterEntry, SeriesPoint,
    TreeNode, UnitCounts, UnitEvent, UnitStatus,
};
pub use reason::{ReasonCode, Rejection};
pub use timeline::{Decision, Timeline};
