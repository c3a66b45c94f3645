//! The query service (binary `muster-query`): a read replica of the
//! ledger, built in its own sled from the ledger feed and verified entry
//! by entry against the hash chain, answering every query over NATS (a
//! micro service discoverable through `$SRV`) and HTTP.
//!
//! Any number of replicas can run: each has its own directory and reads
//! the feed with its own ordered consumer, from where its copy ends.

use crate::answer::{QueryEndpoint, QueryError};
use crate::replica::Replica;
use anyhow::{Context, Result};
use async_nats::jetstream;
use async_nats::service::ServiceExt;
use clap::Parser;
use futures_util::StreamExt;
use muster_bus::service::{Exit, Failure};
use muster_bus::Topology;
use muster_ledger::{Ledger, LedgerConfig};
use std::path::PathBuf;
use std::sync::Arc;

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
    let replica = Arc::new(Replica::new(ledger, js, topology.clone()));
    let feed = tokio::spawn(crate::replica::follow_feed(replica.clone()));
    let service = client
        .service_builder()
        .description("Muster: headcount and history queries over the staffing ledger")
        .start("muster-query", env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| anyhow::anyhow!("starting the micro service: {e}"))?;
    let group = service.group(topology.query_group());
    let mut handlers = tokio::task::JoinSet::new();
    for query in QueryEndpoint::ALL {
        let endpoint = group.endpoint(query.name()).await.map_err(|e| anyhow::anyhow!("endpoint {query}: {e}"))?;
        handlers.spawn(serve_endpoint(replica.clone(), query, endpoint));
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

/// Answers `query` over NATS: the endpoint is known from its subject, so
/// nothing here matches on names.
async fn serve_endpoint(
    replica: Arc<Replica>,
    query: QueryEndpoint,
    mut endpoint: async_nats::service::endpoint::Endpoint,
) {
    while let Some(request) = endpoint.next().await {
        let reply = replica.query(query, &request.message.payload).await.and_then(|answer| answer.to_json());
        let sent = match reply {
            Ok(body) => request.respond(Ok(body.into())).await,
            Err(error) => {
                let headers = nats_error_headers(&error);
                request.respond_with_headers(Ok(error.to_json().into()), headers).await
            }
        };
        if let Err(e) = sent {
            tracing::warn!(endpoint = query.name(), %e, "could not reply");
        }
    }
}

/// The micro service's error headers for `error`; the body is its JSON.
fn nats_error_headers(error: &QueryError) -> async_nats::HeaderMap {
    // The code leads the status text too, for people reading replies with
    // the `nats` tool; clients read the body. A header is one line: the
    // message quotes what was asked, so control characters go and its
    // length is bounded.
    let text = format!("{}: {}", error.code, error.message);
    let status: String = text.chars().take(512).map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Service-Error", status.as_str());
    headers.insert("Nats-Service-Error-Code", error.nats_code().to_string().as_str());
    headers
}
