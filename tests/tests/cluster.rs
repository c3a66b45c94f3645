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
//! - **ledger failover**: two ledger services with `--failover`, one
//!   active, one standing by; the active one SIGKILLed mid-ingest (and,
//!   later, the one that took over), or paused past its lease and woken
//!   up again: the standby takes over, every event is receipted once, the
//!   feed is one chain written in turns and never by two at once, and
//!   every ledger directory holds that chain.
//!
//! The figures each test prints (`--nocapture`) are quoted in
//! ops/SCALING.md.

use muster_publisher::{Publisher, PublisherConfig};
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
    // A child process: MUSTER_CHILD_LOG=info shows what it lived through.
    let mut ledger = stack.spawn_ledger_process();
    stack.wait_for_streams().await;
    let (replica, _) = stack.start_query_with(stack.replica_dir("steady"), "off").await;
    let publishing = Publishing::start(&stack, TOTAL, 256, 60).await;

    let healthy = rate_until(&publishing, TOTAL / 4).await;
    let lost = leader_of(&stack, &stack.topology().intake_stream()).await;
    let killed_at = Instant::now();
    stack.node(lost).kill();
    // Ingest goes on with two of three nodes, a quorum, once the streams
    // have elected new leaders (nats-server's Raft waits 4 to 9 s).
    let receipts = publishing.received.load(Ordering::SeqCst);
    publishing.until_receipts(receipts + 1000).await;
    let resumed_after = killed_at.elapsed();
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
        "node loss: {TOTAL} events; receipts/s {healthy:.0} with 3 nodes; node {lost} (the intake's leader) killed: 1,000 more receipts {resumed_after:?} after, then {degraded:.0}/s with it down, {rejoined:.0}/s after it rejoined; the intake's leader is now node {new_leader}"
    );
    publishing.all_accepted_once(TOTAL).await;
    ledger.signal("TERM");
    assert_eq!(ledger.wait_exit(Duration::from_secs(30)), Some(true), "the ledger stops cleanly");
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
    let one_server_rate = rate_until(&publishing, TOTAL).await;
    eprintln!("node loss: the same {TOTAL} events on one server (no replication): {one_server_rate:.0} receipts/s");
    publishing.all_accepted_once(TOTAL).await;
    ledger.stop().await;
    let one_server = muster_tests::open_ledger(&single.ledger_dir());
    same_entries(&whole, &one_server);
}

/// The micro service's own statistics of (at most three) replicas:
/// (instance id, requests it served on `subject`).
async fn requests_served(client: &async_nats::Client, subject: &str) -> Vec<(String, u64)> {
    use futures_util::StreamExt;
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.publish_with_reply("$SRV.STATS.muster-query", inbox, "".into()).await.unwrap();
    let mut served = Vec::new();
    // Until three have answered, or 5 s (a loaded machine answers late).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while served.len() < 3 {
        let Ok(Some(reply)) = tokio::time::timeout_at(deadline, replies.next()).await else { break };
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

    // Pinned to a ledger position, every replica gives the one answer; a
    // position past what a replica holds, it says it does not hold yet.
    let pinned = format!("/v1/tree?date=2015-02-10&known_at_seq={}", TOTAL / 2);
    let mut trees = Vec::new();
    for (_, http) in &replicas {
        let (status, tree) = http_get(*http, &pinned).await;
        assert_eq!(status, 200, "{pinned}");
        trees.push(tree);
    }
    assert!(trees.iter().all(|tree| *tree == trees[0]), "one answer as known at entry {}", TOTAL / 2);
    let ahead = format!("/v1/tree?date=2015-02-10&known_at_seq={}", TOTAL + 1);
    let (status, refusal) = http_get(replicas[0].1, &ahead).await;
    assert_eq!((status, refusal["code"].as_str()), (503, Some("not_yet_applied")), "{refusal}");

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

/// Waits (at most 30 s) until the ledger service named `instance` holds
/// the lease; how long that took.
async fn holder_becomes(stack: &Stack, instance: &str) -> Duration {
    let js = async_nats::jetstream::new(stack.client().await);
    let started = Instant::now();
    let holds = format!("{instance} took the lease");
    muster_tests::wait::eventually(Duration::from_secs(30), &holds, || async {
        let holder = muster_ledger_service::lease::holder(&js, &stack.topology()).await;
        matches!(holder, Ok(Some(holder)) if holder == instance).then_some(())
    })
    .await;
    started.elapsed()
}

/// Every feed message in order: (first entry, last entry, writer).
async fn feed_messages(stack: &Stack) -> Vec<(u64, u64, String)> {
    let js = async_nats::jetstream::new(stack.client().await);
    let mut feed = js.get_stream(stack.topology().feed_stream()).await.unwrap();
    let last = feed.info().await.unwrap().state.last_sequence;
    let mut messages = Vec::new();
    for seq in 1..=last {
        let message = feed.get_raw_message(seq).await.unwrap();
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned()).unwrap_or_default();
        messages.push((
            header(muster_bus::FIRST_SEQ_HEADER).parse().unwrap(),
            header(muster_bus::SEQ_HEADER).parse().unwrap(),
            header(muster_bus::WRITER_HEADER),
        ));
    }
    messages
}

