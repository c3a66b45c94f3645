//! The commands on a local ledger directory, or on no ledger at all:
//! `import` (JSONL or CSV, in batches), `export`, `checkpoint`, `keygen`
//! and `verify --export`. Rationale: they write or read files and the
//! ledger directly, never the query service.

use crate::backend::{open_local, Backend};
use crate::output::{self, Format, SummaryRows, Table};
use crate::query::print_verify;
use crate::usage;
use anyhow::{Context, Result};
use muster_bus::service::{Exit, Failure};
use muster_ledger::{Incoming, Ledger};
use muster_proto::answers::ImportSummary;
use muster_proto::entry::ReceiptStatus;
use muster_proto::limits::{BATCH_EVENTS_MAX, PAYLOAD_BYTES_MAX};
use muster_proto::requests::VerifyAnswer;
use serde_json::json;
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `keygen`: a new signing key in a file only its owner can read.
pub(crate) fn keygen(file: &std::path::Path, out: &mut impl Write) -> Result<ExitCode> {
    use std::os::unix::fs::OpenOptionsExt;
    let (signer, secret) = muster_ledger::checkpoint::Signer::generate()?;
    let mut key_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("creating {} (it must not exist yet)", file.display()))?;
    key_file.write_all(format!("{secret}\n").as_bytes())?;
    key_file.sync_all()?;
    writeln!(out, "{}", signer.public_key())?;
    Ok(ExitCode::SUCCESS)
}

/// `verify --export`: the same answer as a ledger's verify, from the file
/// alone (and, given one, against a signed checkpoint); exit 8 when its
/// chain is broken or does not match the checkpoint.
pub(crate) fn verify_export(
    file: &std::path::Path,
    against: Option<(&std::path::Path, &str)>,
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let mut input: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = muster_bus::service::open_input(file)?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, opened))
    };
    use muster_ledger::export::ExportError;
    let checked = match against {
        None => muster_ledger::export::verify_export(&mut input),
        Some((checkpoint, key)) => {
            let bytes = muster_bus::service::read_input(checkpoint)?;
            // Either format: a C2SP signed note, or the first format's JSON.
            let checkpoint = muster_ledger::checkpoint::SignedCheckpoint::parse(&bytes)?;
            let key = muster_ledger::checkpoint::public_key(key)?;
            muster_ledger::export::verify_export_against(&mut input, &checkpoint, &key)
        }
    };
    let answer = match checked {
        Ok(report) => VerifyAnswer::whole(report.entries, muster_ledger::hex(&report.head_hash)),
        // Of an export, what is known is the entries before the break.
        Err(ExportError::Broken { seq, reason }) => VerifyAnswer::broken(seq - 1, seq, reason),
        // Checked and failed (forged, altered, or another ledger's), not
        // "could not check": the verify exit code.
        Err(ExportError::Checkpoint(
            e @ (muster_ledger::checkpoint::CheckpointError::BadSignature
            | muster_ledger::checkpoint::CheckpointError::Untrusted { .. }),
        )) => {
            eprintln!("muster: {e}");
            return Ok(Exit::ChainBroken.into());
        }
        Err(other) => return Err(other.into()),
    };
    print_verify(&answer, format, out)
}

/// `export`: every entry of the local ledger, to `file` or `out`.
pub(crate) fn export(backend: Backend, file: Option<&std::path::Path>, out: &mut impl Write) -> Result<ExitCode> {
    let Backend::Local(ledger) = backend else {
        return Err(usage("export reads a local ledger: give --ledger, not --nats-url"));
    };
    let written = match file {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            muster_ledger::export::write_export(&ledger, &mut std::io::BufWriter::new(file))?
        }
        None => muster_ledger::export::write_export(&ledger, out)?,
    };
    eprintln!("exported {} entries, head hash {}", written.entries, muster_ledger::hex(&written.head_hash));
    Ok(ExitCode::SUCCESS)
}

