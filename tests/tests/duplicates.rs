//! The same (source, id) again: a duplicate if its content is the same, a
//! rejection (`duplicate_id_different_content`) if it differs — on every
//! path and whatever the timing (SPEC, "Acceptance"). JetStream's dedupe
//! window drops a message whose `Nats-Msg-Id` it has seen whatever its
//! content, so these run inside it: a message id of (source, id) alone
//! made a changed event vanish and its publisher read the original's
//! acceptance.

use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_proto::{answers::ImportSummary, cloudevents};
use muster_publisher::{Outgoing, Publisher, PublisherConfig};
use muster_tests::receipts::{brief, next_receipt, receipts};
use muster_tests::stack::Stack;
use std::time::Duration;

const CONFLICT: &str = "duplicate_id_different_content";

/// A unit established under `source`/`id`: `name` is what a correction
/// would change. Unit ids are never reused, so each source has its own.
fn unit(source: &str, id: &str, unit: &str, name: &str) -> Outgoing {
    let unit = format!("{unit}-{}", source.replace('/', "-"));
    let json = serde_json::json!({
        "specversion": "1.0", "id": id, "source": source, "type": "org.muster.unit.established.v1",
        "effectivedate": "2015-01-01", "data": {"unit": unit, "name": name, "category": "office"}
    });
    Outgoing {
        source: source.into(),
        id: id.into(),
        content_type: cloudevents::CONTENT_TYPE,
        payload: serde_json::to_vec(&json).unwrap(),
    }
}

fn publisher(client: async_nats::Client, batch: usize) -> Publisher {
    let config = PublisherConfig { receipt_wait: Duration::from_secs(2), batch, ..PublisherConfig::default() };
    Publisher::new(client, muster_bus::Topology::default(), config)
}

/// Publishes `events` in one run; their receipts in ledger order (by seq;
/// a duplicate after the receipt it repeats).
async fn run(publisher: &Publisher, events: Vec<Outgoing>) -> Vec<Receipt> {
    let mut receipts = receipts(publisher.publish_all(events, |_| {}).await.expect("published"));
    receipts.sort_by_key(|r| r.seq);
    receipts
}

/// One event per message and CloudEvents' batched mode: the changed event
/// reaches the ledger and is rejected, again when re-published inside the
/// window, and the original re-published is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_event_under_a_used_id_is_rejected_alone_and_in_batches() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    for (batch, source) in [(1, "hr/one-by-one"), (256, "hr/batched")] {
        let publisher = publisher(client.clone(), batch);
        let original = unit(source, "u-1", "U1", "First brigade");
        let changed = unit(source, "u-1", "U1", "First brigade (renamed)");

        let first = run(&publisher, vec![original.clone(), unit(source, "u-2", "U2", "Second brigade")]).await;
        assert_eq!(brief(&first[0]), ("u-1", ReceiptStatus::Accepted, None, false), "{source}");
        let original_seq = first[0].seq.unwrap();

        // With another event, so that in batched mode the two share a message.
        let second_input = vec![unit(source, "u-3", "U3", "Third brigade"), changed.clone()];
        let second = run(&publisher, second_input.clone()).await;
        let conflict = second.iter().find(|r| r.id == "u-1").expect("a receipt for the changed event");
        assert_eq!(brief(conflict), ("u-1", ReceiptStatus::Rejected, Some(CONFLICT), false), "{source}");
        assert!(conflict.seq.unwrap() > original_seq, "the rejection is recorded: {conflict:?}");
        let names_original = format!("recorded as seq {original_seq} with other content");
        assert!(conflict.message.as_deref().unwrap().contains(&names_original), "{conflict:?}");
        let original_ref = muster_proto::entry::EntryRef { seq: original_seq, source: source.into(), id: "u-1".into() };
        assert_eq!(conflict.conflicts_with, [original_ref], "the original, for a program to follow");

        // The same input again, inside JetStream's window (which drops
        // every message of it): the changed event still gets its own
        // rejection, never the original's acceptance.
        let stored = intake_messages(&client, &stack).await;
        let third = run(&publisher, second_input).await;
        assert_eq!(intake_messages(&client, &stack).await, stored, "JetStream dropped the exact re-publish");
        let again = third.iter().find(|r| r.id == "u-1").expect("a receipt for the changed event");
        assert_eq!(
            (again.status, again.code.as_deref(), again.seq),
            (ReceiptStatus::Rejected, Some(CONFLICT), conflict.seq)
        );
        let mut summary = ImportSummary::default();
        third.iter().for_each(|r| summary.count(r));
        assert_eq!((summary.rejected, summary.duplicates), (1, 1), "a conflict counts as a rejection: {third:?}");

        // The original again: a duplicate, with the original's receipt.
        let fourth = run(&publisher, vec![original]).await;
        assert_eq!(brief(&fourth[0]), ("u-1", ReceiptStatus::Accepted, None, true), "{source}");
        assert_eq!((fourth[0].seq, &fourth[0].hash), (first[0].seq, &first[0].hash));
    }
    ledger.stop().await;
}

