//! Sessions: the ledger's work with NATS, one connection-life at a time.
//!
//! A session derives everything from the ledger — the intake consumer
//! from the ledger's cursor, the feed's tip from the server — catches the
//! feed up, and then takes in. Whatever NATS does ends the session: what
//! it fetched but did not commit is dropped (the next one fetches it again
//! from the cursor) and a new session starts after a pause. A session ends
//! in one of the ways [`Ended`] names, and each has its own consequence.

use crate::args::{Args, LEDGER_CONSUMER};
use crate::commit::Committer;
use crate::ended::{joined, until_set, Ended, SessionError, SessionResult};
use crate::intake::{take_in, time_ns};
use crate::outbox::Outbox;
use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use muster_bus::Topology;
use muster_ledger::{Ledger, StreamMark};
use muster_proto::limits;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The active ledger's life: sessions, one after another, until stopped,
/// or until one ends in a way no new session can mend (fatal, or demoted
/// with `--failover`). Gives the outbox back (its signer's state outlives
/// sessions).
pub(crate) async fn active(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    mut outbox: Outbox,
    connections: watch::Receiver<u64>,
    stopped: watch::Receiver<bool>,
) -> (Outbox, Ended) {
    let mut pause = Backoff::default();
    loop {
        let started = Instant::now();
        let (returned, ended) = session(args, ledger, outbox, connections.clone(), stopped.clone()).await;
        outbox = returned;
        match ended {
            Ended::Interrupted(error) => {
                tracing::warn!(error = format!("{error:#}"), "NATS session interrupted; starting another");
                if !pause.before_next(started, &mut stopped.clone()).await {
                    return (outbox, Ended::Stopped);
                }
            }
            ended => return (outbox, ended),
        }
    }
}

/// One session: streams, consumer, catch-up, then intake → commit →
/// outbox until stopped or ended. Every fetched commit is carried through
/// commit, ack, receipts and feed: the intake stops between fetches, the
/// committer drains its queue, the outbox drains the committer's.
async fn session(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    mut outbox: Outbox,
    connections: watch::Receiver<u64>,
    stopped: watch::Receiver<bool>,
) -> (Outbox, Ended) {
    // Connections made before this session began are its own.
    let mut connections = connections;
    connections.mark_unchanged();
    let consumer = match start(args, ledger, &mut outbox).await {
        Ok(consumer) => consumer,
        Err(error) => return (outbox, Err(error).into()),
    };
    let holding = outbox.holding.clone();
    let (to_outbox, committed) = tokio::sync::mpsc::channel(limits::OUTBOX_BATCHES_MAX);
    let publishing = tokio::spawn(outbox.run(committed));
    let (to_ledger, mut decoded) = tokio::sync::mpsc::channel(limits::DECODED_COMMITS_MAX);
    let wait = Duration::from_millis(args.batch_wait_ms);
    let intake = tokio::spawn(take_in(consumer, wait, stopped, connections, to_ledger, holding.clone()));
    let mut committer = Committer::new(ledger.clone(), holding);
    let committing: SessionResult<()> = async {
        while let Some(commit) = decoded.recv().await {
            if !committer.commit(commit, &to_outbox).await? {
                break;
            }
        }
        Ok(())
    }
    .await;
    drop(decoded);
    let taken = joined(intake.await, "the intake task");
    // The outbox drains what was committed, then ends.
    drop(to_outbox);
    let (mut outbox, published) = match publishing.await {
        Ok(returned) => returned,
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    };
    let mut ended = committing.and(taken).and(published);
    if ended.is_ok() {
        // Stopping: the head as it is left, signed.
        let (head, (_, root)) = {
            let ledger = ledger.read().expect("ledger lock");
            (ledger.head(), ledger.tree_head())
        };
        ended = outbox.checkpoint(head, root, true).await;
    }
    (outbox, ended.into())
}

/// A session's start: streams made (idempotent), the feed caught up with
/// the ledger, and a consumer from just after what the ledger has read.
async fn start(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    outbox: &mut Outbox,
) -> SessionResult<jetstream::consumer::PullConsumer> {
    let (js, topology) = (outbox.setup.clone(), outbox.topology.clone());
    ensure_streams(&js, &topology, args.stream_replicas).await?;
    outbox.catch_up(ledger).await?;
    // With failover each ledger service has a consumer of its own: a
    // holder that lost its lease unawares (frozen, then woken) must never
    // fetch from the new holder's consumer — it would take messages from
    // the other's position, skip to it, and record a chain of its own.
    let name = if args.failover {
        format!("{LEDGER_CONSUMER}-{}", consumer_token(&outbox.instance))
    } else {
        LEDGER_CONSUMER.to_owned()
    };
    let idle = if args.failover { limits::FAILOVER_CONSUMER_IDLE_SECS } else { 0 };
    let config = pull::Config {
        durable_name: Some(name),
        // A dead instance's consumer goes by itself.
        inactive_threshold: Duration::from_secs(idle),
        ack_policy: jetstream::consumer::AckPolicy::All,
        ack_wait: Duration::from_millis(args.ack_wait_ms.max(1)),
        max_ack_pending: limits::LEDGER_ACK_PENDING_MAX as i64,
        ..Default::default()
    };
    let (_, consumer) = consume_from_cursor(&js, &topology, ledger, config).await?;
    Ok(consumer)
}

