//! Runs one query many times on a benchmark ledger, for a profiler:
//! `perf record -g target/release/examples/profile_queries <ledger> audit|tree|both [runs]`;
//! `memory` or `memory-service` print the open ledger's memory by part.

use muster_domain::Date;
use muster_ledger::{Ledger, LedgerConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a ledger directory");
    let what = args.next().unwrap_or_else(|| "audit".into());
    // "memory-service": opened as the ledger service opens it.
    let config = LedgerConfig { query_indexes: what != "memory-service", ..LedgerConfig::new(path) };
    let opening = std::time::Instant::now();
    let l = Ledger::open(&config).expect("the ledger");
    eprintln!("open: {:?}", opening.elapsed());
    let t = l.timeline();
    if what.starts_with("memory") {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        for line in status.lines().filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS")) {
            eprintln!("{line}");
        }
        let parts = l.footprint();
        let total: u64 = parts.iter().map(|(_, b)| b).sum();
        for (part, bytes) in parts {
            eprintln!("{part}: {} MiB", bytes >> 20);
        }
        eprintln!("counted: {} MiB", total >> 20);
        // glibc's own account: in use vs held from the system.
        extern "C" {
            fn malloc_stats();
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc functions with no preconditions; this example
        // runs on glibc only.
        #[allow(unsafe_code)]
        unsafe {
            malloc_stats();
            malloc_trim(0);
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        for line in status.lines().filter(|l| l.starts_with("VmRSS")) {
            eprintln!("after malloc_trim: {line}");
        }
        return;
    }
    let runs: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let kinds: &[&str] = if what == "both" { &["tree", "audit"] } else { &[what.as_str()] };
    for kind in kinds {
        let started = std::time::Instant::now();
        let mut slowest = std::time::Duration::ZERO;
        for i in 0..runs {
            let run = std::time::Instant::now();
            match *kind {
                // A different day each run, as the benchmark asks.
                "tree" => drop(std::hint::black_box(t.tree(
                    Date::from_day_number(Date::parse("2010-01-01").unwrap().day_number() + i * 173).unwrap(),
                    None,
                ))),
                _ => drop(std::hint::black_box(t.audit(
                    Date::parse("2012-01-01").unwrap(),
                    Date::parse("2018-01-01").unwrap(),
                    None,
                    None,
                ))),
            }
            slowest = slowest.max(run.elapsed());
        }
        eprintln!("{kind}: {:?} per run, slowest {slowest:?}", started.elapsed() / runs);
    }
}
