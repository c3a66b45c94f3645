//! Figures taken inside one process holding the ledger, each run as a child
//! process of the harness so that its peak memory is its own: building the
//! ledger, rebuilding it from disk next to a raw scan of the same entries,
//! point headcounts, the tree, the audit and backdated commits.

use crate::measure::{peak_rss, Latencies};
use anyhow::{Context, Result};
use muster_domain::{Date, StaffId, UnitId, UnitStatus};
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::entry::ReceiptStatus;
use muster_proto::wire::{Envelope, EventBody, StaffTransferred, WireDate};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use std::time::Instant;

/// What building the ledger measured.
#[derive(Serialize, Deserialize, Debug)]
pub struct Built {
    /// Events submitted.
    pub events: u64,
    /// Of which accepted.
    pub accepted: u64,
    /// Wall time of the whole import.
    pub seconds: f64,
    /// Peak resident memory of the importing process.
    pub peak_rss: u64,
    /// Sum of the events' bincode envelopes.
    pub encoded_bytes: u64,
}

/// Reads `events.bin` (u32 little-endian length, bincode envelope) lazily.
pub fn read_bin(path: &Path) -> Result<impl Iterator<Item = Result<Envelope>>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    Ok(std::iter::from_fn(move || {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => return Some(Err(e.into())),
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > muster_proto::limits::PAYLOAD_BYTES_MAX {
            return Some(Err(anyhow::anyhow!("an event of {len} bytes: not an events.bin file")));
        }
        let mut bytes = vec![0u8; len];
        Some(
            reader
                .read_exact(&mut bytes)
                .map_err(|e| anyhow::anyhow!("the file ends inside an event (truncated?): {e}"))
                .and_then(|()| muster_proto::codec::decode_envelope(&bytes).map_err(|e| anyhow::anyhow!("{e}"))),
        )
    }))
}

/// Imports `events` into a new ledger at `ledger` in batches of the
/// service's size, one flush per batch, as the ledger service commits
/// (and, like it, without the headcount index).
pub fn build(events: &Path, ledger: &Path) -> Result<Built> {
    let mut l = Ledger::open(&LedgerConfig { query_indexes: false, ..LedgerConfig::new(ledger) })?;
    let started = Instant::now();
    let (mut submitted, mut accepted, mut encoded_bytes) = (0u64, 0u64, 0u64);
    let mut batch = Vec::with_capacity(muster_proto::limits::BATCH_EVENTS_MAX);
    let mut clock = 1_500_000_000_000u64;
    let mut commit = |batch: &mut Vec<Incoming>, l: &mut Ledger| -> Result<u64> {
        clock += 1;
        // Not `mem::take`: the next batch would grow from nothing again
        // (a tenth of the import went to reallocating it).
        let full = std::mem::replace(batch, Vec::with_capacity(muster_proto::limits::BATCH_EVENTS_MAX));
        let receipts = l.submit_batch(full, clock)?;
        Ok(receipts.iter().filter(|r| r.status == ReceiptStatus::Accepted).count() as u64)
    };
    for envelope in read_bin(events)? {
        let envelope = envelope?;
        encoded_bytes += muster_proto::codec::encode_envelope(&envelope).len() as u64;
        batch.push(Incoming::Decoded(envelope));
        submitted += 1;
        if batch.len() == muster_proto::limits::BATCH_EVENTS_MAX {
            accepted += commit(&mut batch, &mut l)?;
        }
    }
    if !batch.is_empty() {
        accepted += commit(&mut batch, &mut l)?;
    }
    Ok(Built {
        events: submitted,
        accepted,
        seconds: started.elapsed().as_secs_f64(),
        peak_rss: peak_rss(),
        encoded_bytes,
    })
}

/// What the ledger service's process measured: the ledger opened as the
/// service opens it (decisions only, no headcount index), then backdated
/// orders committed into it.
#[derive(Serialize, Deserialize, Debug)]
pub struct Served {
    /// Ledger::open for decisions only: scan, decode, chain check, replay.
    pub open_seconds: f64,
    /// One backdated transfer, decided, committed and flushed.
    pub backdated_commit: Latencies,
    /// Backdated transfers the ledger refused (conflicts with later events).
    pub backdated_refused: u64,
    /// Peak resident memory of this process.
    pub peak_rss: u64,
    /// The open ledger's memory by part (`Ledger::footprint`).
    pub footprint: Vec<(String, u64)>,
}