/// `checkpoint`: the local ledger's head and Merkle root, signed once its
/// chain checks, as a C2SP checkpoint under `origin`.
pub(crate) fn checkpoint(
    backend: Backend,
    signing_key: &std::path::Path,
    origin: &str,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let Backend::Local(ledger) = backend else {
        return Err(usage("checkpoint signs a local ledger: give --ledger, not --nats-url"));
    };
    ledger.verify()?;
    let signer = muster_ledger::checkpoint::Signer::from_file(signing_key)?;
    let (_, root) = ledger.tree_head();
    out.write_all(signer.sign_tree_head(origin, ledger.head(), &root).encode().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `import`'s settings besides the file.
pub(crate) struct ImportOptions<'a> {
    /// The source of CSV rows without a source column.
    pub(crate) source: Option<&'a str>,
    /// Where to write the rejections (JSON lines).
    pub(crate) rejections: Option<&'a std::path::Path>,
    /// Exit 3 if anything was rejected.
    pub(crate) strict: bool,
}

/// `import`: every line (JSONL) or row (CSV) of `file` into the ledger at
/// `path`, created if missing. A file no line of which decodes, or a CSV
/// header without the columns rows need, is refused (exit 5) before the
/// ledger is opened: nothing is written, no directory created.
pub(crate) fn import(
    path: &std::path::Path,
    file: &std::path::Path,
    options: ImportOptions,
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(muster_bus::service::open_input(file)?))
    };
    let mut feed = Feed::new(path, file, options.rejections);
    if file.extension().is_some_and(|e| e == "csv") {
        // Rows are few enough to hold (an HR export); then fed as lines.
        let mut rows = Vec::new();
        muster_publisher::input::read_csv(reader, options.source, |line, row| rows.push((line, row))).map_err(
            |bad| Failure::new(Exit::BadInput, format!("{}: line {}: {}", file.display(), bad.line, bad.message)),
        )?;
        for (line, row) in rows {
            match row {
                Ok(json) => feed.push(line as usize, Incoming::json(&json))?,
                Err(bad) => feed.reject_unread(&bad)?,
            }
        }
    } else {
        read_jsonl(reader, &mut feed)?;
    }
    let summary = feed.finish()?;
    output::one(out, format, &summary, Table::kv(&summary.rows()))?;
    if options.strict && summary.rejected > 0 {
        return Ok(Exit::Rejected.into());
    }
    Ok(ExitCode::SUCCESS)
}

/// Feeds each line of a JSONL `reader` (bounded: a line over the payload
/// limit is never held whole) to `feed`.
fn read_jsonl(mut reader: impl BufRead, feed: &mut Feed) -> Result<()> {
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        number += 1;
        let read = (&mut reader).take(PAYLOAD_BYTES_MAX as u64 + 1).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') && read > PAYLOAD_BYTES_MAX {
            let mut rest = Vec::new();
            while reader.read_until(b'\n', &mut rest)? > 0 && rest.last() != Some(&b'\n') {
                rest.clear();
            }
            // The codec turns an over-long payload into its rejection.
            feed.push(number, Incoming::json(&line))?;
            continue;
        }
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            feed.push(number, Incoming::json(trimmed))?;
        }
    }
}

/// Takes an import's events in batches into the ledger, which it opens
/// (creating it) only once a line decoded: until then it holds what it
/// read, so a file of which no line decodes changes nothing.
struct Feed<'a> {
    path: &'a std::path::Path,
    file: &'a std::path::Path,
    ledger: Option<Ledger>,
    rejections_path: Option<&'a std::path::Path>,
    rejections: Option<std::io::BufWriter<std::fs::File>>,
    /// Read, not yet submitted, with their line numbers.
    pending: Vec<(usize, Incoming)>,
    /// Why the first line that did not decode did not.
    first_undecodable: Option<String>,
    decoded_any: bool,
    /// Rejections read before any line decoded.
    unwritten_rejections: Vec<serde_json::Value>,
    summary: ImportSummary,
}

