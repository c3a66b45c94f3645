//! `muster`: import events into a local ledger and ask it questions.
//!
//! ```text
//! muster import  --ledger DIR events.jsonl      # or - for stdin
//! muster headcount --ledger DIR --unit U --date 2016-01-01 [--rollup] [--known-at 42|2016-01-05T00:00:00Z]
//! muster tree | roster | history | lineage | series | receipt | verify
//! ```
//! Every query takes `--format table|json|csv`.
//!
//! Exit codes: 0 done; 1 error (bad arguments, unreadable file, ledger
//! error); 2 `verify` found the chain broken; 3 `import --strict` saw a
//! rejected event.

mod output;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use muster_domain::{Date, Seq, StaffId, UnitId};
use muster_ledger::{Incoming, Ledger, LedgerConfig, LedgerErrorKind};
use muster_proto::answers::*;
use muster_proto::entry::ReceiptStatus;
use muster_proto::limits::{BATCH_EVENTS_MAX, PAYLOAD_BYTES_MAX, SERIES_POINTS_MAX};
use output::{Format, SummaryRows, Table};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "muster", version, about = "Muster: an event-sourced staffing ledger")]
struct Cli {
    /// The ledger directory (sled).
    #[arg(long, global = true, env = "MUSTER_LEDGER", default_value = "data/ledger")]
    ledger: PathBuf,
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
    /// The receipt of one event.
    Receipt {
        #[arg(long)]
        source: String,
        #[arg(long)]
        id: String,
    },
    /// Re-walk the hash chain on disk.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("muster: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUSTER_LOG").unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let format = match cli.format {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv,
    };
    let mut ledger = Ledger::open(&LedgerConfig::new(&cli.ledger))
        .with_context(|| format!("opening the ledger at {}", cli.ledger.display()))?;
    let out = &mut std::io::stdout().lock();
    match cli.command {
        Command::Import { file, rejections, strict } => {
            return import(&mut ledger, &file, rejections, strict, format, out)
        }
        Command::Headcount { unit, date, rollup, known_at } => {
            let k = known_at_seq(&ledger, known_at.as_deref())?;
            let answer = ledger.timeline().headcount(&UnitId(unit), date, k, rollup);
            let row = HeadcountOut::new(&answer, k);
            output::one(out, format, &row, Table::headcount(&row))?;
        }
        Command::Tree { date, known_at } => {
            let k = known_at_seq(&ledger, known_at.as_deref())?;
            let rows: Vec<TreeNodeOut> = ledger.timeline().tree(date, k).iter().map(Into::into).collect();
            output::many(out, format, &rows, Table::tree(&rows))?;
        }
        Command::Roster { unit, date, known_at } => {
            let k = known_at_seq(&ledger, known_at.as_deref())?;
            let rows: Vec<RosterEntryOut> =
                ledger.timeline().roster(&UnitId(unit), date, k).iter().map(Into::into).collect();
            output::many(out, format, &rows, Table::roster(&rows))?;
        }
        Command::History { staff, known_at } => {
            let k = known_at_seq(&ledger, known_at.as_deref())?;
            let rows: Vec<HistoryEntryOut> =
                ledger.timeline().staff_history(&StaffId(staff), k).iter().map(Into::into).collect();
            output::many(out, format, &rows, Table::history(&rows))?;
        }
        Command::Lineage { unit, known_at } => {
            let k = known_at_seq(&ledger, known_at.as_deref())?;
            let rows: Vec<LineageEdgeOut> =
                ledger.timeline().lineage(&UnitId(unit), k).iter().map(Into::into).collect();
            output::many(out, format, &rows, Table::lineage(&rows))?;
        }
        Command::Series { unit, from, to, rollup, known_at } => {
            if to < from {
                bail!("--to {to} is before --from {from}");
            }
            let k = known_at_seq(&ledger, known_at.as_deref())?;
            let points = ledger.timeline().series(&UnitId(unit), from, to, k, rollup);
            if points.len() > SERIES_POINTS_MAX {
                bail!("{} points is over the limit of {SERIES_POINTS_MAX}: ask for a shorter range", points.len());
            }
            let rows: Vec<SeriesPointOut> = points.iter().map(Into::into).collect();
            output::many(out, format, &rows, Table::series(&rows))?;
        }
        Command::Receipt { source, id } => match ledger.receipt(&source, &id)? {
            Some(receipt) => output::one(out, format, &receipt, Table::receipts(std::slice::from_ref(&receipt)))?,
            None => bail!("no event {source}/{id} was ever recorded"),
        },
        Command::Verify => match ledger.verify() {
            Ok(report) => {
                let head = muster_ledger::hex(&report.head_hash);
                let row = serde_json::json!({"ok": true, "entries": report.entries, "head_hash": head});
                output::one(
                    out,
                    format,
                    &row,
                    Table::kv(&[("ok", "true".into()), ("entries", report.entries.to_string()), ("head_hash", head)]),
                )?;
            }
            Err(error) => match error.kind() {
                LedgerErrorKind::Corrupt { seq, reason } => {
                    let row = serde_json::json!({"ok": false, "first_bad_seq": seq, "reason": reason});
                    output::one(
                        out,
                        format,
                        &row,
                        Table::kv(&[
                            ("ok", "false".into()),
                            ("first_bad_seq", seq.to_string()),
                            ("reason", reason.clone()),
                        ]),
                    )?;
                    return Ok(ExitCode::from(2));
                }
                _ => return Err(error.into()),
            },
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// `--known-at`: a sequence number, or an RFC 3339 UTC time mapped to the
/// last sequence committed by then.
fn known_at_seq(ledger: &Ledger, known_at: Option<&str>) -> Result<Option<Seq>> {
    let Some(text) = known_at else { return Ok(None) };
    if let Ok(seq) = text.parse::<Seq>() {
        return Ok(Some(seq));
    }
    let ms = output::parse_utc_ms(text)
        .with_context(|| format!("--known-at '{text}' is neither a sequence nor a time like 2016-01-05T08:00:00Z"))?;
    Ok(Some(ledger.seq_at_time(ms)?))
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
