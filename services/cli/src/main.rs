//! `muster`: import events into a local ledger and ask it questions.
//!
//! ```text
//! muster import  --ledger DIR events.jsonl      # or - for stdin
//! muster headcount --ledger DIR --unit U --date 2016-01-01 [--rollup] [--known-at 42|2016-01-05T00:00:00Z]
//! muster tree | roster | history | lineage | series | receipt | verify
//! muster export --ledger DIR ledger.jsonl          # the chain, for auditors
//! muster verify --export ledger.jsonl              # offline, no ledger needed
//! muster --nats-url nats://127.0.0.1:4222 headcount …   # ask the query service instead
//! muster --nats-url nats://127.0.0.1:4222 status        # how far the replica is behind
//! ```
//! Every query takes `--format table|json|csv` (`--bom` for spreadsheets).
//!
//! Local or remote: `--nats-url` (old name `--nats`) asks the query
//! service, `--ledger` a local directory (not both). With neither, a ledger
//! directory in `MUSTER_LEDGER` means local; else a URL in
//! `MUSTER_NATS_URL` or `NATS_URL` means remote; else the local
//! `data/ledger`. `import`, `export` and `checkpoint` are always local.
//! Rationale: an explicit flag always wins, and a `NATS_URL` the `nats`
//! tool left in the environment never turns an import remote.
//!
//! Exit codes: the table of [`muster_bus::service::Exit`] (README.md).

mod output;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use muster_bus::service::{Exit, Failure};
use muster_domain::Date;
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::answers::*;
use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_proto::limits::{BATCH_EVENTS_MAX, PAYLOAD_BYTES_MAX};
use muster_proto::requests::{
    AuditRequest, EmptyRequest, HeadcountRequest, HistoryRequest, KnownAt, LineageRequest, ReceiptRequest,
    RosterRequest, SeriesRequest, StatusAnswer, TreeRequest, VerifyAnswer,
};
use muster_query::answer::{QueryEndpoint, QueryErrorCode};
use output::{Format, SummaryRows, Table};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "muster",
    version,
    about = "Muster: an event-sourced staffing ledger",
    after_help = muster_bus::service::Exit::help()
)]
struct Cli {
    /// The local ledger directory (sled) [env: MUSTER_LEDGER; default:
    /// data/ledger]. Queries need it to exist; only `import` creates it.
    #[arg(long, global = true)]
    ledger: Option<PathBuf>,
    /// Ask the query service over NATS at these URLs instead of a local
    /// ledger (comma-separated) [env: MUSTER_NATS_URL, then NATS_URL, used
    /// when no ledger directory is named].
    #[arg(long, alias = "nats", global = true, value_delimiter = ',', conflicts_with = "ledger")]
    nats_url: Option<Vec<String>>,
    /// Subject prefix of the ledger, with --nats-url.
    #[arg(long, global = true, env = "MUSTER_PREFIX", default_value = "muster")]
    prefix: String,
    /// NATS credentials, TLS and connect timeout, with --nats-url.
    #[command(flatten)]
    auth: muster_bus::service::NatsAuthArgs,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// With --format csv: start the output with a UTF-8 byte order mark,
    /// so spreadsheets (Excel) read non-ASCII names correctly.
    #[arg(long, global = true)]
    bom: bool,
    /// Log as JSON lines instead of text (logs go to stderr).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Aligned columns, for people.
    Table,
    /// JSON, as the query service answers.
    Json,
    /// CSV with a header row.
    Csv,
}

