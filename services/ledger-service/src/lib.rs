//! The ledger service (binary `muster-ledger`): the one writer of a
//! deployment's ledger.
//!
//! One event's way through it, module by module:
//!
//! 1. [`intake`] fetches intake messages from JetStream through a pull
//!    consumer, decodes each (`muster_proto::intake`: one event, or a
//!    batch of them in CloudEvents' batched mode) and cuts them, at
//!    message boundaries, into commits of at most `BATCH_EVENTS_MAX`
//!    events — at most `limits::DECODED_COMMITS_MAX` ahead of the ledger, so the
//!    next commit's JSON is decoded on one core while this one is decided
//!    and flushed on the other.
//! 2. [`commit`] hands each to `Ledger::commit_batch`, which decides,
//!    records and **flushes** it with the intake cursor, then acknowledges
//!    the batch's last message to JetStream.
//! 3. [`outbox`] publishes the receipts (one core NATS message per
//!    source), dead letters, the new blocks on the feed (each fenced on
//!    the feed message before it) and signed checkpoints — while the next
//!    batch commits; at most `limits::OUTBOX_BATCHES_MAX` committed batches wait.
//! 4. [`lookups`] answers publishers that missed a receipt, from the
//!    ledger's (source, id) index, between commits.
//!
//! An event counts as recorded when its receipt arrives, never on a PubAck
//! (ADR 0005). All this runs in a [`session`]: whatever NATS does (a
//! restart, a lost connection, a refused publish) ends one, and the next
//! starts from the ledger's own cursor; after a crash between steps 2 and
//! 3, a session's start publishes what the feed is missing. With
//! `--failover`, [`failover`] decides whether this service is the active
//! one (it holds the [`lease`]) or stands by, replaying the intake.

use anyhow::{Context, Result};
use clap::Parser as _;
use muster_bus::service::{open_failed, Exit, Failure};
use muster_bus::Topology;
use muster_ledger::{Ledger, LedgerConfig};
use muster_proto::limits;
use std::sync::{Arc, RwLock};

mod args;
mod commit;
mod ended;
mod failover;
mod intake;
pub mod lease;
mod lookups;
mod outbox;
mod session;

pub use args::Args;
pub use intake::intake_events;

/// The binary's whole life: settings, logging, run until Ctrl-C/SIGTERM.
pub fn main() -> Result<()> {
    muster_bus::service::load_config_from_args().map_err(anyhow::Error::msg)?;
    let args = Args::parse();
    muster_bus::service::init_tracing(args.common.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args, muster_bus::service::shutdown_signal()))
}

/// Runs the service until `shutdown` completes (between fetches).
///
/// The ledger stays open for the service's whole life; its work with NATS
/// runs in sessions ([`session`]). Only the ledger's own errors, and a
/// ledger that is not the feed's, stop the service.
pub async fn run(args: Args, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    assert_eq!(muster_bus::muster_payload_bytes_max(), limits::PAYLOAD_BYTES_MAX);
    // The ledger service answers no headcount: replicas do.
    let ledger = Ledger::open(&LedgerConfig { query_indexes: false, ..LedgerConfig::new(&args.ledger) })
        .map_err(|e| open_failed(e.is_held(), e, &args.ledger))?;
    tracing::info!(head_seq = ledger.head().seq, path = %args.ledger.display(), "ledger open");
    let (client, connections) = muster_bus::connect_watched(
        &args.common.connect_config("muster-ledger").map_err(|e| Failure::new(Exit::BadInput, e))?,
    )
    .await
    .context("connecting to NATS")?;
    let instance = args.instance.clone().unwrap_or_else(default_instance);
    let outbox = outbox::Outbox::new(&args, client.clone(), instance.clone())?;
    let ledger = Arc::new(RwLock::new(ledger));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let result = if args.failover {
        failover::failover(&args, &ledger, outbox, connections, stopped, &instance).await
    } else {
        // Lookups are core NATS: the subscription outlives reconnections.
        let topology = Topology::new(&args.common.prefix);
        let serving = lookups::serve(&client, &topology, &ledger).await?;
        let (_, ended) = session::active(&args, &ledger, outbox, connections, stopped).await;
        serving.abort();
        ended.into_result()
    };
    tracing::info!(head_seq = ledger.read().expect("ledger lock").head().seq, "ledger service stopped");
    result
}

/// Host name and process id: unique enough among a deployment's ledger
/// services, and says where to look.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    format!("{}-{}", if host.is_empty() { "ledger" } else { &host }, std::process::id())
}
