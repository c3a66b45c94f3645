//! `muster-publish`: publishes a file of events (JSON lines or CSV, or `-`
//! for stdin) to Muster and waits for every receipt.
//!
//! Prints a summary (accepted, duplicates, rejected by reason code, no
//! receipt, the head seen) and writes the rejections, each with its input
//! line, to a file. Says so on stderr when receipts stop coming. Exit
//! codes: the table of [`muster_bus::service::Exit`] (README.md): 3
//! `--strict` and something was rejected; 4 some events got no receipt
//! (not known to be recorded: publish them again); 5 no line of the file
//! decodes, or its CSV header lacks columns; 7 NATS not reachable.

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use muster_bus::service::{Exit, Failure};
use muster_bus::Topology;
use muster_proto::answers::ImportSummary;
use muster_proto::entry::ReceiptStatus;
use muster_proto::limits;
use muster_publisher::input::{self, Encoding, Unpublishable};
use muster_publisher::{Outcome, Outgoing, PublishErrorKind, Publisher, PublisherConfig};
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "muster-publish",
    version,
    about = "Publish events to Muster and wait for receipts",
    after_help = Exit::help()
)]
struct Args {
    /// NATS, prefix, config file, logging.
    #[command(flatten)]
    common: muster_bus::service::CommonArgs,
    /// The events: .jsonl / .csv, or - for stdin.
    file: PathBuf,
    /// Input format (default: by extension; stdin is JSONL).
    #[arg(long, value_enum)]
    input: Option<InputFormat>,
    /// Encoding on the wire.
    #[arg(long, value_enum, default_value_t = Wire::Json)]
    wire: Wire,
    /// Source for CSV rows without a source column.
    #[arg(long)]
    source: Option<String>,
    /// Most events in flight.
    #[arg(long, default_value_t = limits::PUBLISH_IN_FLIGHT_MAX)]
    window: usize,
    /// Most JSON events in one message (CloudEvents' batched mode); 1 sends
    /// one event per message. Bincode events always go one per message.
    #[arg(long, default_value_t = limits::PUBLISH_BATCH_EVENTS as u16,
          value_parser = clap::value_parser!(u16).range(1..=limits::BATCH_MESSAGE_EVENTS_MAX as i64))]
    batch: u16,
    /// Milliseconds to wait for a receipt before publishing again.
    #[arg(long, default_value_t = limits::RECEIPT_WAIT_MS)]
    receipt_wait_ms: u64,
    /// Write the rejected events' receipts here (JSON lines).
    #[arg(long)]
    rejections: Option<PathBuf>,
    /// Write the summary here as JSON.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Exit with 3 if any event was rejected.
    #[arg(long)]
    strict: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// After this many milliseconds without a receipt, say on stderr that
    /// it is waiting for the ledger (and again as often while it waits).
    #[arg(long, default_value_t = WAITING_NOTICE_MS)]
    waiting_notice_ms: u64,
}

use muster_proto::limits::{REJECTIONS_SHOWN_MAX, WAITING_NOTICE_MS};

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    /// One CloudEvent (JSON) per line.
    Jsonl,
    /// One event per row (proto/README.md, "CSV input").
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum Wire {
    /// CloudEvents JSON, as read.
    Json,
    /// The bincode envelope (smaller, faster to decode).
    Bincode,
}

/// The input lines each event came from, by (source, id): a rejection
/// names them. Several: the same id on more than one line.
type LinesOfEvent = HashMap<(String, String), Vec<u64>>;

/// What was read: the events, the lines that could not become one, and
/// the line each event came from.
struct Input {
    events: Vec<Outgoing>,
    unpublishable: Vec<Unpublishable>,
    lines: LinesOfEvent,
}

fn main() -> ExitCode {
    if let Err(e) = muster_bus::service::load_config_from_args() {
        eprintln!("muster-publish: {e}");
        return Exit::BadInput.into();
    }
    let args = Args::parse();
    muster_bus::service::init_tracing_with(args.common.log_json, "warn");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("muster-publish: {e:#}");
            Exit::of(e.chain()).into()
        }
    }
}

