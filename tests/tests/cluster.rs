//! Muster on a 3-node JetStream cluster (`ops/nats/cluster.conf`), every
//! stream with 3 replicas, every service given all three URLs:
//!
//! - **node loss**: a node — the intake stream's leader, the hardest one
//!   to lose — is SIGKILLed mid-ingest and started again later; every
//!   receipted event is in the ledger exactly once, and the chain is the
//!   one a ledger makes of the same intake read in one go, entry for entry
//!   the ledger of a single-server run of the same input.
//! - **read scale**: three query replicas in the one micro-service queue
//!   group give identical answers, over NATS and over each one's HTTP
//!   API, and the requests spread across them.
//!
//! The figures each test prints (`--nocapture`) are quoted in
//! ops/SCALING.md.

use muster_tests::http::{caught_up, http_get};
use muster_tests::ingest::{ledger_is_whole, replica_reaches, same_answers, same_entries, Publishing};
use muster_tests::stack::Stack;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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

/// The micro service's own statistics of every replica answering within
/// a second: (instance id, requests it served on `subject`).
async fn requests_served(client: &async_nats::Client, subject: &str) -> Vec<(String, u64)> {
    use futures_util::StreamExt;
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.publish_with_reply("$SRV.STATS.muster-query", inbox, "".into()).await.unwrap();
    let mut served = Vec::new();
    while let Ok(Some(reply)) = tokio::time::timeout(Duration::from_secs(1), replies.next()).await {
        let stats: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        let count = stats["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == subject)
            .map_or(0, |e| e["num_requests"].as_u64().unwrap());
        served.push((stats["id"].as_str().unwrap().to_owned(), count));
    }
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_in_one_queue_group_answer_alike_and_share_the_requests() {
    const TOTAL: u64 = 4_000;
    const REQUESTS: u64 = 600;
    let stack = Stack::cluster().await;
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let replicas = [stack.start_query("r0").await, stack.start_query("r1").await, stack.start_query("r2").await];
    let publishing = Publishing::start(&stack, TOTAL, 256, 10).await;
    publishing.all_accepted_once(TOTAL).await;
    for (_, http) in &replicas {
        assert_eq!(caught_up(*http, TOTAL).await.applied_seq, TOTAL, "every replica reaches the head");
    }

    // Each question over NATS, to whichever replica the queue group picks,
    // and over each replica's HTTP API: one answer.
    let questions: Vec<(&str, String, String)> = (0..REQUESTS)
        .map(|i| {
            let (unit, day) = (i % 20 + 1, 1 + i % 28);
            (
                "headcount",
                format!(r#"{{"unit": "U{unit}", "date": "2015-02-{day:02}"}}"#),
                format!("/v1/headcount?unit=U{unit}&date=2015-02-{day:02}"),
            )
        })
        .collect();
    let client = stack.client_as("auditor").await;
    let started = Instant::now();
    let mut answers = Vec::new();
    for (endpoint, body, _) in &questions {
        let subject = format!("{}.{endpoint}", stack.topology().query_group());
        let reply = client.request(subject, body.clone().into()).await.expect("a replica answers");
        answers.push(serde_json::from_slice::<serde_json::Value>(&reply.payload).unwrap());
    }
    let asked_in = started.elapsed();
    for ((_, _, path), over_nats) in questions.iter().zip(&answers).step_by(7) {
        for (_, http) in &replicas {
            let (status, over_http) = http_get(*http, path).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(&over_http, over_nats, "{path}: every replica, every door, one answer");
        }
    }

    let served = requests_served(&client, &format!("{}.headcount", stack.topology().query_group())).await;
    eprintln!(
        "read scale: {REQUESTS} headcounts over NATS in {asked_in:?} ({:.0}/s, one at a time); served per replica: {:?}",
        REQUESTS as f64 / asked_in.as_secs_f64(),
        served.iter().map(|(_, n)| n).collect::<Vec<_>>()
    );
    assert_eq!(served.len(), 3, "three replicas in the group: {served:?}");
    assert_eq!(served.iter().map(|(_, n)| n).sum::<u64>(), REQUESTS, "each request answered once");
    // A fair share is 200; the queue group picks at random, so fewer than
    // 100 (the chance of which is far below 1e-12) means no spreading.
    assert!(served.iter().all(|(_, n)| *n >= REQUESTS / 6), "requests spread across the replicas: {served:?}");
    for (running, _) in replicas {
        running.stop().await;
    }
    ledger.stop().await;
}
