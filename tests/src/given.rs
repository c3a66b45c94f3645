//! Test support: a real ledger in a temporary directory, and builders for
//! events in their wire form, so tests read like the domain:
//!
//! ```
//! use muster_domain::ReasonCode;
//! use muster_tests::given::*;
//! let mut ledger = TestLedger::new();
//! ledger.given(&[("2015-01-01", unit("U1", OFFICE, None)), ("2015-01-01", join("S1", "U1"))]);
//! ledger.when("2015-02-01", transfer("S1", "U1", "U9")).then_rejected(ReasonCode::UnitUnknown);
//! ```
use muster_domain::{Date, ReasonCode, UnitId};
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_proto::wire::*;

/// The office category, as sent.
pub const OFFICE: WireCategory = WireCategory::Office;
/// The front-line category, as sent.
pub const FRONT: WireCategory = WireCategory::FrontLine;
/// The source every test event comes from.
pub const SOURCE: &str = "hr/test";

/// A day written as `YYYY-MM-DD`.
pub fn date(text: &str) -> Date {
    Date::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// A ledger on disk in a temporary directory, with a fake clock that
/// advances one second per batch.
pub struct TestLedger {
    /// Where the ledger is.
    pub dir: tempfile::TempDir,
    /// The ledger.
    pub ledger: Ledger,
    next_id: u64,
    clock_ms: u64,
}

/// What the ledger said about one submission, and what it changed.
pub struct When<'a> {
    /// The ledger it was submitted to.
    pub ledger: &'a mut TestLedger,
    /// The receipt it got.
    pub receipt: Receipt,
    before: String,
}

impl Default for TestLedger {
    fn default() -> TestLedger {
        TestLedger::new()
    }
}

impl TestLedger {
    /// An empty ledger in a new temporary directory.
    pub fn new() -> TestLedger {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = Ledger::open(&LedgerConfig::new(dir.path().join("ledger"))).expect("open ledger");
        TestLedger { dir, ledger, next_id: 0, clock_ms: 1_400_000_000_000 }
    }

    /// Closes and reopens the ledger from disk.
    pub fn reopen(&mut self) {
        self.reopen_with(|| {});
    }

    /// Closes the ledger, runs `meanwhile` (on its directory, say), and
    /// reopens it.
    pub fn reopen_with(&mut self, meanwhile: impl FnOnce()) {
        self.close_with(meanwhile);
        self.ledger = crate::open_ledger(&self.dir.path().join("ledger"));
    }

    /// Closes the ledger (an empty one stands in for it) and runs
    /// `meanwhile`.
    pub fn close_with(&mut self, meanwhile: impl FnOnce()) {
        let placeholder = tempfile::tempdir().expect("temp dir");
        let old =
            std::mem::replace(&mut self.ledger, Ledger::open(&LedgerConfig::new(placeholder.path())).expect("open"));
        drop(old);
        meanwhile();
    }

    /// An event on `day` under the next id.
    pub fn envelope(&mut self, day: &str, body: EventBody) -> Envelope {
        self.next_id += 1;
        Envelope {
            id: format!("e{}", self.next_id),
            source: SOURCE.into(),
            effective_date: WireDate(date(day)),
            order_ref: None,
            note: None,
            body,
        }
    }

    /// Submits one batch; its receipts.
    pub fn submit_all(&mut self, incoming: Vec<Incoming>) -> Vec<Receipt> {
        self.clock_ms += 1000;
        self.ledger.submit_batch(incoming, self.clock_ms).expect("ledger commit")
    }

    /// Submits one event; its receipt.
    pub fn submit(&mut self, day: &str, body: EventBody) -> Receipt {
        let envelope = self.envelope(day, body);
        self.submit_all(vec![Incoming::Decoded(envelope)]).remove(0)
    }

