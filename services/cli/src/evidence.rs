//! `evidence` (make a pack, from the local ledger or the query service)
//! and `verify --evidence` (check one offline): `muster_evidence`'s.

use crate::backend::Backend;
use crate::output::{self, Format, Table};
use crate::usage;
use anyhow::{Context, Result};
use muster_bus::service::{Exit, Failure};
use muster_ledger::checkpoint::public_key;
use muster_proto::answers::CheckpointOut;
use muster_proto::requests::{AuditRequest, CheckpointsRequest};
use muster_query::answer::QueryEndpoint;
use muster_query::answer::{QueryError, QueryErrorCode};
use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// What `evidence` was asked.
pub(crate) struct Make<'a> {
    pub(crate) request: AuditRequest,
    pub(crate) checkpoint: Option<&'a Path>,
    pub(crate) pack: &'a Path,
}

/// The checkpoint to compute under: the file given, or the newest C2SP
/// checkpoint the query service holds and has applied.
fn checkpoint_text(backend: &Backend, file: Option<&Path>) -> Result<String> {
    if let Some(file) = file {
        let bytes = muster_bus::service::read_input(file)?;
        return String::from_utf8(bytes).with_context(|| format!("{} is not text", file.display()));
    }
    if matches!(backend, Backend::Local(_)) {
        return Err(usage(
            "a local ledger holds no published checkpoints: give --checkpoint FILE (`muster checkpoint` signs one)",
        ));
    }
    let listed: Vec<CheckpointOut> = backend.ask(QueryEndpoint::Checkpoints, &CheckpointsRequest { limit: None })?;
    let newest = muster_query::evidence::newest_applied(listed).ok_or_else(|| {
        Failure::new(Exit::NotFound, "the query service holds no signed checkpoint it has applied: give --checkpoint")
    })?;
    Ok(newest.published)
}

pub(crate) fn make(
    backend: &Backend,
    made: Make<'_>,
    key: Option<&str>,
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let key = key.map(public_key).transpose()?;
    let published = checkpoint_text(backend, made.checkpoint)?;
    // The asker's own failure (unreachable, not found) keeps its exit code.
    let failed = RefCell::new(None);
    let mut ask = |endpoint: QueryEndpoint, body: Vec<u8>| {
        backend.ask_json(endpoint, body).map_err(|e| {
            let message = e.to_string();
            failed.borrow_mut().get_or_insert(e);
            QueryError::new(QueryErrorCode::Internal, message)
        })
    };
    let pack = muster_query::evidence::gather(&mut ask, made.request, &published).map_err(|e| {
        failed.take().unwrap_or_else(|| {
            let exit = if e.code == QueryErrorCode::Internal { Exit::Unexpected } else { Exit::BadInput };
            Failure::new(exit, format!("{}: {}", e.code.as_str(), e.message)).into()
        })
    })?;
    let bytes = pack.zip();
    std::fs::write(made.pack, &bytes).with_context(|| format!("writing {}", made.pack.display()))?;
    let mut pairs = vec![("pack", made.pack.display().to_string()), ("bytes", bytes.len().to_string())];
    let verified = key.map(|key| muster_evidence::verify(&pack, &key));
    if let Some(Ok(v)) = &verified {
        pairs.push(("checked", format!("{} entries proven, {} members, {} figures", v.entries, v.members, v.figures)));
    }
    print(&pairs, format, out)?;
    match verified {
        Some(Err(problems)) => report_problems(&problems),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `verify --evidence PACK --public-key HEX`.
pub(crate) fn check(
    pack: &Path,
    key: &str,
    witnessed: &crate::args::Witnessed,
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let key = public_key(key)?;
    if !pack.exists() {
        return Err(Failure::new(Exit::NotFound, format!("no pack at {}", pack.display())).into());
    }
    let read = muster_evidence::read_pack(pack).map_err(|e| Failure::new(Exit::BadInput, e.to_string()))?;
    if let Some(checkpoint) = read.files.get(muster_evidence::files::CHECKPOINT) {
        crate::witness::require(checkpoint, witnessed).context("the pack's checkpoint")?;
    }
    match muster_evidence::verify(&read, &key) {
        Ok(v) => {
            let pairs = [
                ("verified", "yes".to_owned()),
                ("origin", v.origin),
                ("computed_at", format!("entry {} ({})", v.state.seq, v.state.hash)),
                ("entries_proven", v.entries.to_string()),
                ("members_traced", v.members.to_string()),
                ("figures_recomputed", v.figures.to_string()),
            ];
            print(&pairs, format, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => report_problems(&problems),
    }
}

fn print(pairs: &[(&'static str, String)], format: Format, out: &mut impl Write) -> Result<()> {
    let json: serde_json::Map<String, serde_json::Value> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str()))).collect();
    output::one(out, format, &json, Table::kv(pairs))
}

fn report_problems(problems: &[muster_evidence::Problem]) -> Result<ExitCode> {
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let message = format!("the evidence pack does not check ({} problems):\n  {}", problems.len(), listed.join("\n  "));
    Err(Failure::new(Exit::ChainBroken, message).into())
}
