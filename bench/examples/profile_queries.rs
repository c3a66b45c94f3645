//! Runs one query many times on a benchmark ledger, for a profiler:
//! `perf record -g target/release/examples/profile_queries <ledger> audit|tree`.

use muster_domain::Date;
use muster_ledger::{Ledger, LedgerConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a ledger directory");
    let what = args.next().unwrap_or_else(|| "audit".into());
    // "memory-service": opened as the ledger service opens it.
    let config = LedgerConfig { query_indexes: what != "memory-service", ..LedgerConfig::new(path) };
    let l = Ledger::open(&config).expect("the ledger");
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
        unsafe { malloc_stats() };
        unsafe { malloc_trim(0) };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        for line in status.lines().filter(|l| l.starts_with("VmRSS")) {
            eprintln!("after malloc_trim: {line}");
        }
        return;
    }
    let started = std::time::Instant::now();
    let runs: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    for _ in 0..runs {
        match what.as_str() {
            "tree" => drop(std::hint::black_box(t.tree(Date::parse("2015-06-30").unwrap(), None))),
            _ => drop(std::hint::black_box(t.audit(
                Date::parse("2012-01-01").unwrap(),
                Date::parse("2018-01-01").unwrap(),
                None,
                None,
            ))),
        }
    }
    eprintln!("{what}: {:?} per run", started.elapsed() / runs);
}
