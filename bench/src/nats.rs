//! End-to-end figures over a real nats-server: durable ingest next to raw
//! JetStream publishing of the same payloads, and point headcounts asked of
//! a query service over NATS.

use crate::inprocess::Sample;
use crate::measure::Latencies;
use anyhow::Result;
use async_nats::jetstream::{self, stream};
use muster_publisher::{Outcome, Outgoing, Publisher, PublisherConfig};
use muster_tests::stack::Stack;
use std::path::Path;
use std::time::Instant;

/// Ingest, in events per second: Muster and raw JetStream, each with one
/// event per message and in batched mode (`batch` events per message).
#[derive(serde::Serialize, Debug)]
pub struct Ingest {
    /// Events published (each way).
    pub events: u64,
    /// Events per message in batched mode.
    pub batch: usize,
    /// Raw JetStream async publish, one event per message, every PubAck awaited.
    pub raw_per_sec: f64,
    /// Raw JetStream async publish of the batched messages Muster's
    /// publisher sends, every PubAck awaited.
    pub raw_batched_per_sec: f64,
    /// Muster, batched mode: publisher → intake → ledger (flushed) → receipt.
    pub muster_per_sec: f64,
    /// Muster, one event per message.
    pub muster_single_per_sec: f64,
    /// Receipts saying accepted (batched run; the single run must agree).
    pub accepted: u64,
    /// Publish → receipt of each event, one per message, sent at a steady
    /// [`STEADY_PER_SEC`] by one publisher run.
    pub steady: Latencies,
}

/// The steady rate of the latency figure, events a second.
pub const STEADY_PER_SEC: u64 = 1_000;
/// Events of the latency figure (ten seconds at the steady rate).
const STEADY_EVENTS: usize = 10_000;

/// The first `n` events of a JSON Lines file, as the publisher sends them.
pub fn first_events(jsonl: &Path, n: u64) -> Result<Vec<Outgoing>> {
    muster_tests::outgoing_from_jsonl(jsonl, Some(n as usize))
}

/// Raw JetStream, then Muster, one event per message and batched; each on
/// a fresh server (and Muster on a fresh ledger).
pub async fn ingest(events: Vec<Outgoing>, batch: usize) -> Result<Ingest> {
    let n = events.len() as u64;
    let window = muster_proto::limits::PUBLISH_IN_FLIGHT_MAX;
    let singles: Vec<Vec<u8>> = events.iter().map(|e| e.payload.clone()).collect();
    // The bench's events are of one source and all batchable: the
    // publisher groups them exactly so.
    anyhow::ensure!(events.iter().all(|e| e.source == events[0].source), "one source");
    let batches: Vec<Vec<u8>> = events
        .chunks(batch)
        .map(|part| muster_proto::cloudevents::encode_batch(part.iter().map(|e| e.payload.as_slice())))
        .collect();
    let raw_single = raw(singles, window).await?;
    let raw_batched = raw(batches, window.div_ceil(batch)).await?;
    let (muster_single, accepted_single) = muster(events.clone(), 1).await?;
    let steady = steady(events.iter().take(STEADY_EVENTS).cloned().collect()).await?;
    let (muster_batched, accepted) = muster(events, batch).await?;
    anyhow::ensure!(accepted == accepted_single, "batched: {accepted} accepted, one by one: {accepted_single}");
    let per_sec = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    Ok(Ingest {
        events: n,
        batch,
        raw_per_sec: per_sec(raw_single),
        raw_batched_per_sec: per_sec(raw_batched),
        muster_per_sec: per_sec(muster_batched),
        muster_single_per_sec: per_sec(muster_single),
        steady,
        accepted,
    })
}

/// Publishes `payloads` to a new file-backed stream, at most `window`
/// unacknowledged (async-nats stalls past 5,000 outstanding acks nobody
/// awaits); the time until every PubAck is in.
async fn raw(payloads: Vec<Vec<u8>>, window: usize) -> Result<std::time::Duration> {
    let stack = Stack::new();
    let js = jetstream::new(stack.client().await);
    js.create_stream(stream::Config {
        name: "RAW".into(),
        subjects: vec!["raw.>".into()],
        storage: stream::StorageType::File,
        max_message_size: (muster_proto::limits::PAYLOAD_BYTES_MAX + 4096) as i32,
        ..Default::default()
    })
    .await?;
    let started = Instant::now();
    let mut acks = std::collections::VecDeque::with_capacity(window);
    for payload in payloads {
        if acks.len() == window {
            let ack: jetstream::context::PublishAckFuture = acks.pop_front().expect("non-empty");
            ack.await?;
        }
        acks.push_back(js.publish("raw.events", payload.into()).await?);
    }
    for ack in acks {
        ack.await?;
    }
    Ok(started.elapsed())
}

