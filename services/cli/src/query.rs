//! The query commands (`headcount`, `tree`, `roster`, `history`,
//! `lineage`, `series`, `audit`, `receipt`, `verify`, `status`): each made
//! a request, asked of the backend, and its answer printed. Rationale: the
//! same for a local ledger and the query service.

use crate::args::{Between, Command};
use crate::backend::Backend;
use crate::output::{self, Format, Table};
use anyhow::{Context, Result};
use muster_bus::service::Exit;
use muster_proto::answers::*;
use muster_proto::entry::Receipt;
use muster_proto::requests::{
    AuditRequest, EmptyRequest, HeadcountRequest, HistoryRequest, KnownAt, LineageRequest, ReceiptRequest,
    RosterRequest, SeriesRequest, StateRequest, StatusAnswer, TreeRequest, VerifyAnswer,
};
use muster_query::answer::QueryEndpoint;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::io::Write;
use std::process::ExitCode;

/// `--known-at` as a request's fields: a sequence number, or an RFC 3339
/// UTC time; neither when not given (now).
fn known_at(text: Option<&str>) -> KnownAt {
    match text.map(|text| (text, text.parse::<u64>())) {
        None => KnownAt::default(),
        Some((_, Ok(seq))) => KnownAt { known_at_seq: Some(seq), known_at_time: None },
        Some((text, Err(_))) => KnownAt { known_at_seq: None, known_at_time: Some(text.to_owned()) },
    }
}

/// The backend, asked with `"proof": true` when `--proof` is given: each
/// answer's state (entry, tree size, Merkle root) is kept to be shown.
pub(crate) struct Asker<'a> {
    backend: &'a Backend,
    proof: bool,
    states: RefCell<Vec<ProvenStateOut>>,
}

impl Asker<'_> {
    pub(crate) fn new(backend: &Backend, proof: bool) -> Asker<'_> {
        Asker { backend, proof, states: RefCell::new(Vec::new()) }
    }

    fn ask<A: DeserializeOwned>(&self, endpoint: QueryEndpoint, request: &impl Serialize) -> Result<A> {
        // `status` is the replica's, not an answer computed from the ledger.
        if !self.proof || endpoint == QueryEndpoint::Status {
            return self.backend.ask(endpoint, request);
        }
        let mut body = serde_json::to_value(request)?;
        body.as_object_mut().context("a request is an object")?.insert("proof".into(), true.into());
        let proven: ProvenOut<A> = self.backend.ask(endpoint, &body)?;
        self.states.borrow_mut().push(proven.state);
        Ok(proven.answer)
    }

    /// Each state an answer was computed at, on stderr (the answer itself
    /// is on stdout, in its format).
    pub(crate) fn show_states(&self, format: Format) -> Result<()> {
        for s in self.states.borrow().iter() {
            match format {
                Format::Json => eprintln!("{}", serde_json::to_string(s)?),
                Format::Table | Format::Csv => eprintln!(
                    "computed at entry {} ({}), Merkle tree of {} entries, root {}",
                    s.state.seq, s.state.hash, s.tree_size, s.root
                ),
            }
        }
        Ok(())
    }
}

