//! Failover (`--failover`): several ledger services on one prefix, one
//! active at a time.
//!
//! The active one is whichever holds the ledger lease
//! ([`crate::lease`]); it runs the ordinary sessions, and checks the lease
//! before it publishes anything (receipts, feed blocks, checkpoints). The
//! others *stand by*: each replays the intake stream into its own ledger
//! through a consumer of its own that acknowledges nothing, and so holds
//! the active ledger's very chain — the ledger is a function of its intake
//! (see `Ledger::commit_batch`) — while it publishes nothing.
//!
//! A standby that takes the lease reads where the feed ends and replays
//! on until its ledger holds that entry; the first session then checks
//! that the feed's last entry is its own (same sequence, same hash) and
//! publishes what the feed lacks, each block fenced on the feed's tip
//! (`Nats-Expected-Last-Sequence`). Two writers can never both extend the
//! feed: a block not written on the tip is refused by the server, and the
//! one refused finds the feed ahead of it and stands by again.

use crate::args::Args;
use crate::ended::{joined, until_set, Ended, SessionError, SessionResult};
use crate::intake::{take_in, Commit};
use crate::lease::{Lease, LeaseError, Renewing};
use crate::lookups;
use crate::outbox::Outbox;
use crate::session::{active, consume_from_cursor, ensure_streams, Backoff, PAUSE_MAX};
use async_nats::jetstream::consumer::{pull, AckPolicy};
use muster_ledger::Ledger;
use muster_proto::limits;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The service's life with `--failover`: stand by until the lease is this
/// service's, be active while it is, stand by again when it is lost; until
/// stopped (the lease is then released, so a standby takes over at once)
/// or the ledger's own error.
pub(crate) async fn failover(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    mut outbox: Outbox,
    connections: watch::Receiver<u64>,
    stopped: watch::Receiver<bool>,
    instance: &str,
) -> anyhow::Result<()> {
    let ttl = Duration::from_millis(args.lease_ms.max(100));
    let Some(mut lease) = open_lease(args, &outbox, ttl, instance, stopped.clone()).await? else { return Ok(()) };
    loop {
        if !stand_by(args, ledger, &mut lease, &outbox, connections.clone(), stopped.clone()).await? {
            lease.release().await;
            return Ok(());
        }
        tracing::info!(
            instance,
            head_seq = ledger.read().expect("ledger lock").head().seq,
            "holding the lease: active"
        );
        let renewing = Renewing::start(lease);
        outbox.holding = Some(renewing.holding.clone());
        // Sessions end at a stop, or as soon as the lease is lost.
        let (halt, halted) = watch::channel(false);
        let watcher = tokio::spawn({
            let (mut stopped, mut lost) = (stopped.clone(), renewing.holding.lost.clone());
            async move {
                tokio::select! {
                    _ = until_set(&mut stopped) => {}
                    _ = until_set(&mut lost) => {}
                }
                let _ = halt.send(true);
            }
        });
        let ended = match lookups::serve(&outbox.client, &outbox.topology, ledger).await {
            Ok(serving) => {
                let (returned, ended) = active(args, ledger, outbox, connections.clone(), halted).await;
                outbox = returned;
                serving.abort();
                ended
            }
            // NATS's trouble, not the ledger's: stand by and try again.
            Err(error) => Ended::Demoted(format!("subscribing to receipt lookups: {error:#}")),
        };
        watcher.abort();
        let lost = *renewing.holding.lost.borrow();
        outbox.holding = None;
        lease = renewing.stop().await;
        match ended {
            Ended::Stopped if !lost => {
                lease.release().await;
                return Ok(());
            }
            Ended::Stopped => tracing::warn!(instance, "the lease is lost: standing by"),
            Ended::Demoted(why) => tracing::warn!(instance, error = %why, "standing by"),
            ended @ (Ended::Fatal(_) | Ended::Interrupted(_)) => {
                // A standby whose ledger is whole may carry on.
                lease.release().await;
                return ended.into_result();
            }
        }
    }
}

