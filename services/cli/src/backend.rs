//! Where a command runs and how it is asked: the local ledger directory or
//! the query service over NATS (`Place`), opened or connected (`Backend`),
//! and a query error code's exit code. Rationale: every query command goes
//! through here, so local and remote answers are checked alike.

use crate::args::{Cli, Command};
use crate::usage;
use anyhow::{Context, Result};
use muster_bus::service::{Exit, Failure};
use muster_ledger::{Ledger, LedgerConfig};
use muster_query::answer::{QueryEndpoint, QueryErrorCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;

/// Where a command runs: a local ledger directory, or the query service at
/// these URLs (the rule is in the crate's docs and README.md).
pub(crate) enum Place {
    Local(PathBuf),
    Remote(Vec<String>),
}

impl Place {
    pub(crate) fn of(cli: &Cli) -> Place {
        if let Some(urls) = &cli.nats_url {
            return Place::Remote(urls.clone());
        }
        let named = cli
            .ledger
            .clone()
            .or_else(|| std::env::var_os("MUSTER_LEDGER").filter(|v| !v.is_empty()).map(PathBuf::from));
        let local_only =
            matches!(cli.command, Command::Import { .. } | Command::Export { .. } | Command::Checkpoint { .. });
        match (named, muster_bus::service::nats_url_from_env()) {
            (Some(directory), _) => Place::Local(directory),
            (None, Some(urls)) if !local_only => Place::Remote(urls.split(',').map(str::to_owned).collect()),
            (None, _) => Place::Local(PathBuf::from("data/ledger")),
        }
    }
}

/// Opens the local ledger at `path`, which must exist unless `create`.
/// Rationale: a query on a mistyped directory must not create an empty
/// ledger and answer zeros; and one a running service holds is refused at
/// once, pointing at the service (sled's lock is not waited for).
pub(crate) fn open_local(path: &std::path::Path, create: bool) -> Result<Ledger> {
    if !create && !Ledger::exists_at(path) {
        let what = if path.is_dir() { "the directory holds no ledger" } else { "the directory does not exist" };
        return Err(Failure::new(
            Exit::NotFound,
            format!(
                "no ledger at {}: {what} (only `muster import` creates one; \
                 to ask the query service give --nats-url)",
                path.display()
            ),
        )
        .into());
    }
    let config = LedgerConfig { lock_wait: std::time::Duration::ZERO, ..LedgerConfig::new(path) };
    Ledger::open(&config).map_err(|error| muster_bus::service::open_failed(error.is_held(), error, path))
}

/// The exit code of a query's error code (proto/README.md).
fn exit_of_query_code(code: Option<QueryErrorCode>) -> Exit {
    use QueryErrorCode as Q;
    match code {
        Some(Q::UnitUnknown | Q::StaffUnknown | Q::NotFound) => Exit::NotFound,
        Some(Q::BadRequest | Q::UnknownField | Q::NotYetApplied) => Exit::BadInput,
        // The query service's own failure, or a code this build does not know.
        _ => Exit::Unexpected,
    }
}

fn query_failure(code: &str, message: &str) -> anyhow::Error {
    Failure::new(exit_of_query_code(QueryErrorCode::named(code)), format!("{code}: {message}")).into()
}

/// Where queries are answered: a local ledger directory, or the query
/// service over NATS. Both speak the same JSON requests and answers
/// (`muster_proto::requests`, `muster_proto::answers`).
// One per run of the command: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    Local(Ledger),
    Remote { client: async_nats::Client, topology: muster_bus::Topology, runtime: tokio::runtime::Runtime },
}

impl Backend {
    /// Asks `endpoint` with `request`; its answer as `A`. Both backends
    /// take the request as JSON, so a local query is checked exactly as the
    /// service checks it (unknown fields, values, ids).
    pub(crate) fn ask<A: DeserializeOwned>(&self, endpoint: QueryEndpoint, request: &impl Serialize) -> Result<A> {
        let answer = self.ask_json(endpoint, serde_json::to_vec(request)?)?;
        serde_json::from_slice(&answer).context("reading the answer")
    }