/// Opens the ledger as the ledger service does and commits backdated
/// orders into it, one per batch, as the service would.
pub fn serve(ledger: &Path) -> Result<Served> {
    let started = Instant::now();
    let mut l = Ledger::open(&LedgerConfig { query_indexes: false, ..LedgerConfig::new(ledger) })?;
    let open_seconds = started.elapsed().as_secs_f64();
    let units: Vec<UnitId> = l.timeline().unit_ids().map(UnitId::from).collect();
    let mut rng = muster_gen::rng::Rng::new(11);
    // Backdated orders: a member whose last event is years back is
    // transferred to the root unit on the day after it, committed and
    // flushed like any batch of one.
    let staff: Vec<StaffId> = l.timeline().staff_ids().map(StaffId::from).collect();
    let root = units[0].clone();
    let mut commits = Vec::new();
    let mut refused = 0;
    let run = std::process::id();
    let mut attempts = 0;
    while commits.len() < 50 && attempts < 5000 {
        attempts += 1;
        let s = &staff[rng.below(staff.len() as u64) as usize];
        let history = l.timeline().staff_history(s, None);
        let Some(last) = history.last() else { continue };
        if !last.active || last.home == root || last.date >= Date::parse("2016-01-01")? {
            continue;
        }
        let date = last.date.next().expect("a valid day");
        let envelope = Envelope {
            id: format!("bench-{run}-{attempts}"),
            source: "hr/bench-backdated".into(),
            effective_date: WireDate(date),
            order_ref: None,
            note: None,
            body: EventBody::StaffTransferred(StaffTransferred {
                staff: s.to_string(),
                from: last.home.to_string(),
                to: root.to_string(),
            }),
        };
        let t = Instant::now();
        let receipts = l.submit_batch(vec![Incoming::Decoded(envelope)], 1_900_000_000_000 + attempts)?;
        let took = t.elapsed();
        // As the ledger service does after each batch, off the receipts' path.
        l.release_pages()?;
        if receipts[0].status == ReceiptStatus::Accepted {
            commits.push(took);
        } else {
            refused += 1;
        }
    }
    Ok(Served {
        open_seconds,
        backdated_commit: Latencies::new(commits),
        backdated_refused: refused,
        peak_rss: peak_rss(),
        footprint: l.footprint().into_iter().map(|(part, bytes)| (part.to_owned(), bytes)).collect(),
    })
}

/// What the open ledger measured.
#[derive(Serialize, Deserialize, Debug)]
pub struct Opened {
    /// Entries in the ledger.
    pub entries: u64,
    /// Ledger::open: scan, decode, verify the chain, replay into the timeline.
    pub rebuild_seconds: f64,
    /// The same entries scanned from sled and decoded, nothing else.
    pub raw_scan_seconds: f64,
    /// Point headcount (unit, day), posted and working, this unit alone.
    pub headcount: Latencies,
    /// The same, rolled up over the unit's subtree.
    pub headcount_rolled: Latencies,
    /// The whole tree with counts and roll-ups on a day.
    pub tree: Latencies,
    /// Units in the tree (last sample).
    pub tree_units: usize,
    /// The front-line audit over the whole ledger.
    pub audit: Latencies,
    /// Peak resident memory of this process (the ledger open, queried).
    pub peak_rss: u64,
    /// The open ledger's memory by part (`Ledger::footprint`).
    pub footprint: Vec<(String, u64)>,
    /// The sample questions with the answers (posted), for the baselines.
    pub samples: Vec<Sample>,
    /// The Merkle tree's proofs at the head and what it costs to keep.
    pub proofs: crate::proofs::Proofs,
    /// The reform's Nanhu evidence pack, made in this ledger (when asked).
    pub evidence: Option<crate::proofs::Evidence>,
}

/// A point question and Muster's answer.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Sample {
    /// Unit id.
    pub unit: String,
    /// Day.
    pub date: String,
    /// Posted headcount, this unit alone.
    pub posted: u32,
}

/// A seeded stream of days in the synthetic ledger's ten years.
fn day(rng: &mut muster_gen::rng::Rng) -> Date {
    let start = Date::parse(muster_gen::synthetic::START).expect("a valid day");
    rng.day(start, Date::from_day_number(start.day_number() + muster_gen::synthetic::DAYS).expect("a valid day"))
}

