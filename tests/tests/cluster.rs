//! Muster on a 3-node JetStream cluster (`ops/nats/cluster.conf`), every
//! stream with 3 replicas, every service given all three URLs:
//!
//! - **node loss**: a node — the intake stream's leader, the hardest one
//!   to lose — is SIGKILLed mid-ingest and started again later; every
//!   receipted event is in the ledger exactly once, and the chain is the
//!   one a ledger makes of the same intake read in one go, entry for entry
//!   the ledger of a single-server run of the same input.
//!
//! The figures each test prints (`--nocapture`) are quoted in
//! ops/SCALING.md.

use muster_tests::ingest::{ledger_is_whole, replica_reaches, same_answers, same_entries, Publishing};
use muster_tests::stack::Stack;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The node (its index in the stack) that leads `stream`'s replicas.
async fn leader_of(stack: &Stack, stream: &str) -> usize {
    let js = async_nats::jetstream::new(stack.client().await);
    let info = js.get_stream(stream).await.expect("the stream").info().await.expect("stream info").clone();
    let leader = info.cluster.and_then(|c| c.leader).expect("a replicated stream has a leader");
    let names: Vec<String> =
        std::iter::once(&stack.nats).chain(&stack.others).map(|node| node.name().to_owned()).collect();
    names.iter().position(|name| *name == leader).unwrap_or_else(|| panic!("leader {leader} is none of {names:?}"))
}

/// Receipts per second from now until `receipts` have come.
async fn rate_until(publishing: &Publishing, receipts: u64) -> f64 {
    let (started, before) = (Instant::now(), publishing.received.load(Ordering::SeqCst));
    publishing.until_receipts(receipts).await;
    let got = publishing.received.load(Ordering::SeqCst) - before;
    got as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_lost_mid_ingest_loses_no_receipted_event() {
    const TOTAL: u64 = 30_000;
    let mut stack = Stack::cluster().await;
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let (replica, _) = stack.start_query_with(stack.replica_dir("steady"), "off").await;
    let publishing = Publishing::start(&stack, TOTAL, 256, 60).await;

    let healthy = rate_until(&publishing, TOTAL / 4).await;
    let lost = leader_of(&stack, &stack.topology().intake_stream()).await;
    let killed_at = Instant::now();
    stack.node(lost).kill();
    // Ingest goes on with two of three nodes: a quorum.
    let receipts = publishing.received.load(Ordering::SeqCst);
    publishing.until_receipts(receipts + 1).await;
    let first_receipt_after = killed_at.elapsed();
    let degraded = rate_until(&publishing, TOTAL * 3 / 4).await;
    if publishing.finished() {
        let receipts = publishing.received.load(Ordering::SeqCst);
        let result = publishing.task.await.expect("publishing").map(|outcomes| outcomes.len());
        panic!("publishing ended with node {lost} down, after {receipts} receipts: {result:?}");
    }
    stack.node(lost).start_again();
    let rejoined = rate_until(&publishing, TOTAL).await;
    let new_leader = leader_of(&stack, &stack.topology().intake_stream()).await;
    eprintln!(
        "node loss: {TOTAL} events; receipts/s {healthy:.0} with 3 nodes, {degraded:.0} with node {lost} (the intake's leader) down, {rejoined:.0} after it rejoined; first receipt {first_receipt_after:?} after the kill; the intake's leader is now node {new_leader}"
    );
    publishing.all_accepted_once(TOTAL).await;
    ledger.stop().await;
    replica_reaches(&stack, TOTAL).await;
    replica.stop().await;
    let whole = ledger_is_whole(&stack, &stack.ledger_dir(), TOTAL).await;
    same_answers(&whole, &stack.replica_dir("steady"));

    // The same input on one server, undisturbed: the same entries (only
    // the recorded times, JetStream's, differ between two runs).
    let single = Stack::new();
    let ledger = single.start_ledger();
    single.wait_for_streams().await;
    let publishing = Publishing::start(&single, TOTAL, 256, 10).await;
    publishing.all_accepted_once(TOTAL).await;
    ledger.stop().await;
    let one_server = muster_tests::open_ledger(&single.ledger_dir());
    same_entries(&whole, &one_server);
}
