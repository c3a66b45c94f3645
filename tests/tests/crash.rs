//! Crash recovery: a child process appends batches to a real sled ledger
//! and is killed with SIGKILL mid-write, again and again. After each kill
//! the ledger reopens to exactly the last flushed batch (never less than
//! the child reported flushed, never a partial batch), the chain verifies,
//! and the entries are exactly the input's prefix.

use muster_proto::entry::{Outcome, Submission};
use muster_tests::crash::event;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TOTAL: u64 = 40_000;
const BATCH: u64 = 250;
const KILLS: u64 = 6;

/// Runs the writer until it has flushed at least `min_head`, then kills it;
/// returns the last head it reported.
fn run_and_kill(dir: &std::path::Path, min_head: u64, extra_ms: u64) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .args([dir.to_str().unwrap(), &TOTAL.to_string(), &BATCH.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn crash_writer");
    let reported = Arc::new(AtomicU64::new(0));
    let reader = {
        let reported = reported.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(seq) = line.strip_prefix("head ").and_then(|s| s.parse().ok()) {
                    reported.store(seq, Ordering::SeqCst);
                }
            }
        })
    };
    // Wait on the child's own report, not on a guess of how long it takes.
    while reported.load(Ordering::SeqCst) < min_head {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("crash_writer exited early: {status}");
        }
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(extra_ms));
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    reader.join().unwrap();
    reported.load(Ordering::SeqCst)
}

fn check_prefix(dir: &std::path::Path, at_least: u64) -> u64 {
    let ledger = muster_tests::open_ledger(dir);
    let head = ledger.head().seq;
    assert!(head >= at_least, "flushed batch lost: head {head} < reported {at_least}");
    assert!(head == TOTAL || head.is_multiple_of(BATCH), "partial batch on disk: head {head}");
    assert_eq!(ledger.verify().expect("chain verifies").entries, head);
    for entry in ledger.entries() {
        let entry = entry.expect("entry reads back");
        let Submission::Event(envelope) = &entry.body.submission else { panic!("unexpected submission") };
        assert_eq!(envelope, &event(entry.body.seq), "entry {} is not input {}", entry.body.seq, entry.body.seq);
        assert!(matches!(entry.body.outcome, Outcome::Accepted { .. }), "entry {} rejected", entry.body.seq);
    }
    head
}

#[test]
fn sigkill_mid_write_leaves_exactly_the_last_flushed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let mut head = 0;
    for kill in 0..KILLS {
        let reported = run_and_kill(&path, head + BATCH, kill * 7 % 20);
        head = check_prefix(&path, reported);
    }
    // Finish the stream without interruption and check the whole of it.
    let status = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .args([path.to_str().unwrap(), &TOTAL.to_string(), &BATCH.to_string()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(check_prefix(&path, TOTAL), TOTAL);
    let ledger = muster_tests::open_ledger(&path);
    let posted: u32 = (1..=muster_tests::crash::UNITS)
        .map(|u| {
            ledger.timeline().headcount(&format!("U{u}").as_str().into(), muster_domain::Date::MAX, None, false).posted
        })
        .sum();
    assert_eq!(u64::from(posted), (TOTAL - muster_tests::crash::UNITS) / 2);
}
