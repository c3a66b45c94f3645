//! CloudEvents' batched content mode on the intake, over a real
//! nats-server and the real ledger service: many events in one message,
//! one receipt each, each event judged as if it had come alone.

use async_nats::jetstream;
use muster_proto::cloudevents::{self, encode_batch};
use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_proto::limits;
use muster_publisher::{Outcome, Outgoing, Publisher, PublisherConfig};
use muster_tests::receipts::brief;
use muster_tests::stack::Stack;
use std::time::Duration;

const SOURCE: &str = "hr/batch";

fn event(id: &str, ty: &str, date: &str, data: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"{SOURCE}","type":"org.muster.{ty}.v1","effectivedate":"{date}","data":{data}}}"#
    )
}

fn unit(id: &str) -> String {
    event(id, "unit.established", "2015-01-01", r#"{"unit":"U1","name":"Unit one","category":"office"}"#)
}

fn joined(id: &str, staff: &str) -> String {
    event(id, "staff.joined", "2015-02-01", &format!(r#"{{"staff":"{staff}","unit":"U1"}}"#))
}

/// Publishes `payload` as one batched message of `SOURCE`, as an HR system
/// in any language would (no Muster library).
async fn publish_batch(client: &async_nats::Client, payload: Vec<u8>) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(muster_bus::CONTENT_TYPE_HEADER, cloudevents::BATCH_CONTENT_TYPE);
    headers.insert(muster_bus::SOURCE_HEADER, SOURCE);
    let subject = muster_bus::Topology::default().intake_subject(SOURCE);
    jetstream::new(client.clone())
        .publish_with_headers(subject, headers, payload.into())
        .await
        .expect("publish")
        .await
        .expect("PubAck");
}

/// The receipts of the next `n` events, from however many messages.
async fn next_receipts(subscription: &mut async_nats::Subscriber, n: usize) -> Vec<Receipt> {
    let mut receipts = Vec::new();
    while receipts.len() < n {
        let message = tokio::time::timeout(Duration::from_secs(20), futures_util::StreamExt::next(subscription))
            .await
            .unwrap_or_else(|_| panic!("{} of {n} receipts came", receipts.len()))
            .expect("subscription open");
        receipts.extend(serde_json::from_slice::<Vec<Receipt>>(&message.payload).expect("receipts"));
    }
    assert_eq!(receipts.len(), n, "no more receipts than events");
    receipts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_gets_one_receipt_per_event_and_a_bad_event_spoils_only_itself() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    let mut receipts = client.subscribe(stack.topology().receipts_subject(SOURCE)).await.unwrap();
    client.flush().await.unwrap();

    let no_staff = event("e-3", "staff.joined", "2015-02-01", r#"{"unit":"U1"}"#);
    let first = [unit("e-1"), joined("e-2", "S1"), "42".to_owned(), no_staff, joined("e-4", "S1")];
    publish_batch(&client, encode_batch(first.iter().map(|e| e.as_bytes()))).await;
    let got = next_receipts(&mut receipts, 4).await;
    assert_eq!(
        got.iter().map(brief).collect::<Vec<_>>(),
        vec![
            ("e-1", ReceiptStatus::Accepted, None, false),
            ("e-2", ReceiptStatus::Accepted, None, false),
            ("e-3", ReceiptStatus::Rejected, Some("missing_field"), false),
            ("e-4", ReceiptStatus::Rejected, Some("staff_already_active"), false),
        ],
        "in the batch's order, each judged after the ones before it"
    );
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![Some(1), Some(2), Some(3), Some(4)]);
    assert!(got[2].message.as_deref().unwrap().starts_with("event 4 of 5 in a batch"), "{:?}", got[2].message);
    // The element with no key at all: a dead letter naming its place.
    let letters = stack.dead_letters(1).await;
    assert_eq!(letters[0].code, "malformed_payload");
    assert!(letters[0].message.starts_with("event 3 of 5 in a batch"), "{}", letters[0].message);
    assert_eq!(letters[0].content_type.as_deref(), Some(cloudevents::BATCH_CONTENT_TYPE));

    // The same batch again: every event a duplicate with its first receipt,
    // and one more dead letter for the element that has no key to compare.
    publish_batch(&client, encode_batch(first.iter().rev().map(|e| e.as_bytes()))).await;
    let again = next_receipts(&mut receipts, 4).await;
    let expected: Vec<_> = got.iter().rev().map(|r| Receipt { duplicate: true, ..r.clone() }).collect();
    assert_eq!(again, expected);
    stack.dead_letters(2).await;

    // An event that came in a batch, now alone: the same content, so a duplicate.
    let alone = Outgoing {
        source: SOURCE.into(),
        id: "e-2".into(),
        content_type: cloudevents::CONTENT_TYPE,
        payload: joined("e-2", "S1").into_bytes(),
    };
    let publisher = Publisher::new(client.clone(), stack.topology(), PublisherConfig::default());
    let outcome = publisher.publish_all(vec![alone], |_| {}).await.unwrap();
    assert!(matches!(&outcome[..], [Outcome::Receipt(r)] if r.duplicate && r.seq == Some(2)), "{outcome:?}");
    let _ = next_receipts(&mut receipts, 1).await;

    // Batches that are not one: a dead letter each, nothing recorded.
    let e5 = joined("e-5", "S5");
    let too_many = encode_batch(std::iter::repeat_n(e5.as_bytes(), limits::BATCH_MESSAGE_EVENTS_MAX + 1));
    for broken in [format!("[{e5},").into_bytes(), b"[]".to_vec(), e5.clone().into_bytes(), too_many] {
        publish_batch(&client, broken).await;
    }
    let letters = stack.dead_letters(6).await;
    let codes: Vec<&str> = letters[2..].iter().map(|l| l.code.as_str()).collect();
    assert_eq!(codes, ["malformed_payload", "malformed_payload", "malformed_payload", "payload_too_large"]);
    ledger.stop().await;

    let ledger = muster_tests::open_ledger(&stack.ledger_dir());
    assert_eq!(ledger.head().seq, 4, "only the first batch's keyed events were recorded");
    assert_eq!(ledger.receipt(SOURCE, "e-5").unwrap(), None);
    assert_eq!(ledger.verify().expect("the chain verifies").entries, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_larger_together_than_a_commit_are_committed_whole_and_in_order() {
    let stack = Stack::new();
    let client = stack.client().await;
    // Published before the ledger starts, so its first fetch holds them
    // all: 6 messages of up to 400 events, more than one commit (1,024)
    // can take, so they are committed two by two.
    stack.start_ledger().stop().await;
    let mut events = vec![unit("u")];
    events.extend((0..2099).map(|i| joined(&format!("j-{i}"), &format!("S{i}"))));
    let mut receipts = client.subscribe(stack.topology().receipts_subject(SOURCE)).await.unwrap();
    client.flush().await.unwrap();
    for part in events.chunks(400) {
        publish_batch(&client, encode_batch(part.iter().map(|e| e.as_bytes()))).await;
    }
    let ledger = stack.start_ledger();
    let got = next_receipts(&mut receipts, events.len()).await;
    ledger.stop().await;
    assert!(got.iter().all(|r| r.status == ReceiptStatus::Accepted && !r.duplicate));
    let seqs: Vec<u64> = got.iter().map(|r| r.seq.unwrap()).collect();
    assert_eq!(seqs, (1..=2100).collect::<Vec<_>>(), "one entry per event, in publishing order");

    let ledger = muster_tests::open_ledger(&stack.ledger_dir());
    assert_eq!(ledger.head().seq, 2100);
    // The intake cursor ends on the last message: each commit ended on one.
    assert_eq!(ledger.cursor().unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_batches_one_source_at_a_time_and_sends_the_unbatchable_alone() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    let json = |source: &str, id: &str, payload: String| Outgoing {
        source: source.into(),
        id: id.into(),
        content_type: cloudevents::CONTENT_TYPE,
        payload: payload.into_bytes(),
    };
    let other = r#"{"specversion":"1.0","id":"o-1","source":"hr/other","type":"org.muster.unit.established.v1","effectivedate":"2015-01-01","data":{"unit":"O1","name":"Other","category":"office"}}"#;
    let mut events = vec![json(SOURCE, "e-1", unit("e-1"))];
    events.extend((0..300).map(|i| json(SOURCE, &format!("j-{i}"), joined(&format!("j-{i}"), &format!("S{i}")))));
    events.insert(100, json("hr/other", "o-1", other.to_owned()));
    events.insert(200, json(SOURCE, "broken", r#"{"id":"broken","source":"hr/batch""#.to_owned()));
    let config =
        PublisherConfig { batch: 64, window: 128, receipt_wait: Duration::from_secs(5), ..PublisherConfig::default() };
    let outcomes = Publisher::new(client, stack.topology(), config).publish_all(events, |_| {}).await.unwrap();
    ledger.stop().await;
    let receipts: Vec<Receipt> = outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Receipt(r) => r,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(receipts.len(), 303);
    let rejected: Vec<_> = receipts.iter().filter(|r| r.status == ReceiptStatus::Rejected).map(brief).collect();
    assert_eq!(rejected, vec![("broken", ReceiptStatus::Rejected, Some("malformed_payload"), false)]);
    let ledger = muster_tests::open_ledger(&stack.ledger_dir());
    assert_eq!(ledger.head().seq, 303);
    // Messages: hr/batch's 100 events before hr/other's (64 + 36), hr/other's
    // one, 99 more of hr/batch (64 + 35), the broken one alone, the last 102
    // (64 + 38). The window (128) never cuts a batch short: a message starts
    // only when a whole batch fits.
    assert_eq!(ledger.cursor().unwrap(), 8, "intake messages");
}
