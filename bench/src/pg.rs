//! The baseline a team would build without Muster: PostgreSQL holding every
//! posting period (staff, unit, from, to) — the table an HR database keeps —
//! with the best plain index for "how many were posted at this unit on this
//! day", a covering B-tree on (unit, valid_from) including valid_to. The
//! same sample questions as Muster's, and the answers must agree.

use crate::inprocess::Sample;
use crate::measure::Latencies;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// What the baseline measured.
#[derive(Debug)]
pub struct Baseline {
    /// Posting periods loaded.
    pub rows: u64,
    /// COPY, index and ANALYZE.
    pub load_seconds: f64,
    /// The point question, over a Unix socket, prepared statement.
    pub headcount: Latencies,
    /// PostgreSQL's version string.
    pub version: String,
}

const PORT: u16 = 54329;

/// Starts a private server in `data`, loads `postings`, asks `samples`.
pub fn run(root: &Path, data: &Path, postings: &Path, samples: &[Sample]) -> Result<Baseline> {
    let script = root.join("ops/bench/pg.sh");
    let start = std::process::Command::new("bash")
        .arg(&script)
        .args(["start"])
        .arg(data)
        .arg(PORT.to_string())
        .output()
        .context("running ops/bench/pg.sh")?;
    if !start.status.success() {
        bail!("starting PostgreSQL: {}", String::from_utf8_lossy(&start.stderr));
    }
    let result = measure(data, postings, samples);
    let _ = std::process::Command::new("bash").arg(&script).arg("stop").arg(data).status();
    result
}

fn measure(socket_dir: &Path, postings: &Path, samples: &[Sample]) -> Result<Baseline> {
    let mut client = postgres::Config::new()
        .host_path(socket_dir)
        .port(PORT)
        .user("postgres")
        .dbname("postgres")
        .connect(postgres::NoTls)
        .context("connecting to PostgreSQL")?;
    let version: String = client.query_one("SELECT version()", &[])?.get(0);
    let started = Instant::now();
    client.batch_execute(
        "DROP TABLE IF EXISTS postings;
         CREATE TABLE postings (staff integer NOT NULL, unit text NOT NULL, valid_from date NOT NULL, valid_to date NOT NULL);",
    )?;
    let mut writer = client.copy_in("COPY postings FROM STDIN")?;
    let mut file = std::fs::File::open(postings).with_context(|| format!("opening {}", postings.display()))?;
    std::io::copy(&mut file, &mut writer)?;
    let rows = writer.finish()?;
    client.batch_execute("CREATE INDEX postings_unit_day ON postings (unit, valid_from) INCLUDE (valid_to)")?;
    // Its own statement: VACUUM cannot run inside the implicit transaction
    // of a multi-statement batch. It also sets the visibility map, so the
    // index-only scan needs no heap visits.
    client.batch_execute("VACUUM ANALYZE postings")?;
    let load_seconds = started.elapsed().as_secs_f64();
    let statement = client.prepare(
        "SELECT count(*) FROM postings WHERE unit = $1 AND valid_from <= $2::text::date AND valid_to > $2::text::date",
    )?;
    // Warm up, as Muster's figures are with a warm timeline.
    for s in samples.iter().take(1000) {
        client.query_one(&statement, &[&s.unit, &s.date])?;
    }
    let mut latencies = Vec::with_capacity(samples.len());
    for s in samples {
        let t = Instant::now();
        let count: i64 = client.query_one(&statement, &[&s.unit, &s.date])?.get(0);
        latencies.push(t.elapsed());
        if count != i64::from(s.posted) {
            bail!(
                "PostgreSQL says {count} posted at {} on {}, Muster {}: the baseline is wrong",
                s.unit,
                s.date,
                s.posted
            );
        }
    }
    let _ = std::io::stderr().flush();
    Ok(Baseline { rows, load_seconds, headcount: Latencies::new(latencies), version })
}
