//! The services end to end, over a real nats-server and real sled stores:
//! publisher → intake → ledger service → receipts and feed → query
//! replicas → NATS and HTTP answers.

use muster_proto::entry::{Receipt, ReceiptStatus};
use muster_publisher::{Outcome, Outgoing, Publisher, PublisherConfig};
use muster_tests::http::{caught_up, http_get, http_get_text};
use muster_tests::receipts::{next_receipt, receipts};
use muster_tests::stack::Stack;
use std::time::Duration;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/examples/events.jsonl");

fn example_events() -> Vec<Outgoing> {
    muster_tests::outgoing_from_jsonl(std::path::Path::new(EXAMPLE), None).expect("example events")
}

fn publisher(client: async_nats::Client) -> Publisher {
    let config = PublisherConfig { receipt_wait: Duration::from_secs(2), ..PublisherConfig::default() };
    Publisher::new(client, muster_bus::Topology::default(), config)
}

async fn request(client: &async_nats::Client, endpoint: &str, body: serde_json::Value) -> serde_json::Value {
    let reply = client
        .request(format!("muster.query.{endpoint}"), serde_json::to_vec(&body).unwrap().into())
        .await
        .expect("query reply");
    serde_json::from_slice(&reply.payload).expect("JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_receipt_query_end_to_end() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let (query, http) = stack.start_query("a").await;
    let client = stack.client().await;

    let receipts = receipts(publisher(client.clone()).publish_all(example_events(), |_| {}).await.unwrap());
    assert_eq!(receipts.len(), 63);
    let accepted = receipts.iter().filter(|r| r.status == ReceiptStatus::Accepted).count();
    assert_eq!(accepted, 62);
    let rejected: Vec<&Receipt> = receipts.iter().filter(|r| r.status == ReceiptStatus::Rejected).collect();
    assert_eq!(rejected[0].code.as_deref(), Some("staff_not_in_unit"));

    let status = caught_up(http, 63).await;
    assert_eq!((status.applied_seq, status.behind, status.chain_ok), (63, 0, true));

    let answer =
        request(&client, "headcount", serde_json::json!({"unit": "NH", "date": "2016-01-01", "rollup": true})).await;
    assert_eq!((answer["posted"].as_u64(), answer["working"].as_u64()), (Some(39), Some(39)));
    let (code, body) = http_get(http, "/v1/headcount?unit=NH-PS1&date=2015-09-20").await;
    assert_eq!((code, body["posted"].as_u64()), (200, Some(10)));
    let (code, body) = http_get(http, "/v1/headcount?unit=NH-PS1&date=2015-09-20&known_at_seq=57").await;
    assert_eq!((code, body["posted"].as_u64()), (200, Some(9)), "the late order, before it was keyed in");
    let (code, body) = http_get(http, "/v1/headcount?unit=NH-PS1&date=2015-13-01").await;
    assert_eq!((code, body["code"].as_str()), (400, Some("bad_request")));
    let lineage = request(&client, "lineage", serde_json::json!({"unit": "NH-LEGAL"})).await;
    assert_eq!(lineage[0]["to"], "NH-SUP");
    let audit = request(&client, "audit", serde_json::json!({"from": "2013-01-01", "to": "2016-06-30"})).await;
    assert_eq!(audit["moved_down_real"], 7);
    assert_eq!(audit["paper_moves"], serde_json::json!(["P007"]));
    assert_eq!(audit["reconciliation"]["balances"], true);
    let (code, body) = http_get(http, "/v1/audit?from=2013-01-01&to=2016-06-30&scope=NH").await;
    assert_eq!((code, body["moved_down_real"].as_u64(), body["scope"].as_str()), (200, Some(7), Some("NH")));
    let (code, html) = http_get_text(http, "/v1/audit.html?from=2013-01-01&to=2016-06-30").await;
    assert_eq!(code, 200);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"), "the report over HTTP");
    let (code, csv) = http_get_text(http, "/v1/audit.csv?from=2013-01-01&to=2016-06-30").await;
    assert_eq!(
        (code, csv.lines().next()),
        (
            200,
            Some(concat!(
            "direction,staff,from_unit,to_unit,cause,working_on_to,paper_move,from_unit_name,to_unit_name,",
            "working_on_to_name,event_seqs,event_sources,event_ids,event_types,effective_dates,order_refs,recorded_at"
        ))
        )
    );
    assert!(csv.contains("down,P007,"), "{csv}");
    let receipt = request(&client, "receipt", serde_json::json!({"source": "hr/nanhu", "id": "nanhu-0058"})).await;
    assert_eq!(receipt["status"], "accepted");

    // Discoverable as a NATS micro service.
    let info = client.request("$SRV.INFO.muster-query", "".into()).await.expect("$SRV info");
    let info: serde_json::Value = serde_json::from_slice(&info.payload).unwrap();
    assert_eq!(info["name"], "muster-query");
    assert!(info["endpoints"].as_array().unwrap().len() >= 10);

    // The same events again: JetStream drops them inside its dedupe
    // window, and the publisher finds every original receipt.
    let again = receipts_by_key(publisher(client.clone()).publish_all(example_events(), |_| {}).await.unwrap());
    for original in &receipts {
        let second = &again[&(original.source.clone(), original.id.clone())];
        assert_eq!((second.seq, &second.hash, second.status), (original.seq, &original.hash, original.status));
    }
    // Past any dedupe window (here: no Nats-Msg-Id at all) the ledger
    // itself answers a duplicate with the original receipt.
    let first = &example_events()[0];
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(muster_bus::CONTENT_TYPE_HEADER, first.content_type);
    let mut receipts_sub = client.subscribe(stack.topology().receipts_subject(&first.source)).await.unwrap();
    client.flush().await.unwrap();
    client
        .publish_with_headers(stack.topology().intake_subject(&first.source), headers, first.payload.clone().into())
        .await
        .unwrap();
    let duplicate = next_receipt(&mut receipts_sub).await;
    assert!(duplicate.duplicate);
    assert_eq!((duplicate.seq, &duplicate.hash), (receipts[0].seq, &receipts[0].hash));
    assert_eq!(caught_up(http, 63).await.ledger_seq, 63, "duplicates record nothing");

    // Other content under a recorded id is rejected, and the original
    // receipt stays the one a lookup finds.
    let mut forged = first.payload.clone();
    let at = forged.windows(5).position(|w| w == b"Nanhu").expect("a name to change");
    forged[at] = b'X';
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(muster_bus::CONTENT_TYPE_HEADER, first.content_type);
    let topology = stack.topology();
    client.publish_with_headers(topology.intake_subject(&first.source), headers, forged.into()).await.unwrap();
    let conflict = next_receipt(&mut receipts_sub).await;
    assert_eq!((conflict.source.as_str(), conflict.id.as_str()), (first.source.as_str(), first.id.as_str()));
    assert_eq!(conflict.code.as_deref(), Some("duplicate_id_different_content"));
    let looked_up = publisher(client.clone()).lookup(&first.source, &first.id).await.unwrap().unwrap();
    assert_eq!((looked_up.status, looked_up.seq), (ReceiptStatus::Accepted, receipts[0].seq));
    // The ledger answers lookups: nothing recorded is `null`, a request
    // that is not a lookup gets a reason.
    assert_eq!(publisher(client.clone()).lookup(&first.source, "never-sent").await.unwrap(), None);
    let reply = client.request(topology.lookup_subject(&first.source), "{\"id\": 7}".into()).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["code"], "malformed_payload", "{answer}");
    query.stop().await;
    ledger.stop().await;
}

