//! The workbench's questions (`state`, `unit_events`, `corrections`,
//! `checkpoints`) against the running services holding the reform
//! scenario: the late order of 2016-01-04 seen as reported and as
//! corrected, a unit's events with their orders, a pinned ledger point
//! equal to the chain's own entry, and signed checkpoints the replica
//! verifies and finds in its own chain. HTTP and NATS give the same bytes.

use muster_proto::answers::{CheckpointOut, CorrectionsOut, StateOut, UnitEventOut};
use muster_proto::entry::ReceiptStatus;
use muster_publisher::{Outcome, Publisher, PublisherConfig};
use muster_tests::http::{caught_up, http_get};
use muster_tests::stack::Stack;
use muster_tests::wait::eventually;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const REFORM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/scenarios/reform/events.jsonl");

/// The one event keyed in late (ops/run.sh shows it): NH00255's transfer
/// NH-TB → NH-TR1 of 2016-01-04.
const LATE_ID: &str = "nanhu-01094";

struct Reform {
    stack: Stack,
    ledger: muster_tests::stack::Running,
    query: muster_tests::stack::Running,
    addr: std::net::SocketAddr,
    client: async_nats::Client,
    total: u64,
    /// Each entry's chain hash, from its receipt.
    hashes: BTreeMap<u64, String>,
}

impl Reform {
    /// The services, the ledger signing a checkpoint every 500 entries,
    /// holding the whole scenario; the replica caught up.
    async fn start() -> Reform {
        let stack = Stack::new();
        let (_, secret) = muster_ledger::checkpoint::Signer::generate().unwrap();
        std::fs::write(stack.dir.path().join("ledger.key"), format!("{secret}\n")).unwrap();
        let mut args = stack.ledger_args();
        args.signing_key = Some(stack.dir.path().join("ledger.key"));
        args.checkpoint_every = 500;
        let ledger = stack.start_ledger_with(args);
        stack.wait_for_streams().await;
        let (query, addr) = stack.start_query("a").await;
        let client = stack.client().await;
        let events = muster_tests::outgoing_from_jsonl(std::path::Path::new(REFORM), None).unwrap();
        let total = events.len() as u64;
        let publisher = Publisher::new(client.clone(), stack.topology(), PublisherConfig::default());
        let outcomes = publisher.publish_all(events, |_| {}).await.unwrap();
        let receipts = outcomes.iter().filter_map(|o| match o {
            Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted => Some((r.seq?, r.hash.clone()?)),
            _ => None,
        });
        let hashes: BTreeMap<u64, String> = receipts.collect();
        assert_eq!(hashes.len() as u64, total, "every event accepted");
        caught_up(addr, total).await;
        Reform { stack, ledger, query, addr, client, total, hashes }
    }

    /// `endpoint` asked over HTTP (GET) and NATS: the same answer, which
    /// must not be an error.
    async fn ask(&self, endpoint: &str, query: &str, body: Value) -> Value {
        let (status, over_http) = http_get(self.addr, &format!("/v1/{endpoint}?{query}")).await;
        assert_eq!(status, 200, "{endpoint}?{query}: {over_http}");
        let reply = self.client.request(format!("muster.query.{endpoint}"), body.to_string().into());
        let reply = tokio::time::timeout(Duration::from_secs(30), reply).await.unwrap().unwrap();
        assert!(reply.headers.is_none(), "{endpoint}: an error over NATS: {:?}", reply.payload);
        let over_nats: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(over_http, over_nats, "{endpoint}: the same answer over HTTP and NATS");
        over_nats
    }

