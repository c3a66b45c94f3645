//! The replica proper: this copy of the ledger, kept up by following the
//! feed, and what it answers. Both edges (the NATS micro service in
//! [`crate::service`], the HTTP API in [`crate::http`]) depend on this
//! module and not on each other.

use crate::answer::{answer, parse, Answer, QueryEndpoint, QueryError, QueryErrorCode};
use crate::validate::internal;
use anyhow::Result;
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use muster_bus::Topology;
use muster_ledger::checkpoint::{SignedCheckpoint, Vouched};
use muster_ledger::Ledger;
use muster_proto::answers::{utc_ms_text, AuditOut, CheckpointOut, StateOut};
use muster_proto::limits;
use muster_proto::requests::{AuditRequest, CheckpointsRequest, EmptyRequest, StateRequest, StatusAnswer};
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

    /// Answers one query; `status` and `checkpoints` here, every other
    /// from the ledger.
    pub async fn query(&self, endpoint: QueryEndpoint, body: &[u8]) -> Result<Answer, QueryError> {
        match endpoint {
            QueryEndpoint::Status => {
                let EmptyRequest {} = parse(endpoint, body)?;
                return Ok(Answer::Status(self.status().await));
            }
            QueryEndpoint::Checkpoints => {
                return Ok(Answer::Checkpoints(self.checkpoints(parse(endpoint, body)?).await?))
            }
            _ => {}
        }
        let ledger = self.ledger.read().expect("replica lock");
        answer(&ledger, endpoint, body)
    }

    /// Answers an audit, typed, with the ledger state it was computed
    /// from: for the documents made from it (HTML, CSV, XLSX), which need
    /// its figures, not its JSON, and say what they were computed from.
    pub fn audit(&self, body: &[u8]) -> Result<(AuditOut, StateOut), QueryError> {
        let request: AuditRequest = parse(QueryEndpoint::Audit, body)?;
        let ledger = self.ledger.read().expect("replica lock");
        // One read lock: the state and the audit are of the same ledger,
        // and the audit is asked exactly as /v1/audit asks it.
        let known_at =
            StateRequest { known_at_seq: request.known_at_seq, known_at_time: request.known_at_time.clone() };
        let audit = crate::answer::audit(&ledger, request)?;
        Ok((audit, crate::answer::state(&ledger, known_at)?))
    }

    /// `f` with this replica's copy of the ledger, read-locked: for the
    /// typed answers of [`crate::answer`] (the workbench's questions).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Ledger) -> Result<T, QueryError>) -> Result<T, QueryError> {
        f(&self.ledger.read().expect("replica lock"))
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

impl Replica {
    /// The latest signed checkpoints on the bus, newest first, each
    /// verified against the key it names and compared with this replica's
    /// own entry at its seq. None yet is an empty list.
    pub async fn checkpoints(&self, r: CheckpointsRequest) -> Result<Vec<CheckpointOut>, QueryError> {
        let limit = checkpoints_limit(r.limit)?;
        let stream = match self.js.get_stream(self.topology.checkpoints_stream()).await {
            Ok(stream) => stream,
            // The ledger makes the stream when it first starts: before
            // that, nothing was signed.
            Err(e) if stream_missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(internal(format!("the checkpoints stream: {e}"))),
        };
        let info = stream.get_info().await.map_err(|e| internal(format!("the checkpoints stream: {e}")))?;
        let (first, last) = (info.state.first_sequence.max(1), info.state.last_sequence);
        let mut found = Vec::new();
        // Nothing is ever deleted from the stream (deny delete and purge),
        // so its last `limit` sequences are its last `limit` checkpoints.
        for sequence in (first..=last).rev().take(limit) {
            let message = stream
                .get_raw_message(sequence)
                .await
                .map_err(|e| internal(format!("checkpoints stream message {sequence}: {e}")))?;
            let checkpoint = SignedCheckpoint::parse(&message.payload)
                .map_err(|e| internal(format!("checkpoints stream message {sequence}: {e}")))?;
            let signer = message.headers.get(muster_bus::CHECKPOINT_SIGNER_HEADER).map(|v| v.as_str().to_owned());
            found.push(self.checked(checkpoint, signer.as_deref())?);
        }
        Ok(found)
    }