/// The feed is one chain — each block starts just after the one before,
/// from entry 1 to `total` — and its writers took turns as `turns` says
/// (consecutive blocks of one writer counted once).
fn one_chain_written_in_turns(feed: &[(u64, u64, String)], total: u64, turns: &[&str]) {
    let mut next = 1;
    for (first, last, _) in feed {
        assert_eq!(*first, next, "the feed continues where it ended");
        next = last + 1;
    }
    assert_eq!(next, total + 1, "the feed carries every entry");
    let mut writers: Vec<&str> = feed.iter().map(|(_, _, writer)| writer.as_str()).collect();
    writers.dedup();
    assert_eq!(writers, turns, "who wrote the feed, in turn");
}

/// The ledger of each `name` holds a prefix of `whole`'s chain (a standby
/// killed before the end holds less).
fn prefixes_of(stack: &Stack, whole: &muster_ledger::Ledger, names: &[&str]) {
    for name in names {
        let ledger = muster_tests::open_ledger(&stack.ledger_dir_of(name));
        ledger.verify().expect("its chain verifies");
        let head = ledger.head();
        assert!(head.seq > 0, "{name} holds entries");
        assert_eq!(whole.entry(head.seq).unwrap().map(|e| e.hash), Some(head.hash), "{name} holds the same chain");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_ledger_takes_over_when_the_active_one_dies_and_the_chain_stays_one() {
    const TOTAL: u64 = 24_000;
    // Long enough that a renewal on a loaded 2-core CI machine never misses
    // it (a spurious handover would be correct, but blur what is tested).
    const LEASE_MS: u64 = 3_000;
    let stack = Stack::cluster().await;
    let mut a = stack.spawn_failover_ledger("a", LEASE_MS);
    holder_becomes(&stack, "a").await;
    stack.wait_for_streams().await;
    let mut b = stack.spawn_failover_ledger("b", LEASE_MS);
    let (replica, _) = stack.start_query_with(stack.replica_dir("steady"), "off").await;
    let publishing = Publishing::start(&stack, TOTAL, 256, 60).await;

    publishing.until_receipts(TOTAL / 3).await;
    a.kill();
    let (killed, before) = (Instant::now(), publishing.received.load(Ordering::SeqCst));
    let took_over = holder_becomes(&stack, "b").await;
    publishing.until_receipts(before + 1).await;
    let resumed = killed.elapsed();
    // The dead one comes back, and stands by.
    let mut a = stack.spawn_failover_ledger("a", LEASE_MS);
    publishing.until_receipts(TOTAL * 2 / 3).await;
    assert!(!publishing.finished(), "the second kill falls while events flow");
    b.kill();
    let (killed, before) = (Instant::now(), publishing.received.load(Ordering::SeqCst));
    let took_back = holder_becomes(&stack, "a").await;
    publishing.until_receipts(before + 1).await;
    let resumed_again = killed.elapsed();
    eprintln!(
        "failover: lease {LEASE_MS} ms; b took over {took_over:?} after a was killed, receipts again after {resumed:?}; a (restarted) took back {took_back:?} after b was killed, receipts again after {resumed_again:?}"
    );
    publishing.all_accepted_once(TOTAL).await;
    replica_reaches(&stack, TOTAL).await;
    // A clean stop releases the lease.
    a.signal("TERM");
    assert_eq!(a.wait_exit(Duration::from_secs(30)), Some(true), "a stops cleanly");
    replica.stop().await;

    one_chain_written_in_turns(&feed_messages(&stack).await, TOTAL, &["a", "b", "a"]);
    let whole = ledger_is_whole(&stack, &stack.ledger_dir_of("a"), TOTAL).await;
    prefixes_of(&stack, &whole, &["b"]);
    same_answers(&whole, &stack.replica_dir("steady"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_ledger_paused_past_its_lease_never_writes_beside_the_one_that_took_over() {
    const TOTAL: u64 = 16_000;
    // Long enough that a renewal on a loaded 2-core CI machine never misses
    // it (a spurious handover would be correct, but blur what is tested).
    const LEASE_MS: u64 = 3_000;
    let stack = Stack::cluster().await;
    let a = stack.spawn_failover_ledger("a", LEASE_MS);
    holder_becomes(&stack, "a").await;
    stack.wait_for_streams().await;
    let mut b = stack.spawn_failover_ledger("b", LEASE_MS);
    let publishing = Publishing::start(&stack, TOTAL, 256, 60).await;

    publishing.until_receipts(TOTAL / 3).await;
    // Frozen mid-work (a long GC pause, a VM migrated, a process stopped):
    // its lease runs out while it believes nothing.
    a.signal("STOP");
    let took_over = holder_becomes(&stack, "b").await;
    let (before, since) = (publishing.received.load(Ordering::SeqCst), Instant::now());
    publishing.until_receipts(before + 2_000).await;
    eprintln!(
        "paused: lease {LEASE_MS} ms; b took over {took_over:?} after a was frozen; the next 2,000 receipts took {:?}",
        since.elapsed()
    );
    // Woken up with its batches in hand: it must find the lease gone and
    // stand by, never publish beside b.
    a.signal("CONT");
    publishing.all_accepted_once(TOTAL).await;
    b.signal("TERM");
    assert_eq!(b.wait_exit(Duration::from_secs(30)), Some(true), "b stops cleanly");
    // a takes the released lease, replays up to the feed's end, finds the
    // feed's last entry its own, and answers lookups: active, with nothing
    // left to write.
    holder_becomes(&stack, "a").await;
    let last = format!("c{TOTAL}");
    let publisher = Publisher::new(stack.client().await, stack.topology(), PublisherConfig::default());
    muster_tests::wait::eventually(Duration::from_secs(60), "a became active", || async {
        publisher.lookup("hr/crash", &last).await.expect("a lookup")
    })
    .await;
    let mut a = a;
    a.signal("TERM");
    assert_eq!(a.wait_exit(Duration::from_secs(30)), Some(true), "a stops cleanly");

    let feed = feed_messages(&stack).await;
    one_chain_written_in_turns(&feed, TOTAL, &["a", "b"]);
    let whole = ledger_is_whole(&stack, &stack.ledger_dir_of("b"), TOTAL).await;
    prefixes_of(&stack, &whole, &["a"]);
    // a, standing by after it woke, then active, holds the whole chain.
    assert_eq!(muster_tests::open_ledger(&stack.ledger_dir_of("a")).head(), whole.head(), "a caught up as a standby");
}