/// Two lines with the same id in one input: the second waits for the
/// first's outcome, then is a duplicate (same content) or rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_id_twice_in_one_input_is_a_duplicate_or_a_rejection() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    for (batch, source) in [(1, "hr/file-one-by-one"), (256, "hr/file-batched")] {
        let original = unit(source, "u-1", "U1", "First brigade");
        let events = vec![
            original.clone(),
            original.clone(),
            unit(source, "u-1", "U1", "First brigade (renamed)"),
            unit(source, "u-2", "U2", "Second brigade"),
        ];
        let receipts = run(&publisher(client.clone(), batch), events).await;
        assert_eq!(receipts.len(), 4, "every line has its outcome: {receipts:?}");
        let accepted: Vec<_> =
            receipts.iter().filter(|r| !r.duplicate && r.status == ReceiptStatus::Accepted).collect();
        let duplicates: Vec<_> = receipts.iter().filter(|r| r.duplicate).collect();
        let conflicts: Vec<_> = receipts.iter().filter(|r| r.code.as_deref() == Some(CONFLICT)).collect();
        assert_eq!((accepted.len(), duplicates.len(), conflicts.len()), (2, 1, 1), "{source}: {receipts:?}");
        assert_eq!((duplicates[0].id.as_str(), duplicates[0].seq), ("u-1", accepted[0].seq));
        assert!(!conflicts[0].duplicate && conflicts[0].seq > accepted[0].seq);
    }
    ledger.stop().await;
}

/// A repeat that is not next to its first line goes in another message,
/// so it reaches the ledger, whose answer names the first's seq: taken as
/// this line's answer because the bytes are the same (a receipt naming
/// that seq for other bytes could be a late copy of the first's, and waits
/// for a lookup). The receipt wait is longer than the test's deadline, so
/// an answer left waiting fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_further_down_the_input_is_answered_as_a_duplicate_at_once() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let source = "hr/apart";
    let config = PublisherConfig { receipt_wait: Duration::from_secs(600), batch: 256, ..PublisherConfig::default() };
    let publisher = Publisher::new(stack.client().await, muster_bus::Topology::default(), config);
    let a = unit(source, "a-1", "A1", "First");
    let events = vec![a.clone(), unit(source, "a-2", "A2", "Second"), a];
    let stored = intake_messages(&stack.client().await, &stack).await;
    let receipts = tokio::time::timeout(Duration::from_secs(60), run(&publisher, events)).await.expect("no wait");
    assert_eq!(intake_messages(&stack.client().await, &stack).await, stored + 2, "the repeat reached the intake");
    let briefs: Vec<_> = receipts.iter().map(|r| (brief(r), r.seq)).collect();
    let first = receipts[0].seq;
    assert_eq!(
        briefs,
        [
            (("a-1", ReceiptStatus::Accepted, None, false), first),
            (("a-1", ReceiptStatus::Accepted, None, true), first),
            (("a-2", ReceiptStatus::Accepted, None, false), receipts[2].seq),
        ]
    );
    ledger.stop().await;
}

