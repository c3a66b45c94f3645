//! Redelivery and races, over a real nats-server and the real ledger
//! service: three HR publishers race each other on overlapping events
//! (every event published two or three times, in different batchings),
//! while JetStream — told to wait only 1 ms for the ledger's acks, less
//! than a commit and its flush take — counts acks as lost and delivers
//! messages to the ledger again. The ledger comes out the very
//! ledger of one publisher sending every event once, undisturbed.

use muster_ledger::{Ledger, LedgerConfig};
use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_publisher::{Outcome, Publisher, PublisherConfig};
use muster_tests::ingest::same_entries;
use muster_tests::stack::Stack;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

const EVENTS: u64 = 6000;

/// A publisher on a connection of its own, `batch` events to a message,
/// waiting `receipt_wait_secs` for a receipt before it looks it up.
async fn publisher(stack: &Stack, batch: usize, receipt_wait_secs: u64) -> Publisher {
    let config = PublisherConfig {
        batch,
        window: 512,
        receipt_wait: Duration::from_secs(receipt_wait_secs),
        ..PublisherConfig::default()
    };
    Publisher::new(stack.client().await, stack.topology(), config)
}

/// Publishes the crash stream's events in `range`, in order; returns every
/// receipt.
async fn publish(publisher: Publisher, range: RangeInclusive<u64>) -> Vec<Receipt> {
    let events = range.map(muster_tests::crash::outgoing);
    let outcomes = publisher.publish_all(events, |_| {}).await.expect("published");
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Receipt(receipt) => receipt,
            other => panic!("no receipt: {other:?}"),
        })
        .collect()
}

/// Every receipt accepted, and each event's receipts (from whichever
/// publisher) naming one entry: event `c<i>` is entry `i`, as when one
/// publisher sends them in order.
fn one_entry_per_event(receipts: &[Receipt]) {
    let mut seqs: BTreeMap<&str, u64> = BTreeMap::new();
    for receipt in receipts {
        assert_eq!(receipt.status, ReceiptStatus::Accepted, "{receipt:?}");
        let seq = receipt.seq.expect("recorded");
        assert_eq!(*seqs.entry(&receipt.id).or_insert(seq), seq, "{} has two entries", receipt.id);
        assert_eq!(format!("c{seq}"), receipt.id, "events recorded in the order published");
    }
    assert_eq!(seqs.len() as u64, EVENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_racing_on_overlapping_events_with_acks_lost_make_the_ledger_of_one_clean_run() {
    let stack = Stack::new();
    // The streams, made by a first start of the ledger.
    stack.start_ledger().stop().await;
    stack.wait_for_streams().await;
    // A sends every event one to a message, B the first two thirds in
    // batches of 17, C every event in batches of 64: each event goes out
    // two or three times, in differently cut messages (so JetStream's
    // duplicate window drops none of them), all at once. Each sends in
    // order from the first event, so whichever copy comes first, it comes
    // after the first copy of the event before: the clean run's order.
    // (Publishers sending different parts of a stream would interleave
    // them; the ledger's order is the order of arrival.)
    let racing = tokio::spawn({
        let (a, b, c) = (publisher(&stack, 1, 10), publisher(&stack, 17, 10), publisher(&stack, 64, 10));
        let (a, b, c) = (a.await, b.await, c.await);
        async move { tokio::join!(publish(a, 1..=EVENTS), publish(b, 1..=EVENTS * 2 / 3), publish(c, 1..=EVENTS),) }
    });
    // The ledger starts once hundreds of messages wait, and JetStream waits
    // only 1 ms for each ack — less than a commit and its flush take — so
    // it counts acks as lost and delivers messages to the ledger again.
    muster_tests::stack::intake_holds(&stack, 300).await;
    let js = async_nats::jetstream::new(stack.client().await);
    let mut intake = js.get_stream(stack.topology().intake_stream()).await.unwrap();
    let ledger = stack.start_ledger_with(muster_ledger_service::Args { ack_wait_ms: 1, ..stack.ledger_args() });
    let (a, b, c) = racing.await.unwrap();
    ledger.stop().await;
    let receipts: Vec<Receipt> = [a, b, c].concat();
    assert_eq!(receipts.len() as u64, EVENTS * 8 / 3, "each publisher a receipt for each of its events");
    one_entry_per_event(&receipts);

    // The intake did hold every event two or three times.
    let messages = intake.info().await.unwrap().state.last_sequence;
    let mut copies = 0;
    for seq in 1..=messages {
        let message = intake.get_raw_message(seq).await.unwrap();
        copies +=
            muster_ledger_service::intake_events(message.subject.as_str(), Some(&message.headers), &message.payload)
                .len() as u64;
    }
    assert!(copies >= EVENTS * 8 / 3, "{copies} events in the intake");
    // And JetStream did deliver messages again: its consumer counted more
    // deliveries than there are messages.
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        intake.get_consumer("muster-ledger").await.unwrap();
    let delivered = consumer.info().await.unwrap().delivered;
    eprintln!(
        "{copies} events in {messages} intake messages for {EVENTS} events; {} deliveries of them",
        delivered.consumer_sequence
    );
    assert!(delivered.consumer_sequence > delivered.stream_sequence, "messages delivered again: {delivered:?}");

    // The clean run: one publisher, each event once, acks in time.
    let clean_stack = Stack::new();
    let clean_ledger = clean_stack.start_ledger();
    clean_stack.wait_for_streams().await;
    let clean = publish(publisher(&clean_stack, 64, 2).await, 1..=EVENTS).await;
    clean_ledger.stop().await;
    one_entry_per_event(&clean);

    let raced = Ledger::open(&LedgerConfig::new(stack.ledger_dir())).unwrap();
    let clean = Ledger::open(&LedgerConfig::new(clean_stack.ledger_dir())).unwrap();
    same_entries(&raced, &clean);
}
