//! Independent ledgers on one cluster: three organisations (county
//! bureaus), each under its own subject prefix with its own intake,
//! receipts, feed, lease and ledger, ingesting side by side. No event of
//! one ever reaches another: a spy on each organisation's subjects sees
//! only its own sources, each ledger holds exactly its own events, each
//! query group answers from its own. (That each HR system's NATS user is
//! held to its own organisation is in `security.rs`.)

use muster_proto::entry::{ReceiptStatus, Submission};
use muster_publisher::{Outcome, Outgoing, Publisher, PublisherConfig};
use muster_tests::stack::{stream_made, Stack};
use muster_tests::wait::eventually;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ORGS: [&str; 3] = ["bureau-a", "bureau-b", "bureau-c"];

/// The HR system of an organisation.
fn source_of(org: &str) -> String {
    format!("hr/{org}")
}

/// Event `i` of the crash stream as the HR system of `org` sends it
/// (the same ids in every organisation: keys never meet).
fn event_of(org: &str, i: u64) -> Outgoing {
    let mut envelope = muster_tests::crash::event(i);
    envelope.source = source_of(org);
    Outgoing {
        source: envelope.source.clone(),
        id: envelope.id.clone(),
        content_type: muster_proto::cloudevents::CONTENT_TYPE,
        payload: muster_proto::cloudevents::encode_json(&envelope),
    }
}

/// What a spy on one organisation's subjects saw: every message, and
/// those naming another organisation's source (counted, not asserted in
/// the spy's task, where a failed assertion would fail nothing).
struct Spy {
    seen: Arc<AtomicU64>,
    strange: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Watches every message on `org`'s subjects.
async fn spy_on(stack: &Stack, org: &'static str) -> Spy {
    use futures_util::StreamExt;
    let client = stack.client().await;
    let mut all = client.subscribe(format!("{org}.>")).await.unwrap();
    client.flush().await.unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let strange = Arc::new(std::sync::Mutex::new(Vec::new()));
    let task = tokio::spawn({
        let (seen, strange) = (seen.clone(), strange.clone());
        async move {
            let strangers: Vec<String> = ORGS.iter().filter(|o| **o != org).map(|o| source_of(o)).collect();
            while let Some(message) = all.next().await {
                for stranger in &strangers {
                    if message.payload.windows(stranger.len()).any(|w| w == stranger.as_bytes()) {
                        strange.lock().unwrap().push(format!("{stranger} on {}", message.subject));
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Spy { seen, strange, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_organisations_on_one_cluster_never_see_each_others_events() {
    const EVENTS: u64 = 3_000;
    let stack = Stack::cluster().await;
    let mut spies = Vec::new();
    for org in ORGS {
        spies.push(spy_on(&stack, org).await);
    }
    // One of them with failover on: its lease bucket is its own too.
    let ledgers: Vec<_> = ORGS.iter().map(|org| stack.start_org_ledger(org, *org == "bureau-b")).collect();
    let js = async_nats::jetstream::new(stack.client().await);
    for org in ORGS {
        let topology = muster_bus::Topology::new(org);
        stream_made(&js, &topology.feed_stream(), &format!("{org}'s ledger made its streams")).await;
    }
    let mut replicas = Vec::new();
    for org in ORGS {
        replicas.push(stack.start_org_query(org).await);
    }

    // Side by side, the same ids in each.
    let mut publishing = Vec::new();
    for org in ORGS {
        let publisher = Publisher::new(
            stack.org_client("hr-publisher", org).await,
            muster_bus::Topology::new(org),
            PublisherConfig { batch: 64, ..PublisherConfig::default() },
        );
        publishing.push(tokio::spawn(async move {
            publisher.publish_all((1..=EVENTS).map(|i| event_of(org, i)), |_| {}).await.expect("published")
        }));
    }
    for (org, outcomes) in ORGS.iter().zip(publishing) {
        let outcomes = outcomes.await.unwrap();
        assert_eq!(outcomes.len() as u64, EVENTS);
        for outcome in outcomes {
            match outcome {
                Outcome::Receipt(r) => {
                    assert_eq!(r.status, ReceiptStatus::Accepted, "{org}: {r:?}");
                    assert_eq!(r.source, source_of(org), "{org} got a receipt of another's event");
                }
                other => panic!("{org}: {other:?}"),
            }
        }
    }

    // Each replica, asked through its own organisation's query group,
    // reaches its own ledger's head: EVENTS entries, not 3 × EVENTS.
    let auditor = stack.client_as("auditor").await;
    for org in ORGS {
        let subject = format!("{}.status", muster_bus::Topology::new(org).query_group());
        eventually(Duration::from_secs(30), &format!("{org}'s replica caught up"), || async {
            let reply = auditor.request(subject.clone(), "{}".into()).await.expect("its replica answers");
            let status: muster_proto::requests::StatusAnswer = serde_json::from_slice(&reply.payload).unwrap();
            assert!(status.applied_seq <= EVENTS, "{org}'s replica holds another's entries: {status:?}");
            (status.applied_seq == EVENTS && status.ledger_seq == EVENTS).then_some(())
        })
        .await;
    }
    for replica in replicas {
        replica.stop().await;
    }
    for ledger in ledgers {
        ledger.stop().await;
    }
    for (org, spy) in ORGS.iter().zip(spies) {
        spy.task.abort();
        let seen = spy.seen.load(Ordering::SeqCst);
        eprintln!("{org}: {seen} messages on its subjects");
        assert!(seen >= EVENTS / 64, "the spy on {org} saw its traffic");
        assert_eq!(
            *spy.strange.lock().unwrap(),
            Vec::<String>::new(),
            "another organisation's events on {org}'s subjects"
        );
    }

    // Each ledger: exactly its own events, each once.
    let lease_buckets: Vec<String> = {
        let mut names = js.stream_names();
        let mut all = Vec::new();
        use futures_util::StreamExt;
        while let Some(name) = names.next().await {
            all.push(name.unwrap());
        }
        all.into_iter().filter(|n| n.ends_with("_LEASE")).collect()
    };
    assert_eq!(lease_buckets, ["KV_BUREAU_B_LEASE"], "only the organisation with failover has a lease");
    for org in ORGS {
        let ledger = muster_tests::open_ledger(&stack.ledger_dir_of(org));
        assert_eq!(ledger.verify().unwrap().entries, EVENTS, "{org}");
        for entry in ledger.entries() {
            let entry = entry.unwrap();
            let Submission::Event(envelope) = &entry.body.submission else { panic!("undecodable entry") };
            assert_eq!(envelope.source, source_of(org), "{org}'s ledger holds only its own events");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prefixes_that_name_the_same_streams_are_refused_not_mixed() {
    // `bureau_a` and `bureau-a` both name their streams BUREAU_A_*.
    let stack = Stack::new();
    let first = stack.start_org_ledger("bureau_a", false);
    let js = async_nats::jetstream::new(stack.client().await);
    stream_made(&js, "BUREAU_A_FEED", "the first ledger made its streams").await;
    let second = muster_ledger_service::Args {
        common: stack.org_args("ledger", "bureau-a"),
        ledger: stack.ledger_dir_of("bureau-a"),
        ..stack.ledger_args()
    };
    let ended =
        tokio::time::timeout(Duration::from_secs(30), muster_ledger_service::run(second, std::future::pending()))
            .await
            .expect("the second ledger stops by itself");
    let error = format!("{:#}", ended.expect_err("the second ledger is refused"));
    assert!(error.contains("another deployment's"), "{error}");
    first.stop().await;
}