    async fn stop(self) {
        self.query.stop().await;
        self.ledger.stop().await;
        drop(self.stack);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workbench_questions_over_the_reform_scenario() {
    let reform = Reform::start().await;
    let late = reform
        .ask("receipt", &format!("source=hr%2Fnanhu&id={LATE_ID}"), json!({"source": "hr/nanhu", "id": LATE_ID}))
        .await;
    let late_seq = late["seq"].as_u64().expect("the late order's seq");

    // `state`: entry 5 as the chain holds it; the head by default.
    let state: StateOut =
        serde_json::from_value(reform.ask("state", "known_at_seq=5", json!({"known_at_seq": 5})).await).unwrap();
    assert_eq!((state.seq, state.head_seq), (5, reform.total));
    assert_eq!(state.hash, reform.hashes[&5], "the hash entry 5's receipt gave");
    assert!(state.recorded_at.as_deref().is_some_and(|t| t.ends_with('Z')), "{state:?}");
    let head: StateOut = serde_json::from_value(reform.ask("state", "", json!({})).await).unwrap();
    let verified = reform.ask("verify", "", json!({})).await;
    assert_eq!((head.seq, Some(head.hash.as_str())), (reform.total, verified["head_hash"].as_str()));

    // `corrections`: NH-TR1 on 2016-01-31 just before the late order was
    // keyed in, and now: 18 posted then, 19 now, explained by that order.
    let query = format!("unit=NH-TR1&date=2016-01-31&reported_at_seq={}", late_seq - 1);
    let body = json!({"unit": "NH-TR1", "date": "2016-01-31", "reported_at_seq": late_seq - 1});
    let corrections: CorrectionsOut = serde_json::from_value(reform.ask("corrections", &query, body).await).unwrap();
    muster_tests::assert_corrections_explained(&corrections);
    let tr1 = &corrections.units[0];
    assert_eq!(tr1.unit, "NH-TR1");
    assert_eq!((tr1.reported.map(|c| c.posted), tr1.corrected.map(|c| c.posted)), (Some(18), Some(19)));
    assert_eq!(tr1.explained_by, [late_seq]);
    assert_eq!((corrections.reported.seq, corrections.corrected.seq), (late_seq - 1, reform.total));
    let event = corrections.events.iter().find(|e| e.event.seq == late_seq).expect("the late order is listed");
    assert_eq!((event.event.id.as_str(), event.units.as_slice()), (LATE_ID, ["NH-TR1".to_owned()].as_slice()));
    assert_eq!(event.summary, "NH00255 transferred NH-TB → NH-TR1");

    // `unit_events`: NH-TR1 lists the late order with its order reference,
    // at its effective date; not as known before it was keyed in.
    let events: Vec<UnitEventOut> =
        serde_json::from_value(reform.ask("unit_events", "unit=NH-TR1", json!({"unit": "NH-TR1"})).await).unwrap();
    let listed = events.iter().find(|e| e.event.seq == late_seq).expect("the late order touched NH-TR1");
    assert_eq!(listed.event.order_ref.as_deref(), Some("南湖公〔2016〕1号"));
    assert_eq!((listed.event.effective_date.as_str(), listed.retracted_by), ("2016-01-04", None));
    let order: Vec<(String, u64)> = events.iter().map(|e| (e.event.effective_date.clone(), e.event.seq)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "timeline order");
    let before = format!("unit=NH-TR1&known_at_seq={}", late_seq - 1);
    let earlier = reform.ask("unit_events", &before, json!({"unit": "NH-TR1", "known_at_seq": late_seq - 1})).await;
    assert!(earlier.as_array().unwrap().iter().all(|e| e["seq"].as_u64() < Some(late_seq)));

    // `checkpoints`: the ledger signs every 500 entries; each verifies and
    // matches the replica's chain, newest first.
    let checkpoints: Vec<CheckpointOut> =
        eventually(Duration::from_secs(60), "a checkpoint of 1,500 entries", || async {
            let answer: Vec<CheckpointOut> =
                serde_json::from_value(http_get(reform.addr, "/v1/checkpoints").await.1).ok()?;
            answer.first().is_some_and(|c| c.seq >= 1500).then_some(answer)
        })
        .await;
    assert!(checkpoints.iter().all(|c| c.signature_ok && c.matches_replica == Some(true)), "{checkpoints:?}");
    assert!(checkpoints.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let one: Vec<CheckpointOut> =
        serde_json::from_value(reform.ask("checkpoints", "limit=1", json!({"limit": 1})).await).unwrap();
    assert_eq!(one.len(), 1);

    reform.stop().await;
}
