//! The replica proper: this copy of the ledger, kept up by following the
//! feed, and what it answers. Both edges (the NATS micro service in
//! [`crate::service`], the HTTP API in [`crate::http`]) depend on this
//! module and not on each other.

use crate::answer::{answer, parse, Answer, QueryEndpoint, QueryError};
use anyhow::Result;
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use muster_bus::Topology;
use muster_ledger::Ledger;
use muster_proto::answers::AuditOut;
use muster_proto::limits;
use muster_proto::requests::{AuditRequest, EmptyRequest, StatusAnswer};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

/// What the feed task, the NATS endpoints and the HTTP handlers share.
pub struct Replica {
    ledger: RwLock<Ledger>,
    /// The highest ledger sequence seen on the feed.
    feed_seq: AtomicU64,
    /// False once an entry failed to verify: the replica stops applying.
    chain_ok: AtomicBool,
    js: jetstream::Context,
    topology: Topology,
}

impl Replica {
    /// A replica of `ledger`, not yet following the feed of `topology`
    /// ([`follow_feed`] does).
    pub fn new(ledger: Ledger, js: jetstream::Context, topology: Topology) -> Replica {
        Replica {
            ledger: RwLock::new(ledger),
            feed_seq: AtomicU64::new(0),
            chain_ok: AtomicBool::new(true),
            js,
            topology,
        }
    }

    /// Answers one query; `status` here, every other from the ledger.
    pub async fn query(&self, endpoint: QueryEndpoint, body: &[u8]) -> Result<Answer, QueryError> {
        if endpoint == QueryEndpoint::Status {
            let EmptyRequest {} = parse(endpoint, body)?;
            return Ok(Answer::Status(self.status().await));
        }
        let ledger = self.ledger.read().expect("replica lock");
        answer(&ledger, endpoint, body)
    }

    /// Answers an audit, typed: for the documents made from it (HTML, CSV),
    /// which need its figures, not its JSON.
    pub fn audit(&self, body: &[u8]) -> Result<AuditOut, QueryError> {
        let request: AuditRequest = parse(QueryEndpoint::Audit, body)?;
        let ledger = self.ledger.read().expect("replica lock");
        crate::answer::audit(&ledger, request)
    }

    /// How far behind the ledger this replica is.
    pub async fn status(&self) -> StatusAnswer {
        if let Ok(tip) = muster_bus::feed_tip(&self.js, &self.topology).await {
            self.feed_seq.fetch_max(tip.ledger_seq, Ordering::SeqCst);
        }
        let (applied, hash) = {
            let ledger = self.ledger.read().expect("replica lock");
            (ledger.head().seq, muster_ledger::hex(&ledger.head().hash))
        };
        let ledger_seq = self.feed_seq.load(Ordering::SeqCst).max(applied);
        StatusAnswer {
            ledger_seq,
            applied_seq: applied,
            behind: ledger_seq - applied,
            head_hash: hash,
            chain_ok: self.chain_ok.load(Ordering::SeqCst),
        }
    }
}

/// Applies the feed from where this replica's copy ends, in batches of at
/// most `FEED_BATCH_MAX` blocks (one flush each).
pub async fn follow_feed(replica: std::sync::Arc<Replica>) {
    loop {
        match follow_feed_once(&replica).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "feed interrupted; resuming");
                if !replica.chain_ok.load(Ordering::SeqCst) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn follow_feed_once(replica: &Replica) -> Result<()> {
    // The replica stores the feed position with every append, so it
    // resumes after the last message it holds.
    let start = replica.ledger.read().expect("replica lock").cursor()? + 1;
    let stream = replica.js.get_stream(replica.topology.feed_stream()).await?;
    let consumer: consumer::Consumer<consumer::pull::OrderedConfig> = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: replica.topology.feed_subject(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: start },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    loop {
        let Some(first) = messages.next().await else { return Ok(()) };
        let mut batch = vec![first?];
        while batch.len() < limits::FEED_BATCH_MAX {
            match tokio::time::timeout(Duration::from_millis(2), messages.next()).await {
                Ok(Some(message)) => batch.push(message?),
                _ => break,
            }
        }
        let last_seq = |m: &jetstream::Message| {
            m.headers.as_ref().and_then(|h| h.get(muster_bus::SEQ_HEADER)).and_then(|v| v.as_str().parse().ok())
        };
        if let Some(seq) = batch.last().and_then(last_seq) {
            replica.feed_seq.fetch_max(seq, Ordering::SeqCst);
        }
        let cursor = batch.last().and_then(|m| m.info().ok()).map(|info| info.stream_sequence);
        let blocks: Vec<Vec<u8>> = batch.iter().map(|m| m.payload.to_vec()).collect();
        let result = tokio::task::block_in_place(|| {
            let mut ledger = replica.ledger.write().expect("replica lock");
            let appended = ledger.append_replicated(&blocks, cursor)?;
            ledger.release_pages().map(|()| appended)
        });
        match result {
            Ok(appended) => tracing::debug!(appended, "feed batch applied"),
            Err(e) => {
                replica.chain_ok.store(false, Ordering::SeqCst);
                tracing::error!(error = %e, "feed entry failed verification; this replica stops applying");
                return Err(e.into());
            }
        }
    }
}
