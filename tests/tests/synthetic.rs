//! The benchmark generator's ledger is what it says: the ledger accepts
//! every event except those built to be rejected, backdated orders and
//! retractions included.

use muster_ledger::Incoming;
use muster_proto::entry::ReceiptStatus;

#[test]
fn the_ledger_rejects_exactly_the_events_built_to_be_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = muster_tests::open_ledger(&dir.path().join("ledger"));
    let mut events = Vec::new();
    let config = muster_gen::synthetic::Config { events: 60_000, seed: 11 };
    let tally = muster_gen::synthetic::generate(config, |e| events.push(e.clone()));
    let (mut rejected, mut retractions) = (0, 0);
    for (i, chunk) in events.chunks(1000).enumerate() {
        let receipts = ledger.submit_batch(chunk.iter().cloned().map(Incoming::Decoded).collect(), i as u64).unwrap();
        for (r, e) in receipts.iter().zip(chunk) {
            if r.status == ReceiptStatus::Rejected {
                rejected += 1;
                let code = r.code.as_deref().unwrap_or_default();
                let expected =
                    ["staff_not_in_unit", "unit_unknown", "same_unit", "already_seconded", "staff_already_active"];
                assert!(expected.contains(&code), "{}: {code} {:?}", e.id, r.message);
            } else if matches!(e.body, muster_proto::wire::EventBody::EventRetracted(_)) {
                retractions += 1;
            }
        }
    }
    assert_eq!(rejected, tally.invalid);
    assert_eq!(retractions, tally.retractions);
    assert!(tally.backdated > 1000, "{tally:?}");
    assert_eq!(ledger.verify().expect("the chain verifies").entries, tally.events);
}
