//! Crash loops: while a publisher pushes a stream of events through NATS,
//! one part of the deployment is SIGKILLed at seeded random moments, again
//! and again, and restarted each time —
//!
//! - **the ledger service**: afterwards every event has its accepted
//!   receipt, is in the ledger exactly once, the chain verifies, and the
//!   chain (head hash included) is the very one a ledger makes of the same
//!   intake stream read in one go;
//! - **nats-server** (its JetStream store kept, as after a crash): the
//!   ledger service and a query replica ride through every restart in one
//!   process each, and afterwards the same holds, and the replica holds
//!   the ledger's chain and gives its answers;
//! - **a query replica**: it converges to the ledger's chain and answers;
//! - **nats-server, or only the publisher's connection, under one event
//!   per message**: the publisher's fast batches are cut at every kill or
//!   cut, and still each event is stored after the one before it and
//!   accepted.
//!
//! `MUSTER_CRASH_KILLS` sets the kills of each (CI: 20). The long run:
//!
//! ```text
//! MUSTER_CRASH_KILLS=200 MUSTER_NATS_SERVER=$(bash ops/install-nats.sh) \
//!   cargo test --release -p muster-tests --test crash_loop -- --nocapture --test-threads 1
//! ```

use muster_proto::entry::{ReceiptStatus, Submission};
use muster_proto::limits;
use muster_publisher::{Outcome, Publisher, PublisherConfig};
use muster_tests::ingest::{ledger_is_whole, replica_reaches, same_answers, Publishing};
use muster_tests::proxy::CuttingProxy;
use muster_tests::stack::Stack;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn kills() -> u64 {
    std::env::var("MUSTER_CRASH_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(20)
}

/// The kill moments: the `kill`-th after another `every` receipts (less a
/// random part) and a random few milliseconds — mid-commit, mid-flush,
/// mid-publish — or, one in four, within 50 ms of the last restart.
async fn next_moment(rng: &mut muster_gen::rng::Rng, publishing: &Publishing, kill: u64, every: u64) {
    if rng.below(4) == 0 {
        tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
    } else {
        publishing.until_receipts((kill + 1) * every - rng.below(every / 2)).await;
        tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
    }
}

/// Kills (and restarts) with `kill` `kills` times, at [`next_moment`]s
/// seeded by `seed`; most must fall while events flow.
async fn kill_loop(publishing: &Publishing, what: &str, kills: u64, seed: u64, mut kill: impl FnMut()) {
    let mut rng = muster_gen::rng::Rng::new(seed);
    let started = Instant::now();
    let mut while_publishing = 0;
    for n in 0..kills {
        next_moment(&mut rng, publishing, n, 1000).await;
        if !publishing.finished() {
            while_publishing += 1;
        }
        kill();
        if n % 10 == 9 {
            let receipts = publishing.received.load(Ordering::SeqCst);
            eprintln!("{} {what} kills, {receipts} receipts, {:?}", n + 1, started.elapsed());
        }
    }
    eprintln!("{kills} {what} kills ({while_publishing} while publishing), {:?}", started.elapsed());
    // Receipts come in bursts (a restart publishes every missed one at
    // once), so the last kills may find the stream done.
    assert!(while_publishing * 4 >= kills * 3, "most kills fell while events flowed: {while_publishing} of {kills}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_killed_again_and_again_holds_the_chain_of_an_uninterrupted_one() {
    let kills = kills();
    // Enough events that every kill falls while receipts flow.
    let total = 1000 * (kills + 3);
    let stack = Stack::new();
    let mut child = stack.spawn_ledger_process();
    stack.wait_for_streams().await;
    let publishing = Publishing::start(&stack, total, limits::PUBLISH_IN_FLIGHT_MAX, 30).await;
    kill_loop(&publishing, "ledger", kills, 0x5eed, || {
        child.kill();
        child = stack.spawn_ledger_process();
    })
    .await;
    publishing.all_accepted_once(total).await;
    child.kill();
    ledger_is_whole(&stack, &stack.ledger_dir(), total).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_killed_again_and_again_loses_no_receipted_event() {
    let kills = kills();
    let total = 1000 * (kills + 3);
    let mut stack = Stack::new();
    // Both services in this process: each must live through every restart.
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let (replica, _) = stack.start_query_with(stack.replica_dir("steady"), "off").await;
    // A small window keeps the events flowing evenly (a kill finds some in
    // flight); a restart costs seconds of retries: more attempts.
    let publishing = Publishing::start(&stack, total, 256, 60).await;
    kill_loop(&publishing, "nats-server", kills, 0x4a75, || tokio::task::block_in_place(|| stack.nats.restart())).await;
    publishing.all_accepted_once(total).await;
    // The ledger service never stopped (its result is checked here).
    ledger.stop().await;
    replica_reaches(&stack, total).await;
    replica.stop().await;
    let ledger = ledger_is_whole(&stack, &stack.ledger_dir(), total).await;
    same_answers(&ledger, &stack.replica_dir("steady"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_per_message_keeps_its_sources_order_through_nats_server_kills() {
    let kills = kills().div_ceil(2);
    let total = 1000 * (kills + 3);
    let mut stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    // One event to a message: each transfer in its own message after the
    // joining it needs, so a message stored out of order is rejected.
    let publishing = Publishing::start_with(&stack, total, 1, 256, 60).await;
    kill_loop(&publishing, "nats-server", kills, 0x0de5, || tokio::task::block_in_place(|| stack.nats.restart())).await;
    in_order_and_sent_again(publishing, &stack, ledger, total).await;
}

/// Every event accepted once, never called a duplicate (each was new to
/// the ledger, whatever copies went again), and stored in its source's
/// order; most messages went in fast batches, and some were sent again
/// (the faults cut batches short).
async fn in_order_and_sent_again(
    publishing: Publishing,
    stack: &Stack,
    ledger: muster_tests::stack::Running,
    total: u64,
) {
    let publisher = publishing.publisher.clone();
    for outcome in publishing.all_accepted_once(total).await {
        assert!(matches!(&outcome, Outcome::Receipt(r) if !r.duplicate), "a new event: {outcome:?}");
    }
    ledger.stop().await;
    muster_tests::ingest::intake_keeps_the_sources_order(stack, total).await;
    let stats = publisher.stats();
    eprintln!("{stats:?}");
    assert!(stats.fast > stats.alone, "most messages went in fast batches: {stats:?}");
    assert!(stats.sent_again > 0, "faults cut fast batches short, and what they missed went again: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_per_message_keeps_its_sources_order_through_cut_connections() {
    let cuts = kills().div_ceil(2);
    let total = 1000 * (cuts + 3);
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    // The publisher's connection goes through a proxy that loses what it
    // sends for a moment, then drops it, while the server keeps the
    // batches: the next message after a cut arrives with a gap in its
    // batch.
    let proxy = CuttingProxy::start(stack.nats.url().trim_start_matches("nats://").to_owned()).await;
    let client = async_nats::connect(proxy.nats_url()).await.expect("through the proxy");
    let publishing = Publishing::start_on(client, &stack, total, 1, 256, 60).await;
    let cutting = async {
        let mut rng = muster_gen::rng::Rng::new(0xc07);
        for n in 0..cuts {
            next_moment(&mut rng, &publishing, n, 1000).await;
            // Long enough that messages are lost mid-batch.
            proxy.cut(Duration::from_millis(5 + rng.below(20))).await;
        }
    };
    cutting.await;
    in_order_and_sent_again(publishing, &stack, ledger, total).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_replica_killed_again_and_again_converges_to_the_ledgers_answers() {
    let kills = kills();
    let total = 1000 * (kills + 3);
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let mut child = stack.spawn_query_process("killed");
    let publishing = Publishing::start(&stack, total, 256, 30).await;
    let mut rng = muster_gen::rng::Rng::new(0x9e11);
    let started = Instant::now();
    let mut applied = 0;
    for _ in 0..kills {
        // One in four while it opens and catches up (all, once the stream
        // is over); the rest once it has applied more of the feed, a
        // random few milliseconds on.
        if rng.below(4) == 0 || publishing.finished() {
            tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
        } else {
            applied = replica_reaches(&stack, applied + 1).await;
            tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
        }
        child.kill();
        child = stack.spawn_query_process("killed");
    }
    publishing.all_accepted_once(total).await;
    child.kill();
    eprintln!("{kills} replica kills, {total} events, {:?}", started.elapsed());
    ledger.stop().await;
    // Once more, in this process, until it has caught up with the feed.
    let (replica, _) = stack.start_query_with(stack.replica_dir("killed"), "off").await;
    replica_reaches(&stack, total).await;
    replica.stop().await;
    let ledger = ledger_is_whole(&stack, &stack.ledger_dir(), total).await;
    same_answers(&ledger, &stack.replica_dir("killed"));
}

/// Publishes crash-stream events `range` one to a message and waits for
/// every receipt, accepted.
async fn publish_one_by_one(stack: &Stack, range: std::ops::RangeInclusive<u64>) {
    let config = PublisherConfig { batch: 1, receipt_wait: Duration::from_secs(1), attempts: 10, window: 64 };
    let publisher = Publisher::new(stack.client().await, stack.topology(), config);
    let outcomes = publisher.publish_all(range.map(muster_tests::crash::outgoing), |_| {}).await.unwrap();
    for outcome in outcomes {
        assert!(matches!(&outcome, Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted), "{outcome:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_store_restored_from_an_old_backup_loses_no_new_event() {
    let mut stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    publish_one_by_one(&stack, 1..=100).await;
    ledger.stop().await;
    let backup = stack.nats.backup();
    let ledger = stack.start_ledger();
    publish_one_by_one(&stack, 101..=200).await;
    ledger.stop().await;

    // The operator restores the old backup: the intake and the feed lose
    // their last hundred messages, which the ledger had read, and the
    // server numbers new messages from 101 again. The events after it
    // are in the stream — at sequences the ledger's cursor has passed —
    // before the ledger starts.
    stack.nats.restore(backup.path());
    let publishing = tokio::spawn({
        let client = stack.client().await;
        let config = PublisherConfig { batch: 1, receipt_wait: Duration::from_secs(1), attempts: 10, window: 256 };
        let publisher = Publisher::new(client, stack.topology(), config);
        async move { publisher.publish_all((201..=400).map(muster_tests::crash::outgoing), |_| {}).await }
    });
    muster_tests::stack::intake_holds(&stack, 300).await;
    let ledger = stack.start_ledger();
    let outcomes = publishing.await.unwrap().unwrap();
    assert_eq!(outcomes.len(), 200);
    for outcome in &outcomes {
        assert!(matches!(outcome, Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted), "{outcome:?}");
    }
    // The events the backup lost, published again: duplicates, nothing new.
    publish_one_by_one(&stack, 101..=200).await;
    ledger.stop().await;
    let ledger = muster_tests::open_ledger(&stack.ledger_dir());
    assert_eq!(ledger.verify().unwrap().entries, 400, "every event once");
    for entry in ledger.entries() {
        let entry = entry.unwrap();
        let Submission::Event(envelope) = &entry.body.submission else { panic!("undecodable entry") };
        assert_eq!(envelope, &muster_tests::crash::event(entry.body.seq), "in the order published");
    }
}
