//! A child process for the crash test: appends a deterministic stream of
//! events to a ledger in batches, printing `head <seq>` after each batch
//! is flushed, until killed or done.
//!
//! Usage: `crash_writer <ledger dir> <total events> <batch size>`. It
//! resumes where the ledger stands, so it can be killed and restarted.

use muster_ledger::Incoming;
use muster_tests::crash::event;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, total, batch] = &args[..] else {
        eprintln!("usage: crash_writer <ledger dir> <total events> <batch size>");
        std::process::exit(1);
    };
    let total: u64 = total.parse().expect("total");
    let batch: u64 = batch.parse().expect("batch");
    let mut ledger = muster_tests::open_ledger(std::path::Path::new(dir));
    let mut next = ledger.head().seq + 1;
    let stdout = &mut std::io::stdout();
    while next <= total {
        let end = (next + batch - 1).min(total);
        let incoming: Vec<Incoming> = (next..=end).map(|i| Incoming::Decoded(event(i))).collect();
        let receipts = ledger.submit_batch(incoming, 1_500_000_000_000 + next).expect("commit");
        assert!(receipts.iter().all(|r| r.seq.is_some()));
        writeln!(stdout, "head {}", ledger.head().seq).expect("stdout");
        stdout.flush().expect("stdout");
        next = end + 1;
    }
}