/// Reads every line (bounded: a line over the payload limit is reported,
/// not loaded), turning each into an event or a local rejection. A file
/// no line of which decodes, or a CSV header without the columns rows
/// need, is refused ([`Exit::BadInput`]) before anything is sent.
fn read_events(args: &Args) -> Result<Input> {
    let reader: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(muster_bus::service::open_input(&args.file)?))
    };
    let csv = match args.input {
        Some(InputFormat::Csv) => true,
        Some(InputFormat::Jsonl) => false,
        None => args.file.extension().is_some_and(|e| e == "csv"),
    };
    let encoding = match args.wire {
        Wire::Json => Encoding::Json,
        Wire::Bincode => Encoding::Bincode,
    };
    let mut input = Input { events: Vec::new(), unpublishable: Vec::new(), lines: HashMap::new() };
    let mut first_undecodable: Option<String> = None;
    let mut decoded_any = false;
    let mut take = |number: u64, line: Result<&[u8], Unpublishable>| {
        let line = line.and_then(|bytes| {
            // Checked until one line decodes: a file of which none does
            // is not events at all (a wrong file, a CSV as JSONL, …).
            if !decoded_any {
                match muster_proto::cloudevents::decode_json(bytes) {
                    Ok(_) => decoded_any = true,
                    Err(e) if first_undecodable.is_none() => {
                        first_undecodable = Some(format!("line {number}: {}: {}", e.code.as_str(), e.message));
                    }
                    Err(_) => {}
                }
            }
            input::from_json_line(number, bytes, encoding)
        });
        match line {
            Ok(event) => {
                input.lines.entry((event.source.clone(), event.id.clone())).or_default().push(number);
                input.events.push(event);
            }
            Err(bad) => {
                if first_undecodable.is_none() {
                    first_undecodable = Some(format!("line {}: {}: {}", bad.line, bad.code, bad.message));
                }
                input.unpublishable.push(bad);
            }
        }
    };
    if csv {
        input::read_csv(reader, args.source.as_deref(), |number, row| match row {
            Ok(json) => take(number, Ok(&json)),
            Err(bad) => take(number, Err(bad)),
        })
        .map_err(|bad| {
            let message = format!("{}: line {}: {}", args.file.display(), bad.line, bad.message);
            Failure::new(Exit::BadInput, message)
        })?;
    } else {
        read_jsonl_lines(reader, &mut take)?;
    }
    if !decoded_any {
        if let Some(first) = first_undecodable {
            let message = format!("{}: no line decodes as an event; {first}", args.file.display());
            return Err(Failure::new(Exit::BadInput, message).into());
        }
    }
    Ok(input)
}

/// Hands each non-empty line of `reader` to `take`, with its number; a line
/// over the payload limit as an [`Unpublishable`], never loaded whole.
fn read_jsonl_lines(mut reader: impl BufRead, take: &mut impl FnMut(u64, Result<&[u8], Unpublishable>)) -> Result<()> {
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        number += 1;
        let read = (&mut reader).take(limits::PAYLOAD_BYTES_MAX as u64 + 1).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') && read > limits::PAYLOAD_BYTES_MAX {
            // Skip the rest of the over-long line without keeping it.
            let mut rest = Vec::new();
            while reader.read_until(b'\n', &mut rest)? > 0 && rest.last() != Some(&b'\n') {
                rest.clear();
            }
            let message = format!("line is over {} bytes", limits::PAYLOAD_BYTES_MAX);
            take(number, Err(Unpublishable { line: number, code: "payload_too_large".into(), message }));
            continue;
        }
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            take(number, Ok(trimmed));
        }
    }
}

/// The whole run: read, publish, then tally the outcomes and report them.
async fn run(args: Args) -> Result<ExitCode> {
    let Input { events, unpublishable, lines } = read_events(&args)?;
    let (outcomes, elapsed) = publish(&args, events).await?;
    let tally = tally(&outcomes, &unpublishable, &lines)?;
    report(&args, &tally, outcomes.len(), elapsed)?;
    Ok(if tally.no_receipt > 0 {
        Exit::NoReceipt.into()
    } else if args.strict && tally.summary.rejected > 0 {
        Exit::Rejected.into()
    } else {
        ExitCode::SUCCESS
    })
}