    /// Submits events that must all be accepted.
    pub fn given(&mut self, events: &[(&str, EventBody)]) -> &mut TestLedger {
        for (day, body) in events {
            let receipt = self.submit(day, body.clone());
            assert_eq!(
                receipt.status,
                ReceiptStatus::Accepted,
                "given event {body:?} on {day} was rejected: {receipt:?}"
            );
        }
        self
    }

    /// Submits one event, remembering what the timeline said before.
    pub fn when(&mut self, day: &str, body: EventBody) -> When<'_> {
        let before = self.snapshot();
        let receipt = self.submit(day, body);
        When { ledger: self, receipt, before }
    }

    /// [`TestLedger::when`] of a submission as it arrived.
    pub fn when_raw(&mut self, incoming: Incoming) -> When<'_> {
        let before = self.snapshot();
        let receipt = self.submit_all(vec![incoming]).remove(0);
        When { ledger: self, receipt, before }
    }

    /// Everything the timeline answers over the test window, to show that
    /// a rejected event changed nothing.
    pub fn snapshot(&self) -> String {
        let timeline = self.ledger.timeline();
        let mut text = String::new();
        for day in ["2014-12-31", "2015-01-01", "2015-01-15", "2015-02-01", "2015-03-01", "2015-06-01", "2016-01-01"] {
            text += &format!("{day}: {:?}\n", timeline.tree(date(day), None));
        }
        text
    }

    /// (posted, working) of a unit on a day.
    pub fn headcount(&self, unit: &str, day: &str) -> (u32, u32) {
        let h = self.ledger.timeline().headcount(&UnitId::from(unit), date(day), None, false);
        (h.posted, h.working)
    }

    /// (posted, working) of a unit and everything below it on a day.
    pub fn rolled(&self, unit: &str, day: &str) -> (u32, u32) {
        let h = self.ledger.timeline().headcount(&UnitId::from(unit), date(day), None, true);
        (h.posted, h.working)
    }

    /// The id of the last event submitted.
    pub fn last_id(&self) -> String {
        format!("e{}", self.next_id)
    }
}

impl When<'_> {
    /// Accepted; its receipt.
    pub fn then_accepted(self) -> Receipt {
        assert_eq!(self.receipt.status, ReceiptStatus::Accepted, "expected acceptance, got {:?}", self.receipt);
        self.receipt
    }

    /// Rejected with `code`, recorded, and nothing else changed.
    pub fn then_rejected(self, code: ReasonCode) -> Receipt {
        assert_eq!(self.receipt.status, ReceiptStatus::Rejected, "expected {code}, got {:?}", self.receipt);
        assert_eq!(self.receipt.code.as_deref(), Some(code.as_str()), "wrong code: {:?}", self.receipt);
        assert_eq!(self.ledger.snapshot(), self.before, "a rejected event changed the timeline");
        assert!(!self.receipt.message.clone().unwrap_or_default().is_empty());
        self.receipt
    }
}

/// A unit established (named "Unit <id>").
pub fn unit(id: &str, category: WireCategory, parent: Option<&str>) -> EventBody {
    EventBody::UnitEstablished(UnitEstablished {
        unit: id.into(),
        name: format!("Unit {id}"),
        category,
        parent: parent.map(Into::into),
        quota: None,
    })
}

/// A unit a merger or split makes.
pub fn new_unit(id: &str, category: WireCategory, parent: Option<&str>) -> NewUnit {
    NewUnit { unit: id.into(), name: format!("Unit {id}"), category, parent: parent.map(Into::into) }
}

/// A unit renamed.
pub fn rename(id: &str, name: &str) -> EventBody {
    EventBody::UnitRenamed(UnitRenamed { unit: id.into(), name: name.into() })
}

/// A unit moved under another (or to the top).
pub fn move_unit(id: &str, parent: Option<&str>) -> EventBody {
    EventBody::UnitMoved(UnitMoved { unit: id.into(), parent: parent.map(Into::into) })
}

