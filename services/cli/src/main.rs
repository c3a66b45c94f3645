//! `muster`: import events into a local ledger and ask it questions.
//!
//! ```text
//! muster import  --ledger DIR events.jsonl      # or - for stdin
//! muster headcount --ledger DIR --unit U --date 2016-01-01 [--rollup] [--known-at 42|2016-01-05T00:00:00Z]
//! muster tree | roster | history | lineage | series | receipt | verify
//! muster export --ledger DIR ledger.jsonl          # the chain, for auditors
//! muster verify --export ledger.jsonl              # offline, no ledger needed
//! muster --nats nats://127.0.0.1:4222 headcount …   # ask the query service instead
//! muster --nats nats://127.0.0.1:4222 status        # how far the replica is behind
//! ```
//! Every query takes `--format table|json|csv`.
//!
//! Exit codes: 0 done; 1 error (bad arguments, unreadable file, ledger
//! error); 2 `verify` found the chain broken; 3 `import --strict` saw a
//! rejected event.

mod output;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use muster_domain::Date;
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::answers::*;
use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_proto::limits::{BATCH_EVENTS_MAX, PAYLOAD_BYTES_MAX};
use muster_proto::requests::{StatusAnswer, VerifyAnswer};
use output::{Format, SummaryRows, Table};
use serde_json::json;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "muster", version, about = "Muster: an event-sourced staffing ledger")]
struct Cli {
    /// The ledger directory (sled), for local use.
    #[arg(long, global = true, env = "MUSTER_LEDGER", default_value = "data/ledger")]
    ledger: PathBuf,
    /// Ask the query service over NATS at these URLs instead of a local
    /// ledger (comma-separated).
    #[arg(long, global = true, value_delimiter = ',')]
    nats: Option<Vec<String>>,
    /// Subject prefix of the ledger, with --nats.
    #[arg(long, global = true, env = "MUSTER_PREFIX", default_value = "muster")]
    prefix: String,
    /// NATS credentials and TLS, with --nats.
    #[command(flatten)]
    auth: muster_bus::service::NatsAuthArgs,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Log as JSON lines instead of text (logs go to stderr).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
enum Command {
    /// Import a JSONL file of CloudEvents (one per line; `-` for stdin).
    Import {
        /// The file.
        file: PathBuf,
        /// Write the receipts of rejected events here, as JSON lines.
        #[arg(long)]
        rejections: Option<PathBuf>,
        /// Exit with 3 if any event was rejected.
        #[arg(long)]
        strict: bool,
    },
    /// Posted and working headcount of a unit on a day.
    Headcount {
        #[arg(long)]
        unit: String,
        #[arg(long)]
        date: Date,
        /// Include every unit below it, as the tree stood that day.
        #[arg(long)]
        rollup: bool,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Every active unit on a day with its counts.
    Tree {
        #[arg(long)]
        date: Date,
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Staff posted at or working in a unit on a day.
    Roster {
        #[arg(long)]
        unit: String,
        #[arg(long)]
        date: Date,
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Every event that touched a staff member.
    History {
        #[arg(long)]
        staff: String,
        #[arg(long)]
        known_at: Option<String>,
    },
    /// The mergers and splits a unit came from and went into.
    Lineage {
        #[arg(long)]
        unit: String,
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Headcount of a unit on every day it changed between two dates.
    Series {
        #[arg(long)]
        unit: String,
        #[arg(long)]
        from: Date,
        #[arg(long)]
        to: Date,
        #[arg(long)]
        rollup: bool,
        #[arg(long)]
        known_at: Option<String>,
    },
    /// The front-line audit between two days: strength, moves by cause,
    /// paper moves, round trips, quotas, and the arithmetic.
    Audit {
        #[arg(long)]
        from: Date,
        #[arg(long)]
        to: Date,
        /// Audit only this unit's subtree.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        known_at: Option<String>,
        /// Also write a self-contained HTML report (charts included) here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// List every move in the table.
        #[arg(long)]
        moves: bool,
    },
    /// The receipt of one event.
    Receipt {
        #[arg(long)]
        source: String,
        #[arg(long)]
        id: String,
    },
    /// Re-walk the hash chain on disk; or, with --export, check an export
    /// file offline (no ledger, no service).
    Verify {
        /// The export to check (`muster export`), or - for stdin.
        #[arg(long)]
        export: Option<PathBuf>,
        /// With --export: a checkpoint the ledger signed (JSON); the export
        /// must reach its entry with exactly its hash.
        #[arg(long, requires = "export", requires = "public_key")]
        checkpoint: Option<PathBuf>,
        /// The ledger's public key the checkpoint must be signed by (hex),
        /// as given to the auditor out of band.
        #[arg(long, requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Sign the local ledger's head with a key file: a checkpoint to hand
    /// out with an export.
    Checkpoint {
        /// The ledger's signing key (`muster keygen`).
        #[arg(long, env = "MUSTER_SIGNING_KEY")]
        signing_key: PathBuf,
    },
    /// Make a new ed25519 signing key: writes its secret to FILE (mode
    /// 0600), prints the public key auditors are to trust.
    Keygen {
        /// Where to write the secret key (must not exist).
        file: PathBuf,
    },
    /// Print the NATS subjects of SOURCE under --prefix (intake, receipts,
    /// lookup), to scope an HR system's NATS user to its own sources.
    Subjects {
        /// The events' `source`, e.g. hr/nanhu.
        source: String,
    },
    /// Print the `accounts` block of a nats-server configuration with
    /// least-privilege users for the organisations of these subject
    /// prefixes (ops/nats/secure.conf includes it as accounts.conf).
    NatsAccounts {
        /// One subject prefix per organisation, e.g. bureau-a bureau-b.
        #[arg(required = true)]
        prefixes: Vec<String>,
    },
    /// Write every entry, checked as it is read, as an export an auditor
    /// can check offline (`muster verify --export FILE`).
    Export {
        /// Where (default: stdout).
        file: Option<PathBuf>,
    },
    /// How far a query replica is behind the ledger (with --nats).
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    muster_bus::service::init_tracing_with(cli.log_json, "warn");
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("muster: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Where queries are answered: a local ledger directory, or the query
/// service over NATS. Both speak the same JSON requests and answers
/// (`muster_proto::requests`, `muster_proto::answers`).
// One per run of the command: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Local(Ledger),
    Remote { client: async_nats::Client, topology: muster_bus::Topology, runtime: tokio::runtime::Runtime },
}

impl Backend {
    fn ask(&self, endpoint: &str, request: serde_json::Value) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(&request)?;
        match self {
            Backend::Local(ledger) => muster_query::answer::answer(ledger, endpoint, &body)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message)),
            Backend::Remote { client, topology, runtime } => runtime.block_on(async {
                let subject = format!("{}.{endpoint}", topology.query_group());
                let reply = tokio::time::timeout(QUERY_TIMEOUT, client.request(subject, body.into()))
                    .await
                    .map_err(|_| anyhow::anyhow!("the query service did not answer within {QUERY_TIMEOUT:?}"))?
                    .context("asking the query service (is muster-query running?)")?;
                let failed = reply.headers.as_ref().and_then(|h| h.get("Nats-Service-Error")).is_some();
                if failed {
                    let error: muster_proto::requests::ErrorAnswer = serde_json::from_slice(&reply.payload)?;
                    bail!("{}: {}", error.code, error.message);
                }
                Ok(reply.payload.to_vec())
            }),
        }
    }
}

const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `--known-at`: a sequence number, or an RFC 3339 UTC time.
fn with_known_at(mut request: serde_json::Value, known_at: Option<&str>) -> serde_json::Value {
    if let Some(text) = known_at {
        match text.parse::<u64>() {
            Ok(seq) => request["known_at_seq"] = seq.into(),
            Err(_) => request["known_at_time"] = text.into(),
        }
    }
    request
}

/// `keygen`: a new signing key in a file only its owner can read.
fn keygen(file: &std::path::Path, out: &mut impl Write) -> Result<ExitCode> {
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
/// alone (and, given one, against a signed checkpoint); exit 2 when its
/// chain is broken or does not match the checkpoint.
fn verify_export(
    file: &std::path::Path,
    against: Option<(&std::path::Path, &str)>,
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let mut input: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, opened))
    };
    use muster_ledger::export::ExportError;
    let checked = match against {
        None => muster_ledger::export::verify_export(&mut input),
        Some((checkpoint, key)) => {
            let bytes = std::fs::read(checkpoint).with_context(|| format!("reading {}", checkpoint.display()))?;
            let checkpoint = muster_proto::checkpoint::decode(&bytes).map_err(anyhow::Error::msg)?;
            let key = muster_ledger::checkpoint::public_key(key)?;
            muster_ledger::checkpoint::verify_export_against(&mut input, &checkpoint, &key)
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
            return Ok(ExitCode::from(2));
        }
        Err(other) => return Err(other.into()),
    };
    print_verify(&answer, format, out)
}

fn print_verify(answer: &VerifyAnswer, format: Format, out: &mut impl Write) -> Result<ExitCode> {
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
    Ok(if answer.ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).context("reading the answer")
}

fn run(cli: Cli) -> Result<ExitCode> {
    let format = match cli.format {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv,
    };
    let out = &mut std::io::stdout().lock();
    // Offline: an export is checked on its own, with no ledger opened.
    match &cli.command {
        Command::Verify { export: Some(file), checkpoint, public_key } => {
            return verify_export(file, checkpoint.as_deref().zip(public_key.as_deref()), format, out);
        }
        Command::Keygen { file } => return keygen(file, out),
        Command::Subjects { source } => {
            let topology = muster_bus::Topology::new(&cli.prefix);
            writeln!(out, "intake   {}", topology.intake_subject(source))?;
            writeln!(out, "receipts {}", topology.receipts_subject(source))?;
            writeln!(out, "lookup   {}", topology.lookup_subject(source))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::NatsAccounts { prefixes } => {
            if let Some(bad) = prefixes.iter().find(|p| !muster_bus::Topology::is_valid_prefix(p)) {
                anyhow::bail!("{bad:?} is not a subject prefix (one token of letters, digits, - and _)");
            }
            let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
            write!(out, "{}", muster_bus::permissions::accounts_conf(&prefixes))?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let backend = match &cli.nats {
        Some(urls) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let config = cli.auth.connect_config(urls.clone(), "muster").map_err(anyhow::Error::msg)?;
            let client = runtime
                .block_on(async { tokio::time::timeout(QUERY_TIMEOUT, muster_bus::connect(&config)).await })
                .map_err(|_| anyhow::anyhow!("could not reach NATS at {}", urls.join(",")))??;
            Backend::Remote { client, topology: muster_bus::Topology::new(&cli.prefix), runtime }
        }
        None => Backend::Local(
            Ledger::open(&LedgerConfig::new(&cli.ledger))
                .with_context(|| format!("opening the ledger at {}", cli.ledger.display()))?,
        ),
    };
    match cli.command {
        Command::Import { file, rejections, strict } => {
            let Backend::Local(mut ledger) = backend else {
                bail!("import writes a local ledger; to send events to the ledger service use muster-publish");
            };
            return import(&mut ledger, &file, rejections, strict, format, out);
        }
        Command::Headcount { unit, date, rollup, known_at } => {
            let request = json!({"unit": unit, "date": date.to_string(), "rollup": rollup});
            let row: HeadcountOut = parse(&backend.ask("headcount", with_known_at(request, known_at.as_deref()))?)?;
            output::one(out, format, &row, Table::headcount(&row))?;
        }
        Command::Tree { date, known_at } => {
            let request = json!({"date": date.to_string()});
            let rows: Vec<TreeNodeOut> = parse(&backend.ask("tree", with_known_at(request, known_at.as_deref()))?)?;
            output::many(out, format, &rows, Table::tree(&rows))?;
        }
        Command::Roster { unit, date, known_at } => {
            let request = json!({"unit": unit, "date": date.to_string()});
            let rows: Vec<RosterEntryOut> =
                parse(&backend.ask("roster", with_known_at(request, known_at.as_deref()))?)?;
            output::many(out, format, &rows, Table::roster(&rows))?;
        }
        Command::History { staff, known_at } => {
            let request = json!({"staff": staff});
            let rows: Vec<HistoryEntryOut> =
                parse(&backend.ask("history", with_known_at(request, known_at.as_deref()))?)?;
            output::many(out, format, &rows, Table::history(&rows))?;
        }
        Command::Lineage { unit, known_at } => {
            let request = json!({"unit": unit});
            let rows: Vec<LineageEdgeOut> =
                parse(&backend.ask("lineage", with_known_at(request, known_at.as_deref()))?)?;
            output::many(out, format, &rows, Table::lineage(&rows))?;
        }
        Command::Series { unit, from, to, rollup, known_at } => {
            let request = json!({"unit": unit, "from": from.to_string(), "to": to.to_string(), "rollup": rollup});
            let rows: Vec<SeriesPointOut> =
                parse(&backend.ask("series", with_known_at(request, known_at.as_deref()))?)?;
            output::many(out, format, &rows, Table::series(&rows))?;
        }
        Command::Audit { from, to, scope, known_at, html, moves } => {
            let request = json!({"from": from.to_string(), "to": to.to_string(), "scope": scope});
            let audit: AuditOut = parse(&backend.ask("audit", with_known_at(request, known_at.as_deref()))?)?;
            output::audit(out, format, &audit, moves)?;
            out.flush()?;
            if let Some(path) = html {
                std::fs::write(&path, muster_report::audit_html(&audit)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("report written to {}", path.display());
            }
        }
        Command::Receipt { source, id } => {
            let receipt: Receipt = parse(&backend.ask("receipt", json!({"source": source, "id": id}))?)?;
            output::one(out, format, &receipt, Table::receipts(std::slice::from_ref(&receipt)))?;
        }
        Command::Export { file } => {
            let Backend::Local(ledger) = backend else {
                bail!("export reads a local ledger: give --ledger, not --nats")
            };
            let written = match &file {
                Some(path) => {
                    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
                    muster_ledger::export::write_export(&ledger, &mut std::io::BufWriter::new(file))?
                }
                None => muster_ledger::export::write_export(&ledger, out)?,
            };
            eprintln!("exported {} entries, head hash {}", written.entries, muster_ledger::hex(&written.head_hash));
        }
        Command::Checkpoint { signing_key } => {
            let Backend::Local(ledger) = backend else { bail!("checkpoint signs a local ledger: give --ledger") };
            // The head is only signed once its chain checks.
            ledger.verify()?;
            let signer = muster_ledger::checkpoint::Signer::from_file(&signing_key)?;
            let checkpoint = signer.sign(ledger.head());
            out.write_all(&muster_proto::checkpoint::encode(&checkpoint))?;
            out.write_all(b"\n")?;
        }
        Command::Keygen { .. } | Command::Subjects { .. } | Command::NatsAccounts { .. } => unreachable!("handled before a ledger is opened"),
        Command::Verify { .. } => {
            let answer: VerifyAnswer = parse(&backend.ask("verify", json!({}))?)?;
            let code = print_verify(&answer, format, out)?;
            if !answer.ok {
                return Ok(code);
            }
        }
        Command::Status => {
            let Backend::Remote { .. } = backend else { bail!("status is a query service's: give --nats") };
            let answer: StatusAnswer = parse(&backend.ask("status", json!({}))?)?;
            let pairs = [
                ("ledger_seq", answer.ledger_seq.to_string()),
                ("applied_seq", answer.applied_seq.to_string()),
                ("behind", answer.behind.to_string()),
                ("chain_ok", answer.chain_ok.to_string()),
                ("head_hash", answer.head_hash.clone()),
            ];
            output::one(out, format, &answer, Table::kv(&pairs))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn import(
    ledger: &mut Ledger,
    file: &PathBuf,
    rejections: Option<PathBuf>,
    strict: bool,
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
        ))
    };
    let mut rejection_file = match &rejections {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut summary = ImportSummary::default();
    let mut reader = reader;
    let mut line = Vec::new();
    let mut number = 0usize;
    let mut done = false;
    while !done {
        let mut batch = Vec::with_capacity(BATCH_EVENTS_MAX);
        let mut line_numbers = Vec::with_capacity(BATCH_EVENTS_MAX);
        while batch.len() < BATCH_EVENTS_MAX {
            line.clear();
            number += 1;
            // Bounded: a line over the payload limit is never held whole.
            let read = (&mut reader).take(PAYLOAD_BYTES_MAX as u64 + 1).read_until(b'\n', &mut line)?;
            if read == 0 {
                done = true;
                break;
            }
            if line.last() != Some(&b'\n') && read > PAYLOAD_BYTES_MAX {
                let mut rest = Vec::new();
                while reader.read_until(b'\n', &mut rest)? > 0 && rest.last() != Some(&b'\n') {
                    rest.clear();
                }
                // The codec turns an over-long payload into its rejection.
                batch.push(Incoming::json(&line));
                line_numbers.push(number);
                continue;
            }
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            batch.push(Incoming::json(trimmed));
            line_numbers.push(number);
        }
        if batch.is_empty() {
            continue;
        }
        let receipts = ledger.submit_batch(batch, now_ms())?;
        for (receipt, line) in receipts.iter().zip(&line_numbers) {
            summary.count(receipt);
            if receipt.status == ReceiptStatus::Rejected && !receipt.duplicate {
                if let Some(file) = &mut rejection_file {
                    let mut value = serde_json::to_value(receipt)?;
                    value["line"] = (*line).into();
                    writeln!(file, "{value}")?;
                }
            }
        }
    }
    if let Some(file) = &mut rejection_file {
        file.flush()?;
    }
    summary.head_seq = ledger.head().seq;
    summary.head_hash = muster_ledger::hex(&ledger.head().hash);
    output::one(out, format, &summary, Table::kv(&summary.rows()))?;
    if strict && summary.rejected > 0 {
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
