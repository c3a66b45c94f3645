//! In-process figures with criterion, on the ledger the harness built
//! (`MUSTER_BENCH_LEDGER`), or on a 100k-event synthetic ledger made here.
//!
//! `cargo bench -p muster-bench --bench inprocess`

use criterion::{criterion_group, criterion_main, Criterion};
use muster_domain::{Date, UnitId, UnitStatus};
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use std::hint::black_box;

fn ledger() -> (Option<tempfile::TempDir>, Ledger) {
    if let Ok(path) = std::env::var("MUSTER_BENCH_LEDGER") {
        // cargo runs benches in the package's directory: a relative path
        // would silently open a new, empty ledger there.
        let path = std::path::PathBuf::from(path);
        assert!(path.is_absolute() && path.exists(), "MUSTER_BENCH_LEDGER: no ledger at {}", path.display());
        return (None, Ledger::open(&LedgerConfig::new(path)).expect("the benchmark ledger"));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut l = Ledger::open(&LedgerConfig::new(dir.path().join("ledger"))).expect("a ledger");
    let mut batch = Vec::new();
    let config = muster_gen::synthetic::Config { events: 100_000, seed: 1 };
    muster_gen::synthetic::generate(config, |e| batch.push(Incoming::Decoded(e.clone())));
    for (i, chunk) in batch.chunks(1024).enumerate() {
        l.submit_batch(chunk.to_vec(), i as u64).expect("commit");
    }
    (Some(dir), l)
}

fn queries(c: &mut Criterion) {
    let (_dir, l) = ledger();
    let t = l.timeline();
    let units: Vec<UnitId> = t.unit_ids().map(UnitId::from).collect();
    let mut rng = muster_gen::rng::Rng::new(7);
    let start = Date::parse(muster_gen::synthetic::START).unwrap();
    let end = Date::from_day_number(start.day_number() + muster_gen::synthetic::DAYS).unwrap();
    let questions: Vec<(UnitId, Date)> = std::iter::from_fn(|| {
        let unit = units[rng.below(units.len() as u64) as usize].clone();
        Some((unit, rng.day(start, end)))
    })
    .filter(|(u, d)| t.headcount(u, *d, None, false).status == UnitStatus::Active)
    .take(1024)
    .collect();
    let mut i = 0;
    c.bench_function("headcount_point", |b| {
        b.iter(|| {
            i = (i + 1) % questions.len();
            let (u, d) = &questions[i];
            black_box(t.headcount(u, *d, None, false))
        })
    });
    c.bench_function("headcount_rolled_up", |b| {
        b.iter(|| {
            i = (i + 1) % questions.len();
            let (u, d) = &questions[i];
            black_box(t.headcount(u, *d, None, true))
        })
    });
    let mut group = c.benchmark_group("slow");
    group.sample_size(10);
    group.bench_function("tree_on_a_day", |b| b.iter(|| black_box(t.tree(Date::parse("2015-06-30").unwrap(), None))));
    let (d1, d2) = (Date::parse("2012-01-01").unwrap(), Date::parse("2018-01-01").unwrap());
    group.bench_function("audit_whole_ledger", |b| b.iter(|| black_box(t.audit(d1, d2, None, None))));
    group.finish();
}

/// The Merkle tree's proofs at the head (issue 19): an entry's inclusion,
/// and an earlier size's consistency, for random entries and sizes.
fn proofs(c: &mut Criterion) {
    let (_dir, l) = ledger();
    let n = l.head().seq;
    let mut rng = muster_gen::rng::Rng::new(11);
    let sizes: Vec<u64> = (0..1024).map(|_| 1 + rng.below(n)).collect();
    let mut i = 0;
    c.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            i = (i + 1) % sizes.len();
            black_box(l.inclusion_proof(sizes[i], n).expect("a proof").expect("in the tree"))
        })
    });
    c.bench_function("consistency_proof", |b| {
        b.iter(|| {
            i = (i + 1) % sizes.len();
            black_box(l.consistency_proof(sizes[i], n).expect("a proof").expect("sizes in the tree"))
        })
    });
}

criterion_group!(benches, queries, proofs);
criterion_main!(benches);
