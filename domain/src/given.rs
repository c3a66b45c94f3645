//! Tests' shorthand: a timeline made of events, each decided and applied
//! at its sequence and effective date, as the ledger would.

use crate::{Category, Date, Event, Seq, Timeline};

/// `YYYY-MM-DD`.
pub fn day(text: &str) -> Date {
    Date::parse(text).expect("a test date")
}

/// The timeline after `events` (sequence, effective date, event), each
/// of which must be accepted.
pub fn timeline(events: &[(Seq, &str, Event)]) -> Timeline {
    let mut timeline = Timeline::new();
    for (seq, date, event) in events {
        let decision = timeline.decide(*seq, day(date), event).unwrap_or_else(|r| panic!("seq {seq}: {r:?}"));
        timeline.apply(decision);
    }
    timeline
}

/// An office unit named after its id.
pub fn unit(id: &str, parent: Option<&str>) -> Event {
    Event::UnitEstablished {
        unit: id.into(),
        name: id.into(),
        category: Category::Office,
        parent: parent.map(Into::into),
        quota: None,
    }
}

/// `staff` joins `unit`.
pub fn joined(staff: &str, unit: &str) -> Event {
    Event::StaffJoined { staff: staff.into(), unit: unit.into() }
}

/// `staff` moves home from `from` to `to`.
pub fn transferred(staff: &str, from: &str, to: &str) -> Event {
    Event::StaffTransferred { staff: staff.into(), from: from.into(), to: to.into() }
}

/// The event at `target` never happened.
pub fn retracted(target: Seq) -> Event {
    Event::EventRetracted { target, reason: "keyed in error".into() }
}