impl<'a> Feed<'a> {
    fn new(path: &'a std::path::Path, file: &'a std::path::Path, rejections: Option<&'a std::path::Path>) -> Self {
        Feed {
            path,
            file,
            ledger: None,
            rejections_path: rejections,
            rejections: None,
            pending: Vec::new(),
            first_undecodable: None,
            decoded_any: false,
            unwritten_rejections: Vec::new(),
            summary: ImportSummary::default(),
        }
    }

    fn push(&mut self, line: usize, incoming: Incoming) -> Result<()> {
        match &incoming {
            Incoming::Decoded(_) => self.decoded_any = true,
            Incoming::Undecodable { error, .. } if self.first_undecodable.is_none() => {
                self.first_undecodable = Some(format!("line {line}: {}: {}", error.code.as_str(), error.message));
            }
            Incoming::Undecodable { .. } => {}
        }
        self.pending.push((line, incoming));
        if self.decoded_any && self.pending.len() >= BATCH_EVENTS_MAX {
            self.submit()?;
        }
        Ok(())
    }

    /// A CSV row that could not become an event: counted and listed, not
    /// recorded (it has no usable id).
    fn reject_unread(&mut self, bad: &muster_publisher::input::Unpublishable) -> Result<()> {
        if self.first_undecodable.is_none() {
            self.first_undecodable = Some(format!("line {}: {}: {}", bad.line, bad.code, bad.message));
        }
        self.summary.count(&bad.receipt());
        let value = json!({"line": bad.line, "code": bad.code, "message": bad.message});
        self.write_rejection(value)
    }

    fn write_rejection(&mut self, value: serde_json::Value) -> Result<()> {
        let Some(path) = self.rejections_path else { return Ok(()) };
        if !self.decoded_any {
            // Nothing is written for a file that turns out not to be events.
            self.unwritten_rejections.push(value);
            return Ok(());
        }
        if self.rejections.is_none() {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            self.rejections = Some(std::io::BufWriter::new(file));
        }
        let file = self.rejections.as_mut().expect("opened above");
        writeln!(file, "{value}")?;
        Ok(())
    }

    fn ledger(&mut self) -> Result<&mut Ledger> {
        if self.ledger.is_none() {
            self.ledger = Some(open_local(self.path, true)?);
        }
        Ok(self.ledger.as_mut().expect("opened above"))
    }

    /// Submits what is pending, in batches of at most `BATCH_EVENTS_MAX`.
    fn submit(&mut self) -> Result<()> {
        for value in std::mem::take(&mut self.unwritten_rejections) {
            self.write_rejection(value)?;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            let (lines, batch): (Vec<usize>, Vec<Incoming>) = pending.by_ref().take(BATCH_EVENTS_MAX).unzip();
            let receipts = self.ledger()?.submit_batch(batch, now_ms())?;
            for (receipt, line) in receipts.iter().zip(lines) {
                self.summary.count(receipt);
                if receipt.status == ReceiptStatus::Rejected && !receipt.duplicate {
                    let mut value = serde_json::to_value(receipt)?;
                    value["line"] = line.into();
                    self.write_rejection(value)?;
                }
            }
        }
        Ok(())
    }

    /// Submits the rest; the summary with the ledger's head. An error if no
    /// line decoded.
    fn finish(mut self) -> Result<ImportSummary> {
        if !self.decoded_any {
            if let Some(first) = &self.first_undecodable {
                let message = format!("{}: no line decodes as an event; {first}", self.file.display());
                return Err(Failure::new(Exit::BadInput, message).into());
            }
        }
        self.submit()?;
        if let Some(file) = &mut self.rejections {
            file.flush()?;
        }
        let head = self.ledger()?.head();
        self.summary.head_seq = head.seq;
        self.summary.head_hash = muster_ledger::hex(&head.hash);
        Ok(self.summary)
    }
}