fn receipts_by_key(outcomes: Vec<Outcome>) -> std::collections::HashMap<(String, String), Receipt> {
    receipts(outcomes).into_iter().map(|r| ((r.source.clone(), r.id.clone()), r)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_rejected_receipts_or_dead_letters_never_silence() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    let topology = stack.topology();
    let raw = |id: &str, content_type: &str, payload: &[u8]| Outgoing {
        source: "hr/bad".into(),
        id: id.into(),
        content_type: Box::leak(content_type.to_owned().into_boxed_str()),
        payload: payload.to_vec(),
    };
    let event = |id: &str, ty: &str, data: &str| {
        format!(
            r#"{{"specversion":"1.0","id":"{id}","source":"hr/bad","type":"{ty}","effectivedate":"2015-01-01","data":{data}}}"#
        )
    };
    let cases = vec![
        (raw("b1", "application/cloudevents+json", b"{not json"), "malformed_payload"),
        (
            raw("b2", "application/cloudevents+json", event("b2", "org.muster.staff.promoted.v1", "{}").as_bytes()),
            "unknown_event_type",
        ),
        (
            raw(
                "b3",
                "application/cloudevents+json",
                event("b3", "org.muster.staff.joined.v1", r#"{"staff":"S1"}"#).as_bytes(),
            ),
            "missing_field",
        ),
        (raw("b4", "text/plain", b"hello"), "unsupported_content_type"),
        (raw("b5", "application/vnd.muster.envelope+bincode", &[7, 7, 7]), "unsupported_version"),
    ];
    let (events, expected): (Vec<Outgoing>, Vec<&str>) = cases.into_iter().unzip();
    let got = receipts_by_key(publisher(client.clone()).publish_all(events, |_| {}).await.unwrap());
    for (i, code) in expected.iter().enumerate() {
        let receipt = &got[&("hr/bad".to_owned(), format!("b{}", i + 1))];
        assert_eq!((receipt.status, receipt.code.as_deref()), (ReceiptStatus::Rejected, Some(*code)), "{receipt:?}");
        assert!(receipt.seq.is_some(), "recorded under its id");
    }

    // No id anywhere: a dead letter with the reason, not silence.
    client.publish(topology.intake_subject("nobody"), "garbage".into()).await.unwrap();
    client.flush().await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let letter = muster_tests::wait::eventually(Duration::from_secs(20), "a dead letter", || async {
        let stream = js.get_stream(topology.deadletter_stream()).await.unwrap();
        stream.direct_get_last_for_subject(topology.deadletter_subject()).await.ok()
    })
    .await;
    let letter: muster_proto::entry::DeadLetter = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(letter.code, "unsupported_content_type");

    // Oversize: refused before it leaves the client, with a clear error.
    let huge = raw("b9", "application/cloudevents+json", &vec![b' '; 2 * 1024 * 1024]);
    let error = publisher(client.clone()).publish_all(vec![huge], |_| {}).await.unwrap_err();
    assert_eq!(error.kind, muster_publisher::PublishErrorKind::TooLarge, "{error}");
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_with_no_ledger_running_is_a_clear_error_not_a_silent_loss() {
    let stack = Stack::new();
    let error = publisher(stack.client().await).publish_all(example_events(), |_| {}).await.unwrap_err();
    assert_eq!(error.kind, muster_publisher::PublishErrorKind::NoIntakeStream, "{error}");
    assert!(error.to_string().contains("is the ledger service running"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_catches_up_from_zero_and_a_second_agrees() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    receipts(publisher(client.clone()).publish_all(example_events(), |_| {}).await.unwrap());
    let (a, http_a) = stack.start_query("a").await;
    let (b, http_b) = stack.start_query("b").await;
    assert_eq!(caught_up(http_a, 63).await.applied_seq, 63);
    assert_eq!(caught_up(http_b, 63).await.applied_seq, 63);
    for path in [
        "/v1/tree?date=2014-12-31",
        "/v1/tree?date=2016-01-01",
        "/v1/tree?date=2016-01-01&known_at_seq=40",
        "/v1/roster?unit=NH-SUP&date=2016-01-01",
        "/v1/history?staff=P007",
        "/v1/series?unit=NH&from=2013-01-01&to=2016-12-31&rollup=true",
        "/v1/verify",
    ] {
        let (code_a, body_a) = http_get(http_a, path).await;
        let (code_b, body_b) = http_get(http_b, path).await;
        assert_eq!(code_a, 200, "{path}: {body_a}");
        assert_eq!((code_a, &body_a), (code_b, &body_b), "{path}");
    }
    // A replica restarted from its own disk resumes from the feed message
    // after the last block it stored, also after the ledger went on.
    b.stop().await;
    let more: Vec<Outgoing> = (1..=300).map(muster_tests::crash::outgoing).collect();
    receipts(publisher(client.clone()).publish_all(more, |_| {}).await.unwrap());
    let (b, http_b) = stack.start_query("b").await;
    let status_b = caught_up(http_b, 363).await;
    assert_eq!(status_b.applied_seq, 363);
    assert_eq!(status_b.head_hash, caught_up(http_a, 363).await.head_hash);
    a.stop().await;
    b.stop().await;
    ledger.stop().await;
}

/// An intake stream made before publishers could batch (no
/// `allow_batched`): the ledger turns it on when it starts, and a source's
/// messages then go in fast batches, one event each, all accepted in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intake_made_before_fast_batches_takes_them_once_the_ledger_starts() {
    use async_nats::jetstream::stream;
    let stack = Stack::new();
    let js = async_nats::jetstream::new(stack.client().await);
    let topology = stack.topology();
    let old = stream::Config {
        name: topology.intake_stream(),
        subjects: vec![topology.intake_filter()],
        storage: stream::StorageType::File,
        duplicate_window: muster_bus::DUPLICATE_WINDOW,
        ..Default::default()
    };
    let made = js.create_stream(old).await.expect("an intake as older ledgers made it");
    assert!(!made.cached_info().config.allow_batch_publish);
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let mut intake = js.get_stream(topology.intake_stream()).await.expect("the intake");
    assert!(intake.info().await.expect("its info").config.allow_batch_publish, "turned on by the ledger");

    let config = PublisherConfig { batch: 1, ..PublisherConfig::default() };
    let publisher = Publisher::new(stack.client().await, topology, config);
    let outcomes = publisher.publish_all((1..=200).map(muster_tests::crash::outgoing), |_| {}).await.unwrap();
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted)));
    let stats = publisher.stats();
    // The first alone (is it new?), the rest fast (a slow moment may end
    // a batch and send a message or two alone again).
    assert!(stats.alone >= 1 && stats.fast >= 190, "{stats:?}");
    ledger.stop().await;
}
