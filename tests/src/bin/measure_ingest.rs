//! Measures end-to-end ingest against raw JetStream on the same server, in
//! the same run: (a) JetStream async publish of N event payloads into a
//! scratch stream, every PubAck awaited; (b) the same N events through
//! `muster-publisher` to the ledger service, every receipt awaited (ledger
//! flushed to disk). Prints both rates and their ratio.
//!
//! `cargo run --release -p muster-tests --bin measure_ingest -- 20000`
//! (issue 5 turns this into the benchmark harness.)

use async_nats::jetstream::{self, stream};
use muster_publisher::{Outgoing, Publisher, PublisherConfig};
use muster_tests::stack::Stack;
use std::time::Instant;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let payloads: Vec<Outgoing> = (1..=events).map(muster_tests::crash::outgoing).collect();
    let stack = Stack::new();
    let client = stack.client().await;
    let js = jetstream::new(client.clone());

    // (a) Raw JetStream: the same payloads, file storage, acks awaited.
    js.create_stream(stream::Config {
        name: "RAW".into(),
        subjects: vec!["raw.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .expect("raw stream");
    let started = Instant::now();
    // The same in-flight window as the publisher (and under async-nats's
    // 5,000 outstanding-ack limit, past which publish waits forever for
    // acks nobody is awaiting).
    let mut acks = std::collections::VecDeque::with_capacity(muster_proto::limits::PUBLISH_IN_FLIGHT_MAX);
    for event in &payloads {
        if acks.len() == muster_proto::limits::PUBLISH_IN_FLIGHT_MAX {
            let ack: async_nats::jetstream::context::PublishAckFuture = acks.pop_front().expect("non-empty");
            ack.await.expect("PubAck");
        }
        acks.push_back(js.publish("raw.events", event.payload.clone().into()).await.expect("publish"));
    }
    for ack in acks {
        ack.await.expect("PubAck");
    }
    let raw = started.elapsed();

    // (b) Muster: publisher → intake → ledger (flushed) → receipt.
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let publisher = Publisher::new(client.clone(), muster_bus::Topology::default(), PublisherConfig::default());
    let started = Instant::now();
    let outcomes = publisher.publish_all(payloads, |_| {}).await.expect("publish");
    let muster = started.elapsed();
    assert_eq!(outcomes.len() as u64, events);
    ledger.stop().await;

    let raw_rate = events as f64 / raw.as_secs_f64();
    let muster_rate = events as f64 / muster.as_secs_f64();
    println!("events: {events}");
    println!("raw JetStream async publish (PubAck awaited): {raw_rate:.0} events/s ({:.2}s)", raw.as_secs_f64());
    println!("muster publisher → receipt (ledger flushed):  {muster_rate:.0} events/s ({:.2}s)", muster.as_secs_f64());
    println!("ratio muster / raw: {:.2}", muster_rate / raw_rate);
}
