//! `muster-publish`: publishes a file of events (JSON lines or CSV, or `-`
//! for stdin) to Muster and waits for every receipt.
//!
//! Prints a summary (accepted, duplicates, rejected by reason code, no
//! receipt) and writes the rejections to a file. Exit codes: 0 every event
//! has a receipt; 1 error; 3 `--strict` and something was rejected; 4 some
//! events got no receipt (not known to be recorded: publish them again).

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use muster_bus::Topology;
use muster_proto::answers::ImportSummary;
use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_proto::limits;
use muster_publisher::input::{self, Encoding, Unpublishable};
use muster_publisher::{Outcome, Outgoing, Publisher, PublisherConfig};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "muster-publish", version, about = "Publish events to Muster and wait for receipts")]
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
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    Jsonl,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum Wire {
    Json,
    Bincode,
}

fn main() -> ExitCode {
    if let Err(e) = muster_bus::service::load_config_from_args() {
        eprintln!("muster-publish: {e}");
        return ExitCode::from(1);
    }
    let args = Args::parse();
    muster_bus::service::init_tracing_with(args.common.log_json, "warn");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("muster-publish: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Reads every line (bounded: a line over the payload limit is reported,
/// not loaded), turning each into an event or a local rejection.
fn read_events(args: &Args) -> Result<(Vec<Outgoing>, Vec<Unpublishable>)> {
    let reader: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?,
        ))
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
    let (mut events, mut failed) = (Vec::new(), Vec::new());
    if csv {
        let mut reader = csv::Reader::from_reader(reader);
        let headers = reader.headers()?.clone();
        for (i, record) in reader.records().enumerate() {
            let line = i as u64 + 1;
            let converted = record
                .map_err(|e| e.to_string())
                .and_then(|r| input::csv_record_to_json(&headers, &r, args.source.as_deref()));
            match converted {
                Ok(json) => match input::from_json_line(line, &json, encoding) {
                    Ok(event) => events.push(event),
                    Err(bad) => failed.push(bad),
                },
                Err(message) => failed.push(Unpublishable { line, code: "invalid_field".into(), message }),
            }
        }
    } else {
        let mut reader = reader;
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            number += 1;
            let read = (&mut reader).take(limits::PAYLOAD_BYTES_MAX as u64 + 1).read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            if line.last() != Some(&b'\n') && read > limits::PAYLOAD_BYTES_MAX {
                // Skip the rest of the over-long line without keeping it.
                let mut rest = Vec::new();
                while reader.read_until(b'\n', &mut rest)? > 0 && rest.last() != Some(&b'\n') {
                    rest.clear();
                }
                let message = format!("line is over {} bytes", limits::PAYLOAD_BYTES_MAX);
                failed.push(Unpublishable { line: number, code: "payload_too_large".into(), message });
                continue;
            }
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            match input::from_json_line(number, trimmed, encoding) {
                Ok(event) => events.push(event),
                Err(bad) => failed.push(bad),
            }
        }
    }
    Ok((events, failed))
}

async fn run(args: Args) -> Result<ExitCode> {
    let (events, unpublishable) = read_events(&args)?;
    let client = muster_bus::connect(&args.common.connect_config("muster-publish").map_err(anyhow::Error::msg)?)
        .await
        .context("connecting to NATS")?;
    let config = PublisherConfig {
        window: args.window.clamp(1, limits::PUBLISH_IN_FLIGHT_MAX),
        batch: args.batch.into(),
        receipt_wait: Duration::from_millis(args.receipt_wait_ms),
        ..PublisherConfig::default()
    };
    let publisher = Publisher::new(client.clone(), Topology::new(&args.common.prefix), config);
    let bar =
        if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(events.len() as u64) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} receipts  {per_sec}  eta {eta}")
            .expect("a valid template"),
    );
    let started = std::time::Instant::now();
    let outcomes = publisher.publish_all(events, |_| bar.inc(1)).await?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    let mut summary = ImportSummary::default();
    let mut rejected: Vec<serde_json::Value> = Vec::new();
    let mut no_receipt = 0u64;
    for outcome in &outcomes {
        match outcome {
            Outcome::Receipt(receipt) => {
                summary.count(receipt);
                if receipt.status == ReceiptStatus::Rejected && !receipt.duplicate {
                    rejected.push(serde_json::to_value(receipt)?);
                }
            }
            Outcome::NoReceipt { source, id, attempts } => {
                no_receipt += 1;
                eprintln!("muster-publish: no receipt for {source}/{id} after {attempts} attempts");
            }
        }
    }
    for bad in &unpublishable {
        summary.count(&unpublished_receipt(bad));
        rejected.push(serde_json::json!({"line": bad.line, "code": bad.code, "message": bad.message}));
    }
    if let Some(path) = &args.rejections {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for line in &rejected {
            writeln!(file, "{line}")?;
        }
        file.flush()?;
    }
    let per_second = outcomes.len() as f64 / elapsed.as_secs_f64().max(1e-9);
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
    Ok(if no_receipt > 0 {
        ExitCode::from(4)
    } else if args.strict && summary.rejected > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn unpublished_receipt(bad: &Unpublishable) -> Receipt {
    Receipt {
        source: String::new(),
        id: String::new(),
        seq: None,
        duplicate: false,
        status: ReceiptStatus::Rejected,
        hash: None,
        code: Some(bad.code.clone()),
        message: Some(format!("line {}: {}", bad.line, bad.message)),
        conflicts_with: Vec::new(),
    }
}