/// A unit reclassified.
pub fn reclassify(id: &str, category: WireCategory) -> EventBody {
    EventBody::UnitReclassified(UnitReclassified { unit: id.into(), category })
}

/// A unit's quota set.
pub fn quota(id: &str, quota: u32) -> EventBody {
    EventBody::UnitQuotaSet(UnitQuotaSet { unit: id.into(), quota })
}

/// Units merged into an existing one.
pub fn merge_into(sources: &[&str], target: &str) -> EventBody {
    EventBody::UnitsMerged(UnitsMerged {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        target: Some(target.into()),
        new_target: None,
    })
}

/// Units merged into a new one.
pub fn merge_new(sources: &[&str], target: NewUnit) -> EventBody {
    EventBody::UnitsMerged(UnitsMerged {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        target: None,
        new_target: Some(target),
    })
}

/// A unit split into parts, with who and what goes where.
pub fn split(
    source: &str,
    parts: Vec<NewUnit>,
    posted: &[(&str, &str)],
    seconded: &[(&str, &str)],
    children: &[(&str, &str)],
) -> EventBody {
    let staff = |list: &[(&str, &str)]| {
        list.iter().map(|(s, p)| StaffAllocation { staff: s.to_string(), part: p.to_string() }).collect()
    };
    EventBody::UnitSplit(UnitSplit {
        source: source.into(),
        parts,
        posted: staff(posted),
        seconded: staff(seconded),
        children: children.iter().map(|(u, p)| UnitAllocation { unit: u.to_string(), part: p.to_string() }).collect(),
    })
}

/// A unit dissolved.
pub fn dissolve(id: &str) -> EventBody {
    EventBody::UnitDissolved(UnitDissolved { unit: id.into() })
}

/// A staff member joins a unit.
pub fn join(staff: &str, unit: &str) -> EventBody {
    EventBody::StaffJoined(StaffJoined { staff: staff.into(), unit: unit.into() })
}

/// A staff member transferred.
pub fn transfer(staff: &str, from: &str, to: &str) -> EventBody {
    EventBody::StaffTransferred(StaffTransferred { staff: staff.into(), from: from.into(), to: to.into() })
}

/// A staff member seconded, until a day or open-ended.
pub fn second(staff: &str, from: &str, to: &str, until: Option<&str>) -> EventBody {
    EventBody::StaffSeconded(StaffSeconded {
        staff: staff.into(),
        from: from.into(),
        to: to.into(),
        until: until.map(|u| WireDate(date(u))),
    })
}

/// A secondment ended.
pub fn end_secondment(staff: &str) -> EventBody {
    EventBody::SecondmentEnded(SecondmentEnded { staff: staff.into() })
}

/// A staff member leaves.
pub fn leave(staff: &str) -> EventBody {
    EventBody::StaffLeft(StaffLeft { staff: staff.into(), reason: "retired".into() })
}

/// An event of [`SOURCE`] retracted.
pub fn retract(id: &str) -> EventBody {
    EventBody::EventRetracted(EventRetracted {
        target: EventRef { source: SOURCE.into(), id: id.into() },
        reason: "keyed in error".into(),
    })
}

/// Two office units and a station, three staff in U1 and one in the station.
pub fn small_bureau() -> TestLedger {
    let mut ledger = TestLedger::new();
    ledger.given(&[
        ("2015-01-01", unit("HQ", OFFICE, None)),
        ("2015-01-01", unit("U1", OFFICE, Some("HQ"))),
        ("2015-01-01", unit("U2", OFFICE, Some("HQ"))),
        ("2015-01-01", unit("PS", FRONT, Some("HQ"))),
        ("2015-01-01", join("S1", "U1")),
        ("2015-01-01", join("S2", "U1")),
        ("2015-01-01", join("S3", "U1")),
        ("2015-01-01", join("S4", "PS")),
    ]);
    ledger
}