/// Publishes `events` and waits for their outcomes, showing progress (a
/// bar, and notices while receipts do not come); the outcomes and how long
/// publishing took (connecting not included).
async fn publish(args: &Args, events: Vec<Outgoing>) -> Result<(Vec<Outcome>, Duration)> {
    let config = args.common.connect_config("muster-publish").map_err(|e| Failure::new(Exit::BadInput, e))?;
    let client = muster_bus::connect(&config).await.context("connecting to NATS")?;
    let config = PublisherConfig {
        window: args.window.clamp(1, limits::PUBLISH_IN_FLIGHT_MAX),
        batch: args.batch.into(),
        receipt_wait: Duration::from_millis(args.receipt_wait_ms),
        ..PublisherConfig::default()
    };
    let give_up_after = config.receipt_wait * (config.attempts * (config.attempts + 1) / 2);
    let publisher = Publisher::new(client.clone(), Topology::new(&args.common.prefix), config);
    let bar =
        if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(events.len() as u64) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} receipts  {per_sec}  eta {eta}")
            .expect("a valid template"),
    );
    let started = Instant::now();
    let waiting = Arc::new(Mutex::new(Waiting { last_receipt: started, outstanding: events.len() as u64 }));
    let notices = tokio::spawn(waiting_notices(
        waiting.clone(),
        Duration::from_millis(args.waiting_notice_ms.max(1)),
        give_up_after,
        bar.clone(),
    ));
    let outcomes = publisher
        .publish_all(events, |outcome| {
            bar.inc(1);
            let mut waiting = waiting.lock().expect("waiting lock");
            waiting.outstanding = waiting.outstanding.saturating_sub(1);
            if let Outcome::Receipt(_) = outcome {
                waiting.last_receipt = Instant::now();
            }
        })
        .await;
    notices.abort();
    let outcomes = outcomes.map_err(|e| match e.kind {
        // Nothing will ever record these events: no ledger runs here.
        PublishErrorKind::NoIntakeStream => anyhow::Error::from(Failure::new(Exit::Unreachable, e.message)),
        _ => e.into(),
    })?;
    bar.finish_and_clear();
    Ok((outcomes, started.elapsed()))
}

/// What the outcomes add up to.
struct Tally {
    summary: ImportSummary,
    /// Every rejection with its input line, in line order: the ledger's
    /// receipts and the lines that never became events.
    rejected: Vec<serde_json::Value>,
    /// Events given up on without a receipt.
    no_receipt: u64,
}

/// Counts the outcomes and the unpublishable lines; says on stderr which
/// events got no receipt, as they are counted.
fn tally(outcomes: &[Outcome], unpublishable: &[Unpublishable], lines: &LinesOfEvent) -> Result<Tally> {
    let mut tally = Tally { summary: ImportSummary::default(), rejected: Vec::new(), no_receipt: 0 };
    // The n-th outcome of a (source, id) — a receipt or none — is that of
    // its n-th line (the publisher sends a key's lines one after another).
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut line_of = |source: &str, id: &str| {
        let nth = seen.entry((source.to_owned(), id.to_owned())).or_default();
        let line = lines.get(&(source.to_owned(), id.to_owned())).and_then(|l| l.get(*nth)).copied();
        *nth += 1;
        line
    };
    let summary = &mut tally.summary;
    for outcome in outcomes {
        match outcome {
            Outcome::Receipt(receipt) => {
                summary.count(receipt);
                if receipt.seq > Some(summary.head_seq) {
                    if let (Some(seq), Some(hash)) = (receipt.seq, &receipt.hash) {
                        (summary.head_seq, summary.head_hash) = (seq, hash.clone());
                    }
                }
                let line = line_of(&receipt.source, &receipt.id);
                if receipt.status == ReceiptStatus::Rejected && !receipt.duplicate {
                    let mut value = serde_json::to_value(receipt)?;
                    value["line"] = line.into();
                    tally.rejected.push(value);
                }
            }
            Outcome::NoReceipt { source, id, attempts } => {
                tally.no_receipt += 1;
                let line = line_of(source, id).map_or(String::new(), |line| format!("line {line}: "));
                eprintln!("muster-publish: {line}no receipt for {source}/{id} after {attempts} attempts");
            }
        }
    }
    for bad in unpublishable {
        summary.count(&bad.receipt());
        tally.rejected.push(serde_json::json!({"line": bad.line, "code": bad.code, "message": bad.message}));
    }
    tally.rejected.sort_by_key(|r| r["line"].as_u64());
    Ok(tally)
}