    /// A checkpoint as answered: its signature checked against the key it
    /// or its publisher names (which says it is intact, not whose it is:
    /// an auditor trusts a key given out of band), its head and root
    /// against this replica's own.
    fn checked(&self, c: SignedCheckpoint, signer: Option<&str>) -> Result<CheckpointOut, QueryError> {
        let published = String::from_utf8_lossy(&c.encode()).into_owned();
        let named = match (&c, signer) {
            (SignedCheckpoint::Json(json), _) => muster_ledger::checkpoint::public_key(&json.public_key).ok(),
            (SignedCheckpoint::Note(_), Some(vkey)) => {
                muster_ledger::checkpoint::parse_note_vkey(vkey).ok().map(|(_, key)| key)
            }
            (SignedCheckpoint::Note(_), None) => None,
        };
        let verified = named.map(|key| c.verify(&key));
        let signature_ok = matches!(verified, Some(Ok(_)));
        // What it says, read whether or not its signature holds.
        let said = c.said().map_err(internal)?;
        let matches_replica = self.matches(&said)?;
        let signature = match &c {
            SignedCheckpoint::Json(json) => json.signature.clone(),
            SignedCheckpoint::Note(note) => {
                note.signatures.first().map(|s| muster_ledger::hex(&s.signature)).unwrap_or_default()
            }
        };
        Ok(CheckpointOut {
            format: match c {
                SignedCheckpoint::Json(_) => muster_proto::answers::CHECKPOINT_FORMAT_JSON,
                SignedCheckpoint::Note(_) => muster_proto::answers::CHECKPOINT_FORMAT_NOTE,
            }
            .to_owned(),
            seq: said.head.seq,
            head_hash: muster_ledger::hex(&said.head.hash),
            recorded_at: utc_ms_text(said.head.recorded_at_ms),
            origin: said.tree.as_ref().map(|(origin, _)| origin.clone()),
            root: said.tree.as_ref().map(|(_, root)| muster_ledger::hex(root)),
            public_key: named.map(|key| muster_ledger::hex(&key)).unwrap_or_default(),
            signature,
            signature_ok,
            matches_replica,
            published,
        })
    }

    /// Whether this replica holds the same entry at the checkpoint's seq,
    /// and the same Merkle root at that size; none before it has applied it.
    fn matches(&self, said: &Vouched) -> Result<Option<bool>, QueryError> {
        let ledger = self.ledger.read().expect("replica lock");
        let seq = said.head.seq;
        if seq == 0 || seq > ledger.head().seq {
            return Ok(None);
        }
        let entry = ledger.entry(seq).map_err(internal)?;
        let same_entry = entry.is_some_and(|entry| entry.hash == said.head.hash);
        let same_root = match &said.tree {
            None => true,
            Some((_, root)) => ledger.merkle_root(seq).map_err(internal)? == Ok(*root),
        };
        Ok(Some(same_entry && same_root))
    }
}

/// How many checkpoints to list: at most `CHECKPOINTS_LISTED_MAX`, and
/// at least one (`limit: 0` asks for nothing, which is a mistake).
fn checkpoints_limit(limit: Option<u32>) -> Result<usize, QueryError> {
    let max = limits::CHECKPOINTS_LISTED_MAX;
    match limit.unwrap_or(max) {
        0 => Err(QueryError::new(QueryErrorCode::BadRequest, "limit 0: ask for 1 checkpoint or more")),
        n if n > max => {
            Err(QueryError::new(QueryErrorCode::BadRequest, format!("limit {n} is over the limit of {max}")))
        }
        n => Ok(n as usize),
    }
}

/// Whether `e` says the stream does not exist (JetStream error 10059).
fn stream_missing(e: &async_nats::jetstream::context::GetStreamError) -> bool {
    use async_nats::jetstream::context::GetStreamErrorKind;
    matches!(e.kind(), GetStreamErrorKind::JetStream(js) if js.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND)
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
