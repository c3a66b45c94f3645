//! `muster-gen`: writes a generated scenario to a directory.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
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
    }
    Ok(())
}