/// Opens the ledger as a query replica holds it (timed), scans it raw
/// (timed), and measures the queries with `samples` point questions.
pub fn open_and_query(ledger: &Path, samples: usize, postings: Option<&Path>, reform: Option<&Path>) -> Result<Opened> {
    let started = Instant::now();
    let mut l = Ledger::open(&LedgerConfig::new(ledger))?;
    let rebuild = started.elapsed();
    let started = Instant::now();
    let mut entries = 0u64;
    for entry in l.entries() {
        std::hint::black_box(entry?);
        entries += 1;
    }
    let raw_scan = started.elapsed();

    let timeline = l.timeline();
    let units: Vec<UnitId> = timeline.unit_ids().map(UnitId::from).collect();
    let mut rng = muster_gen::rng::Rng::new(7);
    // Questions about units that exist on the day asked (as auditors ask).
    let mut questions = Vec::with_capacity(samples);
    while questions.len() < samples {
        let unit = &units[rng.below(units.len() as u64) as usize];
        let date = day(&mut rng);
        if timeline.headcount(unit, date, None, false).status == UnitStatus::Active {
            questions.push((unit.clone(), date));
        }
    }
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed()
    };
    let headcount = Latencies::new(
        questions.iter().map(|(u, d)| time(&mut || drop(std::hint::black_box(timeline.headcount(u, *d, None, false))))),
    );
    let headcount_rolled = Latencies::new(
        questions.iter().map(|(u, d)| time(&mut || drop(std::hint::black_box(timeline.headcount(u, *d, None, true))))),
    );
    let mut tree_units = 0;
    let tree = Latencies::new((0..20).map(|_| {
        let date = day(&mut rng);
        time(&mut || tree_units = std::hint::black_box(timeline.tree(date, None)).len())
    }));
    let (d1, d2) = (Date::parse("2012-01-01")?, Date::parse("2018-01-01")?);
    let audit =
        Latencies::new((0..3).map(|_| time(&mut || drop(std::hint::black_box(timeline.audit(d1, d2, None, None))))));

    // The answers the baselines must agree with, and the data they get,
    // as the ledger stands now (backdated orders included).
    let timeline = l.timeline();
    let samples_out: Vec<Sample> = questions
        .iter()
        .map(|(u, d)| Sample {
            unit: u.to_string(),
            date: d.to_string(),
            posted: timeline.headcount(u, *d, None, false).posted,
        })
        .collect();
    if let Some(path) = postings {
        export_postings(timeline, path)?;
    }
    let proofs = crate::proofs::measure(&l, &mut rng)?;
    let footprint = l.footprint().into_iter().map(|(part, bytes)| (part.to_owned(), bytes)).collect();
    // Last: it adds the reform's events to the ledger.
    let evidence = reform.map(|events| crate::proofs::nanhu_pack(&mut l, events)).transpose()?;
    Ok(Opened {
        entries,
        rebuild_seconds: rebuild.as_secs_f64(),
        raw_scan_seconds: raw_scan.as_secs_f64(),
        headcount,
        headcount_rolled,
        tree,
        tree_units,
        audit,
        peak_rss: peak_rss(),
        footprint,
        samples: samples_out,
        proofs,
        evidence,
    })
}

/// Every posting period (staff, unit, from, to) as tab-separated text for
/// PostgreSQL's COPY: what a team without Muster would keep in a table.
fn export_postings(timeline: &muster_domain::Timeline, path: &Path) -> Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    for (s, id) in timeline.staff_ids().enumerate() {
        let history = timeline.staff_history(&StaffId::from(id), None);
        for (i, entry) in history.iter().enumerate() {
            let until = history.iter().skip(i + 1).map(|e| e.date).find(|d| *d > entry.date);
            // A later entry on the same day replaces this one.
            if history.get(i + 1).is_some_and(|next| next.date == entry.date) || !entry.active {
                continue;
            }
            let until = until.map_or("infinity".to_string(), |d| d.to_string());
            writeln!(out, "{s}\t{}\t{}\t{until}", entry.home, entry.date)?;
        }
    }
    out.flush()?;
    Ok(())
}