#[derive(Subcommand)]
enum Command {
    /// Import a JSONL file of CloudEvents (one per line; `-` for stdin), or
    /// a CSV file of events (proto/README.md, "CSV input") into the local
    /// ledger, creating it if needed.
    Import {
        /// The file: `.jsonl`, `.csv`, or - for stdin (JSONL).
        file: PathBuf,
        /// For CSV rows without a source column: their source.
        #[arg(long)]
        source: Option<String>,
        /// Write the receipts of rejected events here, as JSON lines.
        #[arg(long)]
        rejections: Option<PathBuf>,
        /// Exit with 3 if any event was rejected.
        #[arg(long)]
        strict: bool,
    },
    /// Posted and working headcount of a unit on a day.
    Headcount {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// The day, YYYY-MM-DD.
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
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: Date,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Staff posted at or working in a unit on a day.
    Roster {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: Date,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Every event that touched a staff member.
    History {
        /// The staff member's id.
        #[arg(long)]
        staff: String,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// The mergers and splits a unit came from and went into.
    Lineage {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Headcount of a unit on every day it changed between two dates.
    Series {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// The first day, YYYY-MM-DD.
        #[arg(long)]
        from: Date,
        /// The last day, YYYY-MM-DD.
        #[arg(long)]
        to: Date,
        /// Include every unit below it.
        #[arg(long)]
        rollup: bool,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// The front-line audit between two days: strength, moves by cause,
    /// paper moves, round trips, quotas, and the arithmetic.
    Audit {
        /// The first day, YYYY-MM-DD.
        #[arg(long)]
        from: Date,
        /// The last day, YYYY-MM-DD.
        #[arg(long)]
        to: Date,
        /// Audit only this unit's subtree.
        #[arg(long)]
        scope: Option<String>,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
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
        /// The event's source, e.g. hr/nanhu.
        #[arg(long)]
        source: String,
        /// The event's id.
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
    /// How far a query replica is behind the ledger (with --nats-url).
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    muster_bus::service::init_tracing_with(cli.log_json, "warn");
    match run(cli) {
        Ok(code) => code,
        // The reader went away (`muster … | head`): what it read was
        // right, and nothing is wrong to report. Rationale: as ripgrep
        // and cat do.
        Err(error) if closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("muster: {error:#}");
            Exit::of(error.chain()).into()
        }
    }
}

fn closed_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Where a command runs: a local ledger directory, or the query service at
/// these URLs (the rule is in the crate's docs and README.md).
enum Place {
    Local(PathBuf),
    Remote(Vec<String>),
}

impl Place {
    fn of(cli: &Cli) -> Place {
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

/// A usage mistake clap cannot see (a local command given a URL, …).
fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure::new(Exit::Usage, message).into()
}

/// Opens the local ledger at `path`, which must exist unless `create`.
/// Rationale: a query on a mistyped directory must not create an empty
/// ledger and answer zeros; and one a running service holds is refused at
/// once, pointing at the service (sled's lock is not waited for).
fn open_local(path: &std::path::Path, create: bool) -> Result<Ledger> {
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
    /// Asks `endpoint` with `request`; its answer as `A`. Both backends
    /// take the request as JSON, so a local query is checked exactly as the
    /// service checks it (unknown fields, values, ids).
    fn ask<A: DeserializeOwned>(&self, endpoint: QueryEndpoint, request: &impl Serialize) -> Result<A> {
        let body = serde_json::to_vec(request)?;
        let answer = match self {
            Backend::Local(ledger) => muster_query::answer::answer(ledger, endpoint, &body)
                .and_then(|answer| answer.to_json())
                .map_err(|e| query_failure(e.code.as_str(), &e.message))?,
            Backend::Remote { client, topology, runtime } => {
                runtime.block_on(ask_service(client, topology, endpoint, body))?
            }
        };
        serde_json::from_slice(&answer).context("reading the answer")
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

/// `--known-at` as a request's fields: a sequence number, or an RFC 3339
/// UTC time; neither when not given (now).
fn known_at(text: Option<&str>) -> KnownAt {
    match text.map(|text| (text, text.parse::<u64>())) {
        None => KnownAt::default(),
        Some((_, Ok(seq))) => KnownAt { known_at_seq: Some(seq), known_at_time: None },
        Some((text, Err(_))) => KnownAt { known_at_seq: None, known_at_time: Some(text.to_owned()) },
    }
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
/// alone (and, given one, against a signed checkpoint); exit 8 when its
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
        let opened = muster_bus::service::open_input(file)?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, opened))
    };
    use muster_ledger::export::ExportError;
    let checked = match against {
        None => muster_ledger::export::verify_export(&mut input),
        Some((checkpoint, key)) => {
            let bytes = muster_bus::service::read_input(checkpoint)?;
            let checkpoint = muster_proto::checkpoint::decode(&bytes).map_err(anyhow::Error::msg)?;
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
    Ok(if answer.ok { ExitCode::SUCCESS } else { Exit::ChainBroken.into() })
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Format {
        match format {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        }
    }
}

/// The whole command: the commands that need no ledger, then the place
/// it runs (which may refuse the command), then the command there.
fn run(cli: Cli) -> Result<ExitCode> {
    let format = Format::from(cli.format);
    let out = &mut output::BomFirst::new(std::io::stdout().lock(), cli.bom && matches!(format, Format::Csv));
    if let Some(code) = run_without_ledger(&cli, format, out)? {
        return Ok(code);
    }
    let backend = match Place::of(&cli) {
        Place::Remote(urls) => connect(&cli, urls)?,
        Place::Local(path) => {
            if let Command::Import { file, source, rejections, strict } = &cli.command {
                let options =
                    ImportOptions { source: source.as_deref(), rejections: rejections.as_deref(), strict: *strict };
                return import(&path, file, options, format, out);
            }
            if let Command::Status = cli.command {
                return Err(usage("status is a query service's: give --nats-url"));
            }
            Backend::Local(open_local(&path, false)?)
        }
    };
    match cli.command {
        Command::Export { file } => export(backend, file.as_deref(), out),
        Command::Checkpoint { signing_key } => checkpoint(backend, &signing_key, out),
        command => query(&backend, command, format, out),
    }
}

/// The commands that read no ledger and ask no service: an export checked
/// offline, a key made, subjects and accounts printed. `None` for the rest.
fn run_without_ledger(cli: &Cli, format: Format, out: &mut impl Write) -> Result<Option<ExitCode>> {
    match &cli.command {
        Command::Verify { export: Some(file), checkpoint, public_key } => {
            verify_export(file, checkpoint.as_deref().zip(public_key.as_deref()), format, out).map(Some)
        }
        Command::Keygen { file } => keygen(file, out).map(Some),
        Command::Subjects { source } => {
            let topology = muster_bus::Topology::new(&cli.prefix);
            writeln!(out, "intake   {}", topology.intake_subject(source))?;
            writeln!(out, "receipts {}", topology.receipts_subject(source))?;
            writeln!(out, "lookup   {}", topology.lookup_subject(source))?;
            Ok(Some(ExitCode::SUCCESS))
        }
        Command::NatsAccounts { prefixes } => {
            if let Some(bad) = prefixes.iter().find(|p| !muster_bus::Topology::is_valid_prefix(p)) {
                anyhow::bail!("{bad:?} is not a subject prefix (one token of letters, digits, - and _)");
            }
            let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
            write!(out, "{}", muster_bus::permissions::accounts_conf(&prefixes))?;
            Ok(Some(ExitCode::SUCCESS))
        }
        _ => Ok(None),
    }
}

/// The query service at `urls`, for a command that can ask it: `import`
/// writes a local ledger, and is refused before anything is connected.
fn connect(cli: &Cli, urls: Vec<String>) -> Result<Backend> {
    if matches!(cli.command, Command::Import { .. }) {
        return Err(usage("import writes a local ledger; to send events to the ledger service use muster-publish"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let config = cli.auth.connect_config(urls, "muster").map_err(|e| Failure::new(Exit::BadInput, e))?;
    let client = runtime.block_on(muster_bus::connect(&config)).context("connecting to NATS")?;
    Ok(Backend::Remote { client, topology: muster_bus::Topology::new(&cli.prefix), runtime })
}

/// A query command, asked of `backend` and printed in `format`.
fn query(backend: &Backend, command: Command, format: Format, out: &mut impl Write) -> Result<ExitCode> {
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
        Command::Audit { from, to, scope, known_at: at, html, moves } => {
            let KnownAt { known_at_seq, known_at_time } = known_at(at.as_deref());
            let (from, to) = (from.to_string(), to.to_string());
            let audit: AuditOut =
                backend.ask(E::Audit, &AuditRequest { from, to, scope, known_at_seq, known_at_time })?;
            print_audit(&audit, html.as_deref(), moves, format, out)?;
        }
        Command::Receipt { source, id } => {
            let receipt: Receipt = backend.ask(E::Receipt, &ReceiptRequest { source, id })?;
            output::one(out, format, &receipt, Table::receipts(std::slice::from_ref(&receipt)))?;
        }
        Command::Verify { .. } => return print_verify(&backend.ask(E::Verify, &EmptyRequest {})?, format, out),
        Command::Status => print_status(&backend.ask(E::Status, &EmptyRequest {})?, format, out)?,
        Command::Import { .. } | Command::Export { .. } | Command::Checkpoint { .. } => {
            unreachable!("run handles them")
        }
        Command::Keygen { .. } | Command::Subjects { .. } | Command::NatsAccounts { .. } => {
            unreachable!("handled before a ledger is opened")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The audit's table, then (if asked) its HTML report written to `html`.
/// The table is flushed first: it is the answer, the file a copy.
fn print_audit(
    audit: &AuditOut,
    html: Option<&std::path::Path>,
    moves: bool,
    format: Format,
    out: &mut impl Write,
) -> Result<()> {
    output::audit(out, format, audit, moves)?;
    out.flush()?;
    if let Some(path) = html {
        std::fs::write(path, muster_report::audit_html(audit)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
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

/// `export`: every entry of the local ledger, to `file` or `out`.
fn export(backend: Backend, file: Option<&std::path::Path>, out: &mut impl Write) -> Result<ExitCode> {
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

/// `checkpoint`: the local ledger's head, signed once its chain checks.
fn checkpoint(backend: Backend, signing_key: &std::path::Path, out: &mut impl Write) -> Result<ExitCode> {
    let Backend::Local(ledger) = backend else {
        return Err(usage("checkpoint signs a local ledger: give --ledger, not --nats-url"));
    };
    ledger.verify()?;
    let signer = muster_ledger::checkpoint::Signer::from_file(signing_key)?;
    let checkpoint = signer.sign(ledger.head());
    out.write_all(&muster_proto::checkpoint::encode(&checkpoint))?;
    out.write_all(b"\n")?;
    Ok(ExitCode::SUCCESS)
}

/// `import`'s settings besides the file.
struct ImportOptions<'a> {
    /// The source of CSV rows without a source column.
    source: Option<&'a str>,
    /// Where to write the rejections (JSON lines).
    rejections: Option<&'a std::path::Path>,
    /// Exit 3 if anything was rejected.
    strict: bool,
}

/// `import`: every line (JSONL) or row (CSV) of `file` into the ledger at
/// `path`, created if missing. A file no line of which decodes, or a CSV
/// header without the columns rows need, is refused (exit 5) before the
/// ledger is opened: nothing is written, no directory created.
fn import(
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_option_has_a_description() {
        assert_eq!(muster_bus::service::undescribed_options(&Cli::command()), Vec::<String>::new());
    }

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
