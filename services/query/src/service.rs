//! The query service (binary `muster-query`): a read replica of the
//! ledger, built in its own sled from the ledger feed and verified entry
//! by entry against the hash chain, answering every query over NATS (a
//! micro service discoverable through `$SRV`) and HTTP.
//!
//! Any number of replicas can run: each has its own directory and reads
//! the feed with its own ordered consumer, from where its copy ends.

use crate::answer::{answer, parse, QueryError, ENDPOINTS};
use anyhow::{Context, Result};
use async_nats::jetstream::{self, consumer};
use async_nats::service::ServiceExt;
use clap::Parser;
use futures_util::StreamExt;
use muster_bus::service::{Exit, Failure};
use muster_bus::Topology;
use muster_ledger::{Ledger, LedgerConfig};
use muster_proto::limits;
use muster_proto::requests::{EmptyRequest, StatusAnswer};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Settings: flags, then `MUSTER_*` environment variables, then the
/// `--config` file, then these defaults.
#[derive(Parser, Debug, Clone)]
#[command(name = "muster-query", version, about = "Muster query service (read replica)")]
pub struct Args {
    /// NATS, prefix, config file, logging.
    #[command(flatten)]
    pub common: muster_bus::service::CommonArgs,
    /// This replica's own sled directory.
    #[arg(long, env = "MUSTER_REPLICA", default_value = "data/query")]
    pub replica: PathBuf,
    /// HTTP listen address, or `off`.
    #[arg(long, env = "MUSTER_HTTP", default_value = "127.0.0.1:8080")]
    pub http: String,
}

/// The binary's whole life.
pub fn main() -> Result<()> {
    muster_bus::service::load_config_from_args().map_err(anyhow::Error::msg)?;
    let args = Args::parse();
    muster_bus::service::init_tracing(args.common.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args, muster_bus::service::shutdown_signal(), |_| {}))
}

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
    /// Answers one query.
    pub async fn query(&self, endpoint: &str, body: &[u8]) -> Result<Vec<u8>, QueryError> {
        if endpoint == "status" {
            let EmptyRequest {} = parse(endpoint, body)?;
            return serde_json::to_vec(&self.status().await)
                .map_err(|e| QueryError::new(crate::answer::QueryErrorCode::Internal, e.to_string()));
        }
        let ledger = self.ledger.read().expect("replica lock");
        answer(&ledger, endpoint, body)
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

/// Runs the replica until `shutdown`; `on_ready` gets the HTTP address
/// (if any) once every endpoint is up.
pub async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()>,
    on_ready: impl FnOnce(Option<std::net::SocketAddr>),
) -> Result<()> {
    let ledger = Ledger::open(&LedgerConfig::new(&args.replica))
        .map_err(|e| muster_bus::service::open_failed(e.is_held(), e, &args.replica))?;
    tracing::info!(applied_seq = ledger.head().seq, path = %args.replica.display(), "replica open");
    let client =
        muster_bus::connect(&args.common.connect_config("muster-query").map_err(|e| Failure::new(Exit::BadInput, e))?)
            .await?;
    let js = jetstream::new(client.clone());
    let topology = Topology::new(&args.common.prefix);
    // The ledger makes the streams: a replica may not (ops/nats/secure.conf),
    // and one started first waits for the feed (`follow_feed` retries).
    let replica = Arc::new(Replica {
        ledger: RwLock::new(ledger),
        feed_seq: AtomicU64::new(0),
        chain_ok: AtomicBool::new(true),
        js,
        topology: topology.clone(),
    });
    let feed = tokio::spawn(follow_feed(replica.clone()));
    let service = client
        .service_builder()
        .description("Muster: headcount and history queries over the staffing ledger")
        .start("muster-query", env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| anyhow::anyhow!("starting the micro service: {e}"))?;
    let group = service.group(topology.query_group());
    let mut handlers = tokio::task::JoinSet::new();
    for name in ENDPOINTS.map(|e| e.name) {
        let endpoint = group.endpoint(name).await.map_err(|e| anyhow::anyhow!("endpoint {name}: {e}"))?;
        handlers.spawn(serve_endpoint(replica.clone(), name, endpoint));
    }
    let http = match args.http.as_str() {
        "off" => None,
        address => {
            let listener =
                tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
            let local = listener.local_addr()?;
            handlers.spawn(crate::http::serve(replica.clone(), listener));
            tracing::info!(%local, "HTTP API listening");
            Some(local)
        }
    };
    on_ready(http);
    shutdown.await;
    handlers.abort_all();
    feed.abort();
    let _ = service.stop().await;
    tracing::info!("query service stopped");
    Ok(())
}

async fn serve_endpoint(
    replica: Arc<Replica>,
    name: &'static str,
    mut endpoint: async_nats::service::endpoint::Endpoint,
) {
    while let Some(request) = endpoint.next().await {
        let reply = replica.query(name, &request.message.payload).await;
        let sent = match reply {
            Ok(body) => request.respond(Ok(body.into())).await,
            Err(error) => {
                // The code leads the status text too, for people reading
                // replies with the `nats` tool; clients read the body.
                // A header is one line: the message quotes what was asked,
                // so control characters go and its length is bounded.
                let text = format!("{}: {}", error.code, error.message);
                let status = async_nats::service::error::Error {
                    status: text.chars().take(512).map(|c| if c.is_control() { ' ' } else { c }).collect(),
                    code: error.http_status() as usize,
                };
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Service-Error", status.status.as_str());
                headers.insert("Nats-Service-Error-Code", status.code.to_string().as_str());
                request.respond_with_headers(Ok(error.to_json().into()), headers).await
            }
        };
        if let Err(e) = sent {
            tracing::warn!(endpoint = name, %e, "could not reply");
        }
    }
}

/// Applies the feed from where this replica's copy ends, in batches of at
/// most `FEED_BATCH_MAX` blocks (one flush each).
async fn follow_feed(replica: Arc<Replica>) {
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
