//! Query answers as they leave Muster (CLI JSON/CSV now, NATS and HTTP
//! later): the domain's answer types, made serializable at this edge.

use crate::entry::{Receipt, ReceiptStatus};
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
            name: n.name.clone(),
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

/// One staff member on a roster.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct RosterEntryOut {
    pub staff: String,
    pub home: String,
    pub working: String,
    pub seconded_until: Option<String>,
}

impl From<&d::RosterEntry> for RosterEntryOut {
    fn from(r: &d::RosterEntry) -> RosterEntryOut {
        RosterEntryOut {
            staff: r.staff.to_string(),
            home: r.home.to_string(),
            working: r.working.to_string(),
            seconded_until: r.seconded_until.map(|u| u.to_string()),
        }
    }
}

/// One event of a staff member's history.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct HistoryEntryOut {
    pub seq: u64,
    pub date: String,
    pub event: String,
    pub active: bool,
    pub home: String,
    pub working: String,
}

impl From<&d::HistoryEntry> for HistoryEntryOut {
    fn from(h: &d::HistoryEntry) -> HistoryEntryOut {
        HistoryEntryOut {
            seq: h.seq,
            date: h.date.to_string(),
            event: h.kind.as_str().to_owned(),
            active: h.active,
            home: h.home.to_string(),
            working: h.working.to_string(),
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
}

impl From<&d::SeriesPoint> for SeriesPointOut {
    fn from(p: &d::SeriesPoint) -> SeriesPointOut {
        SeriesPointOut { date: p.date.to_string(), status: p.status.into(), posted: p.posted, working: p.working }
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
    /// The ledger's head after the import.
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