/// The rejections (stderr, and the `--rejections` file), the summary
/// (`--summary` file) and the one line on stdout.
fn report(args: &Args, tally: &Tally, outcomes: usize, elapsed: Duration) -> Result<()> {
    let Tally { summary, rejected, no_receipt } = tally;
    show_rejections(rejected, args.rejections.is_some());
    if let Some(path) = &args.rejections {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for line in rejected {
            writeln!(file, "{line}")?;
        }
        file.flush()?;
    }
    let per_second = outcomes as f64 / elapsed.as_secs_f64().max(1e-9);
    let report = serde_json::json!({"summary": summary, "no_receipt": no_receipt, "seconds": elapsed.as_secs_f64(), "receipts_per_second": per_second});
    if let Some(path) = &args.summary {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    let by_code: Vec<String> = summary.rejected_by_code.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "published {}  accepted {}  duplicates {}  rejected {} [{}]  no receipt {}  in {:.2}s ({:.0}/s)",
        summary.submitted + no_receipt,
        summary.accepted,
        summary.duplicates,
        summary.rejected,
        by_code.join(" "),
        no_receipt,
        elapsed.as_secs_f64(),
        per_second
    );
    Ok(())
}

/// Lists the first rejections on stderr, each with its input line.
fn show_rejections(rejected: &[serde_json::Value], written_to_file: bool) {
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    for rejection in rejected.iter().take(REJECTIONS_SHOWN_MAX) {
        let line = rejection["line"].as_u64().map_or("?".into(), |l| l.to_string());
        let event = match (text(&rejection["source"]), text(&rejection["id"])) {
            (source, id) if !id.is_empty() => format!(" {source}/{id}"),
            _ => String::new(),
        };
        eprintln!(
            "muster-publish: line {line}:{event} rejected: {}: {}",
            text(&rejection["code"]),
            text(&rejection["message"])
        );
    }
    if rejected.len() > REJECTIONS_SHOWN_MAX {
        let more = rejected.len() - REJECTIONS_SHOWN_MAX;
        let hint = if written_to_file { "all are in the --rejections file" } else { "--rejections FILE lists all" };
        eprintln!("muster-publish: … and {more} more rejections ({hint})");
    }
}

/// What the waiting notices read: when the last receipt came, and how
/// many events still wait for theirs.
struct Waiting {
    last_receipt: Instant,
    outstanding: u64,
}

/// Says on stderr, every `quiet` while no receipt comes, that it is
/// waiting for the ledger: how many events are outstanding and how long
/// it will still wait for them (each event is given up after
/// `give_up_after` without its receipt: exit 4). Runs until aborted.
async fn waiting_notices(
    waiting: Arc<Mutex<Waiting>>,
    quiet: Duration,
    give_up_after: Duration,
    bar: indicatif::ProgressBar,
) {
    let mut last_notice: Option<Instant> = None;
    loop {
        tokio::time::sleep(quiet.clamp(Duration::from_millis(50), Duration::from_secs(1))).await;
        let (since, outstanding) = {
            let waiting = waiting.lock().expect("waiting lock");
            (waiting.last_receipt.elapsed(), waiting.outstanding)
        };
        let due = last_notice.is_none_or(|at| at.elapsed() >= quiet);
        if since < quiet || outstanding == 0 || !due {
            if since < quiet {
                last_notice = None;
            }
            continue;
        }
        last_notice = Some(Instant::now());
        let left = give_up_after.saturating_sub(since);
        bar.suspend(|| {
            eprintln!(
                "muster-publish: waiting for the ledger: no receipt for {} s, {outstanding} events outstanding; \
                 waiting up to {} s more (then exit 4: publish again, safely)",
                since.as_secs(),
                left.as_secs()
            )
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_option_has_a_description() {
        use clap::CommandFactory;
        assert_eq!(muster_bus::service::undescribed_options(&super::Args::command()), Vec::<String>::new());
    }
}
