//! The crash loop: the ledger service SIGKILLed at random moments, again
//! and again, and restarted each time, while a publisher pushes a stream of
//! events through NATS. Afterwards every event has its accepted receipt,
//! is in the ledger exactly once, the chain verifies, and the chain — head
//! hash included — is the very one a ledger makes of the same intake stream
//! read in one go, uninterrupted.
//!
//! `MUSTER_CRASH_KILLS` sets the kills (CI: 20). The long run:
//!
//! ```text
//! MUSTER_CRASH_KILLS=200 MUSTER_NATS_SERVER=$(bash ops/install-nats.sh) \
//!   cargo test --release -p muster-tests --test crash_loop -- --nocapture
//! ```

use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::entry::{ReceiptStatus, Submission};
use muster_publisher::{Outcome, Outgoing, Publisher, PublisherConfig};
use muster_tests::stack::Stack;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn kills() -> u64 {
    std::env::var("MUSTER_CRASH_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(20)
}

/// What one uninterrupted ledger makes of the intake stream as it stands:
/// every message, decoded as the service decodes it, recorded at its
/// JetStream time, committed at message boundaries in batches of at most
/// `BATCH_EVENTS_MAX`.
async fn uninterrupted(stack: &Stack, dir: &std::path::Path) -> Ledger {
    let js = async_nats::jetstream::new(stack.client().await);
    let mut intake = js.get_stream(stack.topology().intake_stream()).await.unwrap();
    let last = intake.info().await.unwrap().state.last_sequence;
    let mut ledger = Ledger::open(&LedgerConfig::new(dir)).unwrap();
    let mut batch: Vec<(Incoming, u64)> = Vec::new();
    for seq in 1..=last {
        let message = intake.get_raw_message(seq).await.unwrap();
        let at_ms = u64::try_from(message.time.unix_timestamp_nanos() / 1_000_000).unwrap();
        let events = muster_ledger::service::intake_events(Some(&message.headers), &message.payload);
        if batch.len() + events.len() > muster_proto::limits::BATCH_EVENTS_MAX {
            ledger.submit_timed(std::mem::take(&mut batch), None).unwrap();
        }
        batch.extend(events.into_iter().map(|event| (event, at_ms)));
    }
    ledger.submit_timed(batch, None).unwrap();
    ledger
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_killed_again_and_again_holds_the_chain_of_an_uninterrupted_one() {
    let kills = kills();
    // Enough events that every kill falls while receipts flow.
    let events_total = 1000 * (kills + 3);
    let stack = Stack::new();
    let mut child = stack.spawn_ledger_process();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    let events: Vec<Outgoing> = (1..=events_total).map(muster_tests::crash::outgoing).collect();
    let received = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let publishing = tokio::spawn({
        // Batches of 64, a short wait for a missing receipt: many messages
        // in flight at every kill, and quick retries after it.
        let config = PublisherConfig {
            batch: 64,
            receipt_wait: Duration::from_secs(1),
            attempts: 30,
            ..PublisherConfig::default()
        };
        let publisher = Publisher::new(client.clone(), stack.topology(), config);
        let (received, finished) = (received.clone(), finished.clone());
        async move {
            let outcomes = publisher
                .publish_all(events, move |_| {
                    received.fetch_add(1, Ordering::SeqCst);
                })
                .await;
            finished.store(true, Ordering::SeqCst);
            outcomes
        }
    });

    // Kill at seeded random moments spread over the stream: each after
    // another ~1,000 receipts and a random few milliseconds (mid-commit,
    // mid-flush, mid-publish), and one in four within 50 ms of a start
    // (while it opens the ledger and catches up).
    let mut rng = muster_gen::rng::Rng::new(0x5eed);
    let started = Instant::now();
    let mut while_publishing = 0;
    for kill in 0..kills {
        if rng.below(4) == 0 {
            tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
        } else {
            let threshold = (kill + 1) * 1000 - rng.below(500);
            while received.load(Ordering::SeqCst) < threshold && !finished.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        if !finished.load(Ordering::SeqCst) {
            while_publishing += 1;
        }
        child = stack.spawn_ledger_process();
        if kill % 10 == 9 {
            eprintln!("{} kills, {} receipts, {:?}", kill + 1, received.load(Ordering::SeqCst), started.elapsed());
        }
    }
    let outcomes = publishing.await.unwrap().expect("every event published");
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("{kills} kills ({while_publishing} while publishing), {events_total} events, {:?}", started.elapsed());
    // Receipts come in bursts (a restart publishes every missed one at
    // once), so the last kills may find the stream done.
    assert!(while_publishing * 4 >= kills * 3, "most kills fell while events flowed: {while_publishing} of {kills}");

    // Every event: an accepted receipt, and its own entry.
    assert_eq!(outcomes.len() as u64, events_total);
    let mut seqs = Vec::new();
    for outcome in &outcomes {
        match outcome {
            Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted => seqs.push(r.seq.unwrap()),
            other => panic!("not recorded as accepted: {other:?}"),
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len() as u64, events_total, "one entry per event, none twice");

    let ledger = muster_tests::open_ledger(&stack.ledger_dir());
    let report = ledger.verify().expect("the chain verifies");
    assert_eq!(report.entries, events_total, "nothing lost, nothing doubled");
    let mut seen = std::collections::HashSet::new();
    for entry in ledger.entries() {
        let entry = entry.unwrap();
        let Submission::Event(envelope) = &entry.body.submission else { panic!("undecodable entry") };
        assert!(seen.insert(envelope.id.clone()), "{} recorded twice", envelope.id);
    }

    // The same chain as one ledger reading the same intake in one go.
    let dir = tempfile::tempdir().unwrap();
    let one_go = uninterrupted(&stack, dir.path()).await;
    assert_eq!(one_go.head(), ledger.head(), "the chain head of an uninterrupted run");
}