/// A consumer of the intake made afresh from just after the message the
/// ledger read last, with `config` (its deliver policy and filter are set
/// here): the ledger owns its position in the intake (written with every
/// batch), so after a crash nothing waits for a redelivery timeout and
/// order is kept. The active ledger's and a standby's sessions both start
/// here. A durable consumer of the same name is deleted first.
pub(crate) async fn consume_from_cursor(
    js: &jetstream::Context,
    topology: &Topology,
    ledger: &RwLock<Ledger>,
    mut config: pull::Config,
) -> SessionResult<(jetstream::stream::Stream, jetstream::consumer::PullConsumer)> {
    let mark = ledger.read().expect("ledger lock").cursor_mark()?;
    let mut intake = js.get_stream(topology.intake_stream()).await.context("the intake stream")?;
    config.deliver_policy = resume_from(&mut intake, mark).await?;
    config.filter_subject = topology.intake_filter();
    if let Some(name) = &config.durable_name {
        let _ = intake.delete_consumer(name).await;
    }
    let consumer = intake.create_consumer(config.clone()).await.context("creating the intake consumer")?;
    tracing::info!(
        intake_cursor = mark.seq,
        deliver_policy = ?config.deliver_policy,
        acknowledging = config.ack_policy != jetstream::consumer::AckPolicy::None,
        "consuming the intake"
    );
    Ok((intake, consumer))
}

/// The deployment's streams, made if missing; fatal if one of their names
/// is another deployment's.
pub(crate) async fn ensure_streams(js: &jetstream::Context, topology: &Topology, replicas: usize) -> SessionResult<()> {
    topology.ensure_streams(js, replicas).await.map_err(|e| match e.downcast::<muster_bus::StreamOfAnother>() {
        Ok(taken) => SessionError::fatal(taken.0),
        Err(e) => SessionError::Interrupted(anyhow::anyhow!("creating the streams: {e}")),
    })
}

/// `instance` as a consumer name's part (letters, digits, `-`, `_`).
fn consumer_token(instance: &str) -> String {
    instance.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect()
}

/// Where to read the intake from: just after the message the ledger read
/// last — if the stream still holds that very message. A stream that lost
/// its end (a power cut within the server's sync interval, a restored
/// backup) numbers new messages from where it now ends, and the same
/// sequence names another message; then the ledger reads from the time of
/// its last message on, so no new message is skipped (one it had read
/// comes again as a duplicate, which changes nothing).
async fn resume_from(intake: &mut jetstream::stream::Stream, mark: StreamMark) -> SessionResult<DeliverPolicy> {
    if mark.seq == 0 {
        return Ok(DeliverPolicy::All);
    }
    let next = DeliverPolicy::ByStartSequence { start_sequence: mark.seq + 1 };
    if mark.time_ns == 0 {
        // Kept before times were: the sequence is all there is.
        return Ok(next);
    }
    let last = intake.info().await.context("the intake stream's state")?.state.last_sequence;
    let same = if last >= mark.seq {
        let message = intake.get_raw_message(mark.seq).await.context("the last message read")?;
        time_ns(message.time) == Some(mark.time_ns)
    } else {
        false
    };
    if same {
        return Ok(next);
    }
    let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(mark.time_ns))
        .map_err(|e| SessionError::fatal(format!("the ledger's cursor time {}: {e}", mark.time_ns)))?;
    tracing::warn!(
        cursor = mark.seq,
        stream_last = last,
        %start_time,
        "the intake stream no longer holds the last message the ledger read (it lost its end); reading from that message's time on"
    );
    Ok(DeliverPolicy::ByStartTime { start_time })
}

/// The pause before the next session after one was interrupted.
pub(crate) struct Backoff(Duration);

const PAUSE_MIN: Duration = Duration::from_millis(limits::SESSION_PAUSE_MIN_MS);
pub(crate) const PAUSE_MAX: Duration = Duration::from_millis(limits::SESSION_PAUSE_MAX_MS);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(PAUSE_MIN)
    }
}

impl Backoff {
    /// Pauses before the next session (that began at `started`); false
    /// when `stopped` meanwhile. A session that ran a while had its
    /// troubles fixed: the pauses start from the shortest again.
    pub(crate) async fn before_next(&mut self, started: Instant, stopped: &mut watch::Receiver<bool>) -> bool {
        if started.elapsed() > PAUSE_MAX * 2 {
            self.0 = PAUSE_MIN;
        }
        let pause = self.0;
        self.0 = (pause * 2).min(PAUSE_MAX);
        tracing::debug!(pause_ms = pause.as_millis() as u64, "pausing before the next session");
        tokio::select! {
            _ = tokio::time::sleep(pause) => true,
            _ = until_set(stopped) => false,
        }
    }
}