    /// Asks `endpoint` with a JSON body; its JSON answer.
    pub(crate) fn ask_json(&self, endpoint: QueryEndpoint, body: Vec<u8>) -> Result<Vec<u8>> {
        match self {
            Backend::Local(ledger) => muster_query::answer::answer(ledger, endpoint, &body)
                .and_then(|answer| answer.to_json())
                .map_err(|e| query_failure(e.code.as_str(), &e.message)),
            Backend::Remote { client, topology, runtime } => {
                runtime.block_on(ask_service(client, topology, endpoint, body))
            }
        }
    }
}

impl Backend {
    /// The deployment's subjects (remote only; a witness's).
    pub(crate) fn topology(&self) -> &muster_bus::Topology {
        match self {
            Backend::Remote { topology, .. } => topology,
            Backend::Local(_) => unreachable!("only a remote backend has subjects"),
        }
    }

    /// Publishes `payload` on `subject` and waits until the server has it
    /// (a flush): core NATS, for whoever listens (remote only).
    pub(crate) fn publish(&self, subject: String, payload: Vec<u8>) -> Result<()> {
        let Backend::Remote { client, runtime, .. } = self else {
            unreachable!("only a remote backend publishes");
        };
        runtime
            .block_on(async {
                client.publish(subject.clone(), payload.into()).await?;
                client.flush().await?;
                Ok::<_, anyhow::Error>(())
            })
            .with_context(|| format!("publishing on {subject}"))
            .map_err(|e| Failure::new(Exit::Unreachable, format!("{e:#}")).into())
    }
}

/// Asks the query service over NATS; its answer's JSON. No responder, a
/// timeout or a lost connection is unreachable (exit 7); an error answer
/// ends with the exit of its code.
async fn ask_service(
    client: &async_nats::Client,
    topology: &muster_bus::Topology,
    endpoint: QueryEndpoint,
    body: Vec<u8>,
) -> Result<Vec<u8>> {
    let subject = format!("{}.{endpoint}", topology.query_group());
    let unreachable = |why: String| Failure::new(Exit::Unreachable, why);
    let reply = tokio::time::timeout(QUERY_TIMEOUT, client.request(subject.clone(), body.into()))
        .await
        .map_err(|_| unreachable(format!("the query service did not answer within {QUERY_TIMEOUT:?}")))?
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::NoResponders => unreachable(format!(
                "no query service answers on {subject} (is muster-query running, with this --prefix?)"
            )),
            _ => unreachable(format!("asking the query service: {e}")),
        })?;
    let failed = reply.headers.as_ref().and_then(|h| h.get("Nats-Service-Error")).is_some();
    if failed {
        let error: muster_proto::requests::ErrorAnswer = serde_json::from_slice(&reply.payload)?;
        return Err(query_failure(&error.code, &error.message));
    }
    Ok(reply.payload.to_vec())
}

const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The query service at `urls`, for a command that can ask it: `import`
/// writes a local ledger, and is refused before anything is connected.
pub(crate) fn connect(cli: &Cli, urls: Vec<String>) -> Result<Backend> {
    if matches!(cli.command, Command::Import { .. }) {
        return Err(usage("import writes a local ledger; to send events to the ledger service use muster-publish"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let config = cli.auth.connect_config(urls, "muster").map_err(|e| Failure::new(Exit::BadInput, e))?;
    let client = runtime.block_on(muster_bus::connect(&config)).context("connecting to NATS")?;
    Ok(Backend::Remote { client, topology: muster_bus::Topology::new(&cli.prefix), runtime })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_error_codes_have_their_exit_codes() {
        let cases = [
            ("unit_unknown", Exit::NotFound),
            ("staff_unknown", Exit::NotFound),
            ("not_found", Exit::NotFound),
            ("bad_request", Exit::BadInput),
            ("unknown_field", Exit::BadInput),
            ("internal", Exit::Unexpected),
            ("from_a_newer_replica", Exit::Unexpected),
        ];
        for (code, exit) in cases {
            assert_eq!(exit_of_query_code(QueryErrorCode::named(code)), exit, "{code}");
        }
    }
}
