//! The ledger service (binary `muster-ledger`): the one writer of a
//! deployment's ledger.
//!
//! One event's way through it, module by module:
//!
//! 1. [`intake`] fetches intake messages from JetStream through a pull
//!    consumer, decodes each (`muster_proto::intake`: one event, or a
//!    batch of them in CloudEvents' batched mode) and cuts them, at
//!    message boundaries, into commits of at most `BATCH_EVENTS_MAX`
//!    events — at most [`DECODED_COMMITS_MAX`] ahead of the ledger, so the
//!    next commit's JSON is decoded on one core while this one is decided
//!    and flushed on the other.
//! 2. [`commit`] hands each to `Ledger::commit_batch`, which decides,
//!    records and **flushes** it with the intake cursor, then acknowledges
//!    the batch's last message to JetStream.
//! 3. [`outbox`] publishes the receipts (one core NATS message per
//!    source), dead letters, the new blocks on the feed (each fenced on
//!    the feed message before it) and signed checkpoints — while the next
//!    batch commits; at most [`OUTBOX_BATCHES_MAX`] committed batches wait.
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
use clap::Parser;
use muster_bus::service::{open_failed, Exit, Failure};
use muster_bus::Topology;
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::intake::{IntakeMessage, CONTENT_TYPE_HEADER, ID_HEADER, SOURCE_HEADER};
use muster_proto::limits;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

mod commit;
mod failover;
mod intake;
pub mod lease;
mod lookups;
mod outbox;
mod session;

pub use limits::{DECODED_COMMITS_MAX, OUTBOX_BATCHES_MAX, RECEIPTS_MESSAGE_BYTES_MAX};

/// Settings: flags, then `MUSTER_*` environment variables, then the
/// `--config` file (same names), then these defaults.
#[derive(Parser, Debug, Clone)]
#[command(name = "muster-ledger", version, about = "Muster ledger service")]
pub struct Args {
    /// NATS, prefix, config file, logging.
    #[command(flatten)]
    pub common: muster_bus::service::CommonArgs,
    /// The sled directory.
    #[arg(long, env = "MUSTER_LEDGER", default_value = "data/ledger")]
    pub ledger: PathBuf,
    /// How long a fetch waits to fill a batch, milliseconds.
    #[arg(long, env = "MUSTER_BATCH_WAIT_MS", default_value_t = limits::BATCH_WAIT_MS)]
    pub batch_wait_ms: u64,
    /// Replicas of each stream (1 on a single server, 3 on a cluster).
    #[arg(long, env = "MUSTER_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// The ed25519 key the ledger signs checkpoints of its head with
    /// (`muster keygen`); none: no checkpoints.
    #[arg(long, env = "MUSTER_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Sign a checkpoint once this many entries were committed since the
    /// last one (and every minute while anything new came, and at stop).
    #[arg(long, env = "MUSTER_CHECKPOINT_EVERY", default_value_t = limits::CHECKPOINT_EVERY_ENTRIES)]
    pub checkpoint_every: u64,
    /// How long JetStream waits for the ledger's ack before delivering a
    /// message again, milliseconds. A redelivery is harmless (the ledger
    /// passes over what it has read), only wasted work.
    #[arg(long, env = "MUSTER_ACK_WAIT_MS", default_value_t = limits::ACK_WAIT_SECS * 1000)]
    pub ack_wait_ms: u64,
    /// Take part in failover: of the ledger services started with this on
    /// one prefix, the one holding the lease (a NATS key-value bucket) is
    /// active; the others stand by, replaying the intake into their own
    /// ledgers, and one takes over when the active one stops renewing it.
    #[arg(long, env = "MUSTER_FAILOVER")]
    pub failover: bool,
    /// How long an active ledger that stopped renewing keeps the lease,
    /// milliseconds (the same for every ledger service of a prefix).
    #[arg(long, env = "MUSTER_LEASE_MS", default_value_t = limits::LEASE_MS)]
    pub lease_ms: u64,
    /// This service's name in the lease and on the feed messages it
    /// writes (default: host name and process id).
    #[arg(long, env = "MUSTER_INSTANCE")]
    pub instance: Option<String>,
}

/// The binary's whole life: settings, logging, run until Ctrl-C/SIGTERM.
pub fn main() -> Result<()> {
    muster_bus::service::load_config_from_args().map_err(anyhow::Error::msg)?;
    let args = Args::parse();
    muster_bus::service::init_tracing(args.common.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args, muster_bus::service::shutdown_signal()))
}

/// An intake message's events exactly as the service reads them (the
/// contract's decoding, bound to the subject's source). Public so that a
/// test can replay an intake stream as the service would.
pub fn intake_events(subject: &str, headers: Option<&async_nats::HeaderMap>, payload: &[u8]) -> Vec<Incoming> {
    let header = |name: &str| headers.and_then(|h| h.get(name)).map(|value| value.as_str());
    let message = IntakeMessage {
        subject,
        content_type: header(CONTENT_TYPE_HEADER),
        id: header(ID_HEADER),
        source: header(SOURCE_HEADER),
        payload,
    };
    muster_proto::intake::events(&message, Topology::subject_is_of)
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
