//! The service's settings, and the names it goes by on the bus.

use clap::Parser;
use muster_proto::limits;
use std::path::PathBuf;

/// The ledger's consumer on the intake stream (and its lookups' queue
/// group).
pub(crate) const LEDGER_CONSUMER: &str = "muster-ledger";

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
