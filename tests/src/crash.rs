//! The crash tests' deterministic event stream — 20 units, then staff
//! joining and moving between them, every event valid in order — and the
//! ledger an uninterrupted run makes of an intake stream.

use muster_domain::Date;
use muster_proto::wire::*;

/// Units in the stream.
pub const UNITS: u64 = 20;

/// Event number `i` (1-based) of the stream, with id `c{i}`.
pub fn event(i: u64) -> Envelope {
    let day = Date::from_ymd(2015, 1, 1).expect("date").day_number() + (i / 100) as u32;
    let body = if i <= UNITS {
        EventBody::UnitEstablished(UnitEstablished {
            unit: format!("U{i}"),
            name: format!("Unit {i}"),
            category: if i.is_multiple_of(2) { WireCategory::Office } else { WireCategory::FrontLine },
            parent: None,
            quota: None,
        })
    } else if i % 2 == 1 {
        // Staff member i joins unit i mod UNITS.
        EventBody::StaffJoined(StaffJoined { staff: format!("S{i}"), unit: format!("U{}", i % UNITS + 1) })
    } else {
        // The member who joined just before moves to the next unit.
        let staff = i - 1;
        EventBody::StaffTransferred(StaffTransferred {
            staff: format!("S{staff}"),
            from: format!("U{}", staff % UNITS + 1),
            to: format!("U{}", (staff + 1) % UNITS + 1),
        })
    };
    Envelope {
        id: format!("c{i}"),
        source: "hr/crash".into(),
        effective_date: WireDate(Date::from_day_number(day).expect("in range")),
        order_ref: None,
        note: None,
        body,
    }
}

/// Event `i` ready for the publisher, as CloudEvents JSON.
pub fn outgoing(i: u64) -> muster_publisher::Outgoing {
    let envelope = event(i);
    muster_publisher::Outgoing {
        source: envelope.source.clone(),
        id: envelope.id.clone(),
        content_type: muster_proto::cloudevents::CONTENT_TYPE,
        payload: muster_proto::cloudevents::encode_json(&envelope),
    }
}

/// What one uninterrupted ledger (in `dir`) makes of the intake stream as
/// it stands: every message, decoded as the service decodes it, recorded
/// at its JetStream time, committed at message boundaries in batches of
/// at most `BATCH_EVENTS_MAX`.
pub async fn uninterrupted(stack: &crate::stack::Stack, dir: &std::path::Path) -> muster_ledger::Ledger {
    use muster_ledger::{Incoming, Ledger, LedgerConfig};
    let js = async_nats::jetstream::new(stack.client().await);
    let mut intake = js.get_stream(stack.topology().intake_stream()).await.expect("intake stream");
    let last = intake.info().await.expect("intake info").state.last_sequence;
    let mut ledger = Ledger::open(&LedgerConfig::new(dir)).expect("a fresh ledger");
    let mut batch: Vec<(Incoming, u64)> = Vec::new();
    for seq in 1..=last {
        let message = intake.get_raw_message(seq).await.expect("intake message");
        let at_ms = u64::try_from(message.time.unix_timestamp_nanos() / 1_000_000).expect("after 1970");
        let events =
            muster_ledger_service::intake_events(message.subject.as_str(), Some(&message.headers), &message.payload);
        if batch.len() + events.len() > muster_proto::limits::BATCH_EVENTS_MAX {
            ledger.commit_batch(std::mem::take(&mut batch), None).expect("replayed batch");
        }
        batch.extend(events.into_iter().map(|event| (event, at_ms)));
    }
    ledger.commit_batch(batch, None).expect("replayed batch");
    ledger
}
