//! `muster-bench`: the benchmark harness. `muster-bench run` generates the
//! synthetic ledger (or reuses it), measures every figure of issue 5 next to
//! its baseline from the same run, and writes BENCHMARKS.md. The other
//! subcommands are its child processes (each figure of memory is one
//! process's own peak).
//!
//! One command runs it all: `bash ops/bench.sh` (see BENCHMARKS.md).

mod inprocess;
mod measure;
mod nats;
mod pg;
mod proofs;
mod report;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(version, about = "Muster's benchmark harness")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Everything, then BENCHMARKS.md.
    Run {
        /// Events in the synthetic ledger.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Events pushed through NATS for the ingest figure (a prefix of
        /// the ledger's).
        #[arg(long, default_value_t = 200_000)]
        ingest_events: u64,
        /// Point questions asked, in process, over NATS and of PostgreSQL.
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
        /// Where generated data and ledgers go (reused between runs).
        #[arg(long, default_value = "data/bench")]
        data: PathBuf,
        /// The report.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        /// Leave out the PostgreSQL baseline.
        #[arg(long)]
        no_postgres: bool,
    },
    /// (child) Imports events.bin into a new ledger; prints JSON.
    Build { events: PathBuf, ledger: PathBuf },
    /// Only the ingest comparison (raw JetStream, then Muster) over the
    /// first `events` lines of a JSON Lines file; prints JSON. For profiling.
    Ingest {
        jsonl: PathBuf,
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// Events per message in batched mode.
        #[arg(long, default_value_t = muster_proto::limits::PUBLISH_BATCH_EVENTS)]
        batch: usize,
    },
    /// Only the point headcounts over NATS (and the echo baseline), with
    /// questions from a query replica's child process; prints p50/p99.
    Latency {
        ledger: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
    },
    /// (child) Opens the ledger as the ledger service does and commits backdated orders; prints JSON.
    Serve { ledger: PathBuf },
    /// (child) Opens the ledger as a query replica does and measures the queries; prints JSON.
    Open {
        ledger: PathBuf,
        #[arg(long)]
        samples: usize,
        #[arg(long)]
        postings: Option<PathBuf>,
        /// The reform's events: add them and make the Nanhu evidence pack.
        #[arg(long)]
        reform: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Args::parse().command {
        Cmd::Build { events, ledger } => {
            println!("{}", serde_json::to_string(&inprocess::build(&events, &ledger)?)?);
            Ok(())
        }
        Cmd::Ingest { jsonl, events, batch } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let ingest = runtime.block_on(nats::ingest(nats::first_events(&jsonl, events)?, batch))?;
            println!("{}", serde_json::to_string(&ingest)?);
            Ok(())
        }
        Cmd::Latency { ledger, samples } => {
            let opened: inprocess::Opened =
                child(&["open".as_ref(), ledger.as_os_str(), "--samples".as_ref(), samples.to_string().as_ref()])?;
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let (over_nats, echo) = runtime.block_on(nats::query_latency(&ledger, &opened.samples))?;
            println!(
                "over NATS p50 {:?} p99 {:?}; echo p50 {:?} p99 {:?}",
                over_nats.p50(),
                over_nats.p99(),
                echo.p50(),
                echo.p99()
            );
            Ok(())
        }
        Cmd::Serve { ledger } => {
            println!("{}", serde_json::to_string(&inprocess::serve(&ledger)?)?);
            Ok(())
        }
        Cmd::Open { ledger, samples, postings, reform } => {
            let opened = inprocess::open_and_query(&ledger, samples, postings.as_deref(), reform.as_deref())?;
            println!("{}", serde_json::to_string(&opened)?);
            Ok(())
        }
        Cmd::Run { events, seed, ingest_events, samples, data, out, no_postgres } => {
            run(events, seed, ingest_events, samples, &data, &out, no_postgres)
        }
    }
}

/// Runs this binary with `args` and parses the JSON it prints.
fn child<T: serde::de::DeserializeOwned>(args: &[&std::ffi::OsStr]) -> Result<T> {
    let exe = std::env::current_exe()?;
    let output = Command::new(exe).args(args).stderr(std::process::Stdio::inherit()).output()?;
    if !output.status.success() {
        bail!("muster-bench {:?} failed", args);
    }
    serde_json::from_slice(&output.stdout).context("the child's JSON")
}

fn run(
    events: u64,
    seed: u64,
    ingest_events: u64,
    samples: usize,
    data: &Path,
    out: &Path,
    no_postgres: bool,
) -> Result<()> {
    let root = std::env::current_dir()?;
    let dir = data.join(format!("synthetic-{events}-{seed}"));
    let bin = dir.join("events.bin");
    let jsonl = dir.join("events.jsonl");
    if !bin.exists() || !jsonl.exists() {
        eprintln!("== generating {events} events (seed {seed}) into {}", dir.display());
        let status = Command::new(std::env::current_exe()?.with_file_name("muster-gen"))
            .args(["synthetic", "--events", &events.to_string(), "--seed", &seed.to_string(), "--out"])
            .arg(&dir)
            .status()
            .context("running muster-gen (build it first: cargo build --release -p muster-gen)")?;
        anyhow::ensure!(status.success(), "muster-gen failed");
    }
    let ledger = dir.join("ledger");
    let _ = std::fs::remove_dir_all(&ledger);
    eprintln!("== building the ledger from {} (batches of 1024, flushed)", bin.display());
    let built: inprocess::Built = child(&["build".as_ref(), bin.as_os_str(), ledger.as_os_str()])?;
    let disk = measure::dir_bytes(&ledger);
    eprintln!("   {built:?}, {disk} bytes on disk");

    eprintln!("== the ledger service's view: open for decisions, backdated commits");
    let served: inprocess::Served = child(&["serve".as_ref(), ledger.as_os_str()])?;
    eprintln!("== a query replica's view: rebuild, raw scan, queries");
    let postings = dir.join("postings.tsv");
    let opened: inprocess::Opened = child(&[
        "open".as_ref(),
        ledger.as_os_str(),
        "--samples".as_ref(),
        samples.to_string().as_ref(),
        "--postings".as_ref(),
        postings.as_os_str(),
        "--reform".as_ref(),
        muster_tests::stack::REFORM_EVENTS.as_ref(),
    ])?;

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    eprintln!("== point headcounts over NATS");
    let (over_nats, echo) = runtime.block_on(nats::query_latency(&ledger, &opened.samples))?;
    eprintln!("== ingest: raw JetStream, then publisher → ledger → receipt ({ingest_events} events)");
    let batch = muster_proto::limits::PUBLISH_BATCH_EVENTS;
    let ingest = runtime.block_on(nats::ingest(nats::first_events(&jsonl, ingest_events)?, batch))?;
    let baseline = if no_postgres {
        None
    } else {
        eprintln!("== PostgreSQL baseline");
        Some(pg::run(&root, &dir.join("postgres"), &postings, &opened.samples)?)
    };
    let nats_version = Command::new(muster_tests::nats::binary()).arg("--version").output().ok();
    let context = report::Context {
        events,
        seed,
        samples,
        nats_version: nats_version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default(),
    };
    let figures = report::Figures {
        built: &built,
        disk,
        served: &served,
        opened: &opened,
        over_nats: &over_nats,
        echo: &echo,
        ingest: &ingest,
        pg: baseline.as_ref(),
    };
    let text = report::markdown(&context, &figures);
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("== wrote {}", out.display());
    print!("{text}");
    Ok(())
}