/// Muster end to end, `batch` events per message: the time until every
/// receipt is in, and how many said accepted.
async fn muster(events: Vec<Outgoing>, batch: usize) -> Result<(std::time::Duration, u64)> {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let config = PublisherConfig { batch, ..PublisherConfig::default() };
    let publisher = Publisher::new(stack.client().await, muster_bus::Topology::default(), config);
    let started = Instant::now();
    let outcomes = publisher.publish_all(events, |_| {}).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let took = started.elapsed();
    ledger.stop().await;
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Receipt(r) if r.status == muster_proto::entry::ReceiptStatus::Accepted))
        .count() as u64;
    Ok((took, accepted))
}

/// Each event's publish → receipt time, one event per message, the
/// events streamed to one publisher run at [`STEADY_PER_SEC`] (as an HR
/// system publishing each change as it happens): from the moment it was
/// due to go out until its receipt is taken.
async fn steady(events: Vec<Outgoing>) -> Result<Latencies> {
    use futures_util::StreamExt;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let stack = Stack::new();
    // The ledger as it ships (the test stack's waits are shorter).
    let mut args = stack.ledger_args();
    args.batch_wait_ms = muster_proto::limits::BATCH_WAIT_MS;
    let ledger = stack.start_ledger_with(args);
    stack.wait_for_streams().await;
    let config = PublisherConfig { batch: 1, ..PublisherConfig::default() };
    let publisher = Publisher::new(stack.client().await, muster_bus::Topology::default(), config);
    let due: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let every = std::time::Duration::from_secs(1) / STEADY_PER_SEC as u32;
    // Each event is handed over when it is due.
    let paced = futures_util::stream::iter(events.into_iter().enumerate()).then({
        let due = due.clone();
        move |(i, event)| {
            let at = started + every * i as u32;
            let due = due.clone();
            async move {
                tokio::time::sleep_until(at.into()).await;
                due.lock().expect("due").insert(event.id.clone(), at);
                event
            }
        }
    });
    let mut took = Vec::new();
    publisher
        .publish_stream(paced, |outcome| {
            if let Outcome::Receipt(r) = outcome {
                if let Some(at) = due.lock().expect("due").remove(&r.id) {
                    took.push(at.elapsed());
                }
            }
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ledger.stop().await;
    anyhow::ensure!(due.lock().expect("due").is_empty(), "an event without its receipt");
    Ok(Latencies::new(took))
}

/// Point headcounts asked one at a time over NATS of a query service whose
/// replica is a copy of the benchmark ledger; and, as the baseline, a bare
/// echo responder on the same server (what NATS request/reply itself costs
/// here). The two are asked in turn, one request each, so that whatever
/// else the machine does at a moment falls on both alike.
pub async fn query_latency(ledger: &Path, samples: &[Sample]) -> Result<(Latencies, Latencies)> {
    use futures_util::StreamExt;
    let stack = Stack::new();
    let replica = stack.dir.path().join("query-bench");
    copy_dir(ledger, &replica)?;
    let (query, _) = stack.start_query_with(replica, "off").await;
    let responder = stack.client().await;
    let mut requests = responder.subscribe("bench.echo").await?;
    responder.flush().await?;
    let echo = tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                let _ = responder.publish(reply, message.payload).await;
            }
        }
    });
    let client = stack.client().await;
    let body = |s: &Sample| serde_json::to_vec(&serde_json::json!({"unit": s.unit, "date": s.date})).expect("JSON");
    for s in samples.iter().take(1000) {
        client.request("bench.echo", body(s).into()).await?;
        client.request("muster.query.headcount", body(s).into()).await?;
    }
    let (mut muster, mut bare) = (Vec::with_capacity(samples.len()), Vec::with_capacity(samples.len()));
    for s in samples {
        let t = Instant::now();
        client.request("bench.echo", body(s).into()).await?;
        bare.push(t.elapsed());
        let t = Instant::now();
        let reply = client.request("muster.query.headcount", body(s).into()).await?;
        muster.push(t.elapsed());
        let answer: serde_json::Value = serde_json::from_slice(&reply.payload)?;
        anyhow::ensure!(answer["posted"] == s.posted, "over NATS {} on {}: {answer}", s.unit, s.date);
    }
    echo.abort();
    query.stop().await;
    Ok((Latencies::new(muster), Latencies::new(bare)))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
