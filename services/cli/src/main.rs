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

mod args;
mod backend;
mod evidence;
mod local;
mod output;
mod prove;
mod query;
mod witness;

use anyhow::Result;
use args::{Cli, Command};
use backend::{connect, open_local, Backend, Place};
use clap::Parser;
use local::{checkpoint, export, import, keygen, verify_export, ImportOptions};
use muster_bus::service::{Exit, Failure};
use output::Format;
use query::query;
use std::io::Write;
use std::process::ExitCode;

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

/// A usage mistake clap cannot see (a local command given a URL, …).
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure::new(Exit::Usage, message).into()
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
            if let Command::Witness { .. } = cli.command {
                return Err(usage("witness follows the query service's checkpoints: give --nats-url"));
            }
            Backend::Local(open_local(&path, false)?)
        }
    };
    match cli.command {
        Command::Export { file } => export(backend, file.as_deref(), out),
        Command::Checkpoint { signing_key } => {
            let origin = muster_bus::Topology::new(&cli.prefix).checkpoint_origin();
            checkpoint(backend, &signing_key, &origin, out)
        }
        Command::Witness { name, signing_key, public_key, state, interval, once } => {
            let options = witness::Options {
                name: &name,
                signing_key: &signing_key,
                public_key: &public_key,
                state: &state,
                interval: std::time::Duration::from_secs(interval),
                once,
            };
            witness::run(&backend, options, format, out)
        }
        Command::Prove { source, id, seq, checkpoint, from, to, public_key, witnessed, out: file } => {
            let asked = match (from.as_deref(), to.as_deref()) {
                (Some(from), Some(to)) => prove::Prove::Consistency { from, to },
                _ => {
                    let entry = muster_proto::requests::InclusionProofRequest { source, id, seq, tree_size: None };
                    prove::Prove::Inclusion { entry, checkpoint: checkpoint.as_deref() }
                }
            };
            let checked = prove::Checked { key: public_key.as_deref(), witnessed: &witnessed, file: file.as_deref() };
            prove::prove(&backend, asked, checked, format, out)
        }
        Command::Evidence { between: args::Between { from, to, scope }, checkpoint, out: pack, public_key } => {
            let request = muster_proto::requests::AuditRequest {
                from: from.to_string(),
                to: to.to_string(),
                scope,
                known_at_seq: None,
                known_at_time: None,
            };
            let made = evidence::Make { request, checkpoint: checkpoint.as_deref(), pack: &pack };
            evidence::make(&backend, made, public_key.as_deref(), format, out)
        }
        command => {
            let asker = query::Asker::new(&backend, cli.proof);
            let code = query(&asker, command, format, out)?;
            asker.show_states(format)?;
            Ok(code)
        }
    }
}

/// The commands that read no ledger and ask no service: an export checked
/// offline, a key made, subjects and accounts printed. `None` for the rest.
fn run_without_ledger(cli: &Cli, format: Format, out: &mut impl Write) -> Result<Option<ExitCode>> {
    match &cli.command {
        Command::Verify { evidence: Some(pack), public_key: Some(key), witnessed, .. } => {
            evidence::check(pack, key, witnessed, format, out).map(Some)
        }
        Command::Verify {
            proof_file: Some(file),
            checkpoint: Some(checkpoint),
            from,
            public_key: Some(key),
            witnessed,
            ..
        } => {
            let signed = prove::Signed { to: checkpoint, from: from.as_deref(), key, witnessed };
            prove::verify_file(file, signed, format, out).map(Some)
        }
        Command::Verify { export: None, evidence: None, public_key: Some(_), .. } => Err(usage(
            "--public-key checks a --checkpoint (with --export or --proof-file) or an --evidence pack: name one",
        )),
        Command::Verify { export: Some(file), checkpoint, public_key, witnessed, .. } => {
            if let Some(checkpoint) = checkpoint {
                witness::require(&muster_bus::service::read_input(checkpoint)?, witnessed)?;
            } else if !witnessed.witnesses.is_empty() {
                return Err(usage("--witness checks a --checkpoint's cosignatures: give one"));
            }
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