/// A query command, asked of `backend` and printed in `format`.
pub(crate) fn query(backend: &Asker<'_>, command: Command, format: Format, out: &mut impl Write) -> Result<ExitCode> {
    use QueryEndpoint as E;
    match command {
        Command::Headcount { unit, date, rollup, known_at: at } => {
            let KnownAt { known_at_seq, known_at_time } = known_at(at.as_deref());
            let request = HeadcountRequest { unit, date: date.to_string(), rollup, known_at_seq, known_at_time };
            let row: HeadcountOut = backend.ask(E::Headcount, &request)?;
            output::one(out, format, &row, Table::headcount(&row))?;
        }
        Command::Tree { date, known_at: at } => {
            let KnownAt { known_at_seq, known_at_time } = known_at(at.as_deref());
            let request = TreeRequest { date: date.to_string(), known_at_seq, known_at_time };
            let rows: Vec<TreeNodeOut> = backend.ask(E::Tree, &request)?;
            output::many(out, format, &rows, Table::tree(&rows))?;
        }
        Command::Roster { unit, date, known_at: at } => {
            let KnownAt { known_at_seq, known_at_time } = known_at(at.as_deref());
            let request = RosterRequest { unit, date: date.to_string(), known_at_seq, known_at_time };
            let rows: Vec<RosterEntryOut> = backend.ask(E::Roster, &request)?;
            output::many(out, format, &rows, Table::roster(&rows))?;
        }
        Command::History { staff, known_at: at } => {
            let KnownAt { known_at_seq, known_at_time } = known_at(at.as_deref());
            let rows: Vec<HistoryEntryOut> =
                backend.ask(E::History, &HistoryRequest { staff, known_at_seq, known_at_time })?;
            output::many(out, format, &rows, Table::history(&rows))?;
        }
        Command::Lineage { unit, known_at: at } => {
            let KnownAt { known_at_seq, known_at_time } = known_at(at.as_deref());
            let rows: Vec<LineageEdgeOut> =
                backend.ask(E::Lineage, &LineageRequest { unit, known_at_seq, known_at_time })?;
            output::many(out, format, &rows, Table::lineage(&rows))?;
        }
        Command::Series { unit, from, to, rollup, known_at: at } => {
            let KnownAt { known_at_seq, known_at_time } = known_at(at.as_deref());
            let (from, to) = (from.to_string(), to.to_string());
            let request = SeriesRequest { unit, from, to, rollup, known_at_seq, known_at_time };
            let rows: Vec<SeriesPointOut> = backend.ask(E::Series, &request)?;
            output::many(out, format, &rows, Table::series(&rows))?;
        }
        Command::Audit { between: Between { from, to, scope }, known_at: at, html, xlsx, moves } => {
            let KnownAt { mut known_at_seq, mut known_at_time } = known_at(at.as_deref());
            let (from, to) = (from.to_string(), to.to_string());
            // The report and the workbook say which ledger state they
            // count: pin it first, so that the figures and the state they
            // name are one.
            let state: Option<StateOut> = if html.is_some() || xlsx.is_some() {
                Some(backend.ask(E::State, &StateRequest { known_at_seq, known_at_time: known_at_time.clone() })?)
            } else {
                None
            };
            if let Some(state) = &state {
                (known_at_seq, known_at_time) = (Some(state.seq), None);
            }
            let audit: AuditOut =
                backend.ask(E::Audit, &AuditRequest { from, to, scope, known_at_seq, known_at_time })?;
            let files =
                AuditFiles { html: html.as_deref().zip(state.as_ref()), xlsx: xlsx.as_deref().zip(state.as_ref()) };
            print_audit(&audit, files, moves, format, out)?;
        }
        Command::Receipt { source, id } => {
            let receipt: Receipt = backend.ask(E::Receipt, &ReceiptRequest { source, id })?;
            output::one(out, format, &receipt, Table::receipts(std::slice::from_ref(&receipt)))?;
        }
        Command::Verify { .. } => return print_verify(&backend.ask(E::Verify, &EmptyRequest {})?, format, out),
        Command::Status => print_status(&backend.ask(E::Status, &EmptyRequest {})?, format, out)?,
        Command::Import { .. }
        | Command::Export { .. }
        | Command::Checkpoint { .. }
        | Command::Prove { .. }
        | Command::Evidence { .. }
        | Command::Witness { .. } => {
            unreachable!("run handles them")
        }
        Command::Keygen { .. } | Command::Subjects { .. } | Command::NatsAccounts { .. } => {
            unreachable!("handled before a ledger is opened")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where to write the audit's documents, beside its table: the HTML
/// report and the workbook, each with the ledger state it was computed at.
struct AuditFiles<'a> {
    html: Option<(&'a std::path::Path, &'a StateOut)>,
    xlsx: Option<(&'a std::path::Path, &'a StateOut)>,
}

/// The audit's table, then (if asked) its HTML report and its workbook.
/// The table is flushed first: it is the answer, the files copies.
fn print_audit(
    audit: &AuditOut,
    files: AuditFiles<'_>,
    moves: bool,
    format: Format,
    out: &mut impl Write,
) -> Result<()> {
    output::audit(out, format, audit, moves)?;
    out.flush()?;
    if let Some((path, state)) = files.html {
        write_file(path, muster_web::audit_document(audit, state).as_bytes(), "report")?;
    }
    if let Some((path, state)) = files.xlsx {
        write_file(path, &muster_report::audit_xlsx(audit, state)?, "workbook")?;
    }
    Ok(())
}

fn write_file(path: &std::path::Path, bytes: &[u8], what: &str) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("{what} written to {}", path.display());
    Ok(())
}

fn print_status(answer: &StatusAnswer, format: Format, out: &mut impl Write) -> Result<()> {
    let pairs = [
        ("ledger_seq", answer.ledger_seq.to_string()),
        ("applied_seq", answer.applied_seq.to_string()),
        ("behind", answer.behind.to_string()),
        ("chain_ok", answer.chain_ok.to_string()),
        ("head_hash", answer.head_hash.clone()),
    ];
    output::one(out, format, answer, Table::kv(&pairs))
}

pub(crate) fn print_verify(answer: &VerifyAnswer, format: Format, out: &mut impl Write) -> Result<ExitCode> {
    let mut pairs = vec![("ok", answer.ok.to_string()), ("entries", answer.entries.to_string())];
    match (&answer.head_hash, answer.first_bad_seq, &answer.reason) {
        (Some(hash), _, _) => pairs.push(("head_hash", hash.clone())),
        (None, Some(seq), reason) => {
            pairs.push(("first_bad_seq", seq.to_string()));
            pairs.push(("reason", reason.clone().unwrap_or_default()));
        }
        _ => {}
    }
    output::one(out, format, answer, Table::kv(&pairs))?;
    Ok(if answer.ok { ExitCode::SUCCESS } else { Exit::ChainBroken.into() })
}
