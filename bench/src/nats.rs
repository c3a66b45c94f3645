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

/// Ingest, both ways, in events per second.
#[derive(serde::Serialize, Debug)]
pub struct Ingest {
    /// Events published.
    pub events: u64,
    /// Raw JetStream async publish, every PubAck awaited.
    pub raw_per_sec: f64,
    /// Muster: publisher → intake → ledger (flushed) → receipt.
    pub muster_per_sec: f64,
    /// Receipts saying accepted.
    pub accepted: u64,
}

/// The first `n` events of a JSON Lines file, as the publisher sends them.
pub fn first_events(jsonl: &Path, n: u64) -> Result<Vec<Outgoing>> {
    muster_tests::outgoing_from_jsonl(jsonl, Some(n as usize))
}

/// Raw JetStream, then Muster, on one fresh server.
pub async fn ingest(events: Vec<Outgoing>) -> Result<Ingest> {
    let n = events.len() as u64;
    let stack = Stack::new();
    let client = stack.client().await;
    let js = jetstream::new(client.clone());
    js.create_stream(stream::Config {
        name: "RAW".into(),
        subjects: vec!["raw.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let started = Instant::now();
    // The publisher's in-flight window (async-nats stalls past 5,000
    // outstanding acks nobody awaits).
    let mut acks = std::collections::VecDeque::with_capacity(muster_proto::limits::PUBLISH_IN_FLIGHT_MAX);
    for event in &events {
        if acks.len() == muster_proto::limits::PUBLISH_IN_FLIGHT_MAX {
            let ack: jetstream::context::PublishAckFuture = acks.pop_front().expect("non-empty");
            ack.await?;
        }
        acks.push_back(js.publish("raw.events", event.payload.clone().into()).await?);
    }
    for ack in acks {
        ack.await?;
    }
    let raw = started.elapsed();

    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let publisher = Publisher::new(client, muster_bus::Topology::default(), PublisherConfig::default());
    let started = Instant::now();
    let outcomes = publisher.publish_all(events, |_| {}).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let muster = started.elapsed();
    ledger.stop().await;
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Receipt(r) if r.status == muster_proto::entry::ReceiptStatus::Accepted))
        .count() as u64;
    Ok(Ingest {
        events: n,
        raw_per_sec: n as f64 / raw.as_secs_f64(),
        muster_per_sec: n as f64 / muster.as_secs_f64(),
        accepted,
    })
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
