//! Runs one query many times on a benchmark ledger, for a profiler:
//! `perf record -g target/release/examples/profile_queries <ledger> audit|tree`.

use muster_domain::Date;
use muster_ledger::{Ledger, LedgerConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a ledger directory");
    let what = args.next().unwrap_or_else(|| "audit".into());
    let l = Ledger::open(&LedgerConfig::new(path)).expect("the ledger");
    let t = l.timeline();
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