/// A client in any language, following proto/README.md: `Nats-Msg-Id`
/// over source, id and payload; a lookup that carries the event itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_client_publishing_a_changed_event_inside_the_window_gets_its_rejection() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    let topology = stack.topology();
    let source = "hr/raw";
    let mut receipts = client.subscribe(topology.receipts_subject(source)).await.unwrap();
    client.flush().await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let headers = |event: &Outgoing| {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Content-Type", event.content_type);
        headers.insert("Muster-Source", event.source.as_str());
        headers.insert("Muster-Id", event.id.as_str());
        headers.insert("Nats-Msg-Id", raw_message_id(event).as_str());
        headers
    };
    let original = unit(source, "r-1", "R1", "Raw brigade");
    let changed = unit(source, "r-1", "R1", "Raw brigade (renamed)");
    let mut outcomes = Vec::new();
    for event in [&original, &changed] {
        let subject = topology.intake_subject(source);
        let ack = js.publish_with_headers(subject, headers(event), event.payload.clone().into()).await.unwrap();
        assert!(!ack.await.unwrap().duplicate, "a changed event is not JetStream's duplicate");
        outcomes.push(next_receipt(&mut receipts).await);
    }
    assert_eq!(brief(&outcomes[0]), ("r-1", ReceiptStatus::Accepted, None, false));
    assert_eq!(brief(&outcomes[1]), ("r-1", ReceiptStatus::Rejected, Some(CONFLICT), false));

    // Looked up by the event itself: each content its own receipt; by
    // key alone: the first recording, the one in force.
    for (event, expected) in [(&original, &outcomes[0]), (&changed, &outcomes[1])] {
        let reply =
            client.request_with_headers(topology.lookup_subject(source), headers(event), event.payload.clone().into());
        let found: Option<Receipt> = serde_json::from_slice(&reply.await.unwrap().payload).unwrap();
        assert_eq!(found.as_ref(), Some(expected));
    }
    let by_key = serde_json::json!({"source": source, "id": "r-1"}).to_string();
    let reply = client.request(topology.lookup_subject(source), by_key.into()).await.unwrap();
    let found: Option<Receipt> = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(found.as_ref(), Some(&outcomes[0]), "duplicate: false on the original's own receipt");
    let never = unit(source, "r-never", "RN", "Never sent");
    let reply = client.request_with_headers(topology.lookup_subject(source), headers(&never), never.payload.into());
    assert_eq!(serde_json::from_slice::<Option<Receipt>>(&reply.await.unwrap().payload).unwrap(), None);
    ledger.stop().await;
}

/// proto/README.md's recipe, written out as a client in another language
/// would: SHA-256 over each part's big-endian u64 length and bytes, the
/// first 40 hex digits.
fn raw_message_id(event: &Outgoing) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for part in [b"event".as_slice(), event.source.as_bytes(), event.id.as_bytes(), &event.payload] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex[..40], muster_bus::Topology::message_id(&event.source, &event.id, &event.payload));
    hex[..40].to_owned()
}

async fn intake_messages(client: &async_nats::Client, stack: &Stack) -> u64 {
    let js = async_nats::jetstream::new(client.clone());
    let mut intake = js.get_stream(stack.topology().intake_stream()).await.expect("intake stream");
    intake.info().await.expect("intake info").state.messages
}

/// The ledger itself, as `muster import` uses it: conflicts inside one
/// batch and across batches, each found again by content after a reopen.
#[test]
fn a_ledger_finds_each_contents_receipt_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = |event: &Outgoing| Incoming::json(&event.payload);
    let original = unit("hr/local", "l-1", "L1", "Local brigade");
    let changed = unit("hr/local", "l-1", "L1", "Local brigade (renamed)");
    let changed_again = unit("hr/local", "l-1", "L1", "Local brigade (renamed twice)");
    let mut ledger = Ledger::open(&LedgerConfig::new(dir.path())).unwrap();
    let receipts = ledger.submit_batch(vec![incoming(&original), incoming(&changed), incoming(&original)], 1).unwrap();
    let briefs: Vec<_> = receipts.iter().map(|r| (r.seq, r.code.as_deref(), r.duplicate)).collect();
    assert_eq!(briefs, [(Some(1), None, false), (Some(2), Some(CONFLICT), false), (Some(1), None, true)]);
    let later = ledger.submit_batch(vec![incoming(&changed_again)], 2).unwrap();
    assert_eq!((later[0].seq, later[0].code.as_deref()), (Some(3), Some(CONFLICT)));
    drop(ledger);

    let ledger = Ledger::open(&LedgerConfig::new(dir.path())).unwrap();
    for (event, seq) in [(&original, 1), (&changed, 2), (&changed_again, 3)] {
        let found = ledger.receipt_for(incoming(event)).unwrap().expect("recorded");
        assert_eq!((found.seq, found.duplicate), (Some(seq), false));
    }
    let unknown = unit("hr/local", "l-1", "L1", "Never sent under l-1");
    assert_eq!(ledger.receipt_for(incoming(&unknown)).unwrap(), None);
    assert_eq!(ledger.receipt("hr/local", "l-1").unwrap().and_then(|r| r.seq), Some(1));
}