/// The streams and the lease bucket, made if missing; retried while NATS
/// does not answer. `None` when stopped first.
async fn open_lease(
    args: &Args,
    outbox: &Outbox,
    ttl: Duration,
    instance: &str,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<Option<Lease>> {
    loop {
        let opened = async {
            ensure_streams(&outbox.setup, &outbox.topology, args.stream_replicas).await?;
            Lease::open(&outbox.setup, &outbox.topology, args.stream_replicas, ttl, instance).await.map_err(|e| match e
            {
                LeaseError::Mismatch(message) => SessionError::fatal(message),
                other => SessionError::Interrupted(other.into()),
            })
        }
        .await;
        match opened {
            Ok(lease) => return Ok(Some(lease)),
            Err(SessionError::Fatal(error)) => return Err(error),
            Err(SessionError::Interrupted(error)) => {
                tracing::warn!(error = format!("{error:#}"), "the lease bucket; trying again")
            }
            Err(SessionError::Demoted(why)) => tracing::warn!(error = why, "the lease bucket; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PAUSE_MAX) => {}
            _ = until_set(&mut stopped) => return Ok(None),
        }
    }
}

/// Stands by: replays the intake into this service's ledger, publishing
/// nothing, and tries for the lease every `ttl / 4`. True once the lease
/// is this service's and its ledger holds every entry the feed does;
/// false when stopped first. Sessions interrupted by NATS are started
/// again, as the active ledger's are.
async fn stand_by(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    lease: &mut Lease,
    outbox: &Outbox,
    connections: watch::Receiver<u64>,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let mut pause = Backoff::default();
    loop {
        let started = Instant::now();
        match standby_session(args, ledger, lease, outbox, connections.clone(), stopped.clone()).await {
            Ok(taken) => return Ok(taken),
            Err(SessionError::Fatal(error)) => return Err(error),
            Err(error) => {
                tracing::warn!(error = ?error, "standby session interrupted; starting another");
                if !pause.before_next(started, &mut stopped).await {
                    return Ok(false);
                }
            }
        }
    }
}

/// One standby session: a consumer of the intake from just after this
/// ledger's cursor (acknowledging nothing: the active ledger's acks are
/// its own), committed to this ledger at message boundaries as the active
/// ledger would.
async fn standby_session(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    lease: &mut Lease,
    outbox: &Outbox,
    connections: watch::Receiver<u64>,
    mut stopped: watch::Receiver<bool>,
) -> SessionResult<bool> {
    let mut connections = connections;
    connections.mark_unchanged();
    let (js, topology) = (&outbox.setup, &outbox.topology);
    let config = pull::Config {
        ack_policy: AckPolicy::None,
        // Gone by itself if this service is.
        inactive_threshold: Duration::from_secs(limits::STANDBY_CONSUMER_IDLE_SECS),
        ..Default::default()
    };
    let (intake_stream, consumer) = consume_from_cursor(js, topology, ledger, config).await?;
    let consumer_name = consumer.cached_info().name.clone();
    tracing::info!("standing by: replaying the intake");
    let (halt, halted) = watch::channel(false);
    let (to_ledger, mut decoded) = mpsc::channel(limits::DECODED_COMMITS_MAX);
    let wait = Duration::from_millis(args.batch_wait_ms);
    let intake = tokio::spawn(take_in(consumer, wait, halted, connections, to_ledger, None));
    let mut tick = tokio::time::interval(lease.renew_every());
    let mut target: Takeover = None;
    let result: SessionResult<bool> = loop {
        let head = ledger.read().expect("ledger lock").head().seq;
        if let Some((feed_last, _)) = target {
            if head >= feed_last {
                break Ok(true);
            }
        }
        tokio::select! {
            commit = decoded.recv() => {
                // None: the intake task ended, with its error.
                let Some(commit) = commit else { break Ok(false) };
                if let Err(error) = replay(ledger, commit) {
                    break Err(error);
                }
                if let Some((_, progressed)) = &mut target {
                    *progressed = Instant::now();
                }
            }
            _ = until_set(&mut stopped) => break Ok(false),
            _ = tick.tick() => {
                if let Err(error) = try_to_take_over(lease, &mut target, outbox, head).await {
                    break Err(error);
                }
            }
        }
    };
    let _ = halt.send(true);
    drop(decoded);
    let taken = joined(intake.await, "the intake task");
    // Its consumer would linger until its inactivity threshold.
    if let Err(error) = intake_stream.delete_consumer(&consumer_name).await {
        tracing::debug!(%error, "deleting the standby's consumer");
    }
    match result {
        // The intake's own end: stopped, or its error.
        Ok(false) => taken.map(|()| false),
        other => other,
    }
}

/// Once the lease is this service's, the feed's last entry, which its
/// ledger must hold before it may write, and when it last progressed.
type Takeover = Option<(u64, Instant)>;

/// A standby's turn at the lease: takes it (and the feed's last entry as
/// its `target`), keeps it while replaying towards the target, or gives
/// it up when replaying stalls (the intake lacks what the last active
/// ledger read) or the lease is lost.
async fn try_to_take_over(lease: &mut Lease, target: &mut Takeover, outbox: &Outbox, head: u64) -> SessionResult<()> {
    match (lease.try_acquire().await, *target) {
        (Ok(true), None) => {
            let tip = muster_bus::feed_tip(&outbox.setup, &outbox.topology)
                .await
                .map_err(|e| SessionError::Interrupted(anyhow::anyhow!("reading the feed's tip: {e}")))?;
            tracing::info!(feed_last = tip.ledger_seq, head, "took the lease; replaying up to the feed's last entry");
            *target = Some((tip.ledger_seq, Instant::now()));
        }
        (Ok(true), Some((feed_last, progressed))) => {
            if progressed.elapsed() > Duration::from_secs(limits::TAKEOVER_STALL_SECS) {
                tracing::error!(
                    feed_last,
                    head,
                    "the feed holds entries this ledger cannot replay: the intake has nothing more for it; giving the lease up"
                );
                lease.release().await;
                *target = None;
            }
        }
        (Ok(false), Some(_)) => {
            tracing::warn!("the lease was lost while catching up");
            *target = None;
        }
        (Ok(false), None) => {}
        (Err(error), _) => tracing::debug!(%error, "trying for the lease"),
    }
    Ok(())
}

/// Commits a standby's replayed commit: the very call the active ledger
/// makes, what it did published by nobody.
fn replay(ledger: &RwLock<Ledger>, commit: Commit) -> SessionResult<()> {
    tokio::task::block_in_place(|| {
        let mut ledger = ledger.write().expect("ledger lock");
        ledger.commit_batch(commit.incoming, commit.cursor)?;
        ledger.release_pages()?;
        Ok(())
    })
}
