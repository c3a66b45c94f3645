//! `muster-gen`: writes a generated scenario to a directory.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Deterministic generators of Muster event streams")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The 2013–2016 reform (Nanhu, Pujiang, the provincial department):
    /// writes events.jsonl and staff.csv.
    Reform {
        /// The seed; the shipped files use the default.
        #[arg(long, default_value_t = muster_gen::reform::DEFAULT_SEED)]
        seed: u64,
        /// Where to write.
        #[arg(long, default_value = "ops/scenarios/reform")]
        out: PathBuf,
    },
    /// A large synthetic ledger for benchmarks: writes events.jsonl (JSON
    /// Lines) and events.bin (each event as a little-endian u32 length and
    /// the bincode envelope of proto's codec).
    Synthetic {
        /// How many events.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    match Args::parse().command {
        Command::Reform { seed, out } => {
            let scenario = muster_gen::reform::generate(seed);
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let events = out.join("events.jsonl");
            std::fs::write(&events, muster_gen::to_jsonl(&scenario.events))
                .with_context(|| format!("writing {}", events.display()))?;
            let staff = out.join("staff.csv");
            std::fs::write(&staff, muster_gen::people_csv(&scenario.people))
                .with_context(|| format!("writing {}", staff.display()))?;
            println!(
                "{} events to {}, {} staff to {}",
                scenario.events.len(),
                events.display(),
                scenario.people.len(),
                staff.display()
            );
        }
        Command::Synthetic { events, seed, out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let create = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
                let path = out.join(name);
                let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                Ok(std::io::BufWriter::with_capacity(1 << 20, file))
            };
            let (mut jsonl, mut bin) = (create("events.jsonl")?, create("events.bin")?);
            let mut failed: Option<std::io::Error> = None;
            let config = muster_gen::synthetic::Config { events, seed };
            let tally = muster_gen::synthetic::generate(config, |e| {
                if failed.is_some() {
                    return;
                }
                let encoded = muster_proto::codec::encode_envelope(e);
                let written = jsonl
                    .write_all(&muster_proto::cloudevents::encode_json(e))
                    .and_then(|()| jsonl.write_all(b"\n"))
                    .and_then(|()| bin.write_all(&(encoded.len() as u32).to_le_bytes()))
                    .and_then(|()| bin.write_all(&encoded));
                failed = written.err();
            });
            if let Some(e) = failed {
                return Err(e).context("writing the events");
            }
            jsonl.flush()?;
            bin.flush()?;
            println!(
                "{} events ({} backdated, {} retractions, {} built to be rejected, {} mergers and splits) to {}",
                tally.events,
                tally.backdated,
                tally.retractions,
                tally.invalid,
                tally.restructurings,
                out.display()
            );
        }
    }
    Ok(())
}
