//! The query edge, over a real nats-server: every mistake a user can make
//! in a question gets its stable error code — the same over HTTP (GET and
//! POST) and the NATS micro service — and never an answer of zeros; an
//! unknown parameter is refused with the list of accepted ones; every
//! HTTP error has a JSON body; and nothing an erroneous question touches
//! changes the ledger.

use muster_proto::entry::ReceiptStatus;
use muster_publisher::{Outcome, Publisher, PublisherConfig};
use muster_tests::http::caught_up;
use muster_tests::stack::Stack;
use serde_json::{json, Value};
use std::time::Duration;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/examples/events.jsonl");

/// One question that must fail: asked as `body` over NATS and POST, and
/// as query parameters over GET.
struct Case {
    what: &'static str,
    endpoint: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
    fragment: &'static str,
}

/// The example ledger (ops/examples: 63 entries; NH-SUP is made by the
/// merger at seq 54, staff P039 joins at seq 46).
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let table: Vec<(&str, &str, Value, u16, &str, &str)> = vec![
        ("a unit id in the wrong case", "headcount", json!({"unit": "nh", "date": "2016-01-01"}), 404, "unit_unknown", "unit nh: no unit nh was ever established (did you mean NH?)"),
        ("a unit never established", "headcount", json!({"unit": "NOPE", "date": "2016-01-01", "rollup": true}), 404, "unit_unknown", "unit NOPE: no unit NOPE was ever established"),
        ("a unit not yet established as known then", "headcount", json!({"unit": "NH-SUP", "date": "2016-01-01", "known_at_seq": 53}), 404, "unit_unknown", "no unit NH-SUP was ever established as known at seq 53"),
        ("known_at misspelt", "headcount", json!({"unit": "NH", "date": "2016-01-01", "known_at": "57"}), 400, "unknown_field", "headcount does not accept 'known_at'; it accepts unit, date, rollup, known_at_seq, known_at_time"),
        ("a malformed date", "headcount", json!({"unit": "NH", "date": "2016-13-01"}), 400, "bad_request", "date"),
        ("a known_at_seq past the replica", "headcount", json!({"unit": "NH", "date": "2016-01-01", "known_at_seq": 1000}), 503, "not_yet_applied", "known_at_seq 1000 is past"),
        ("both known_at fields", "history", json!({"staff": "P001", "known_at_seq": 3, "known_at_time": "2016-01-01T00:00:00Z"}), 400, "bad_request", "not both"),
        ("roster of an unknown unit", "roster", json!({"unit": "NOPE", "date": "2016-01-01"}), 404, "unit_unknown", "unit NOPE: no unit NOPE"),
        ("history of an unknown member", "history", json!({"staff": "NOPE"}), 404, "staff_unknown", "staff NOPE: no staff member NOPE ever joined"),
        ("history of a member in the wrong case", "history", json!({"staff": "p007"}), 404, "staff_unknown", "(did you mean P007?)"),
        ("history before the member joined", "history", json!({"staff": "P039", "known_at_seq": 45}), 404, "staff_unknown", "as known at seq 45"),
        ("lineage of an unknown unit", "lineage", json!({"unit": "NOPE"}), 404, "unit_unknown", "unit NOPE"),
        ("series of an unknown unit", "series", json!({"unit": "NOPE", "from": "2015-01-01", "to": "2016-01-01"}), 404, "unit_unknown", "unit NOPE"),
        ("series backwards", "series", json!({"unit": "NH", "from": "2016-01-01", "to": "2015-01-01"}), 400, "bad_request", "is before from"),
        ("an audit of an unknown scope", "audit", json!({"from": "2013-01-01", "to": "2016-06-30", "scope": "NOPE"}), 404, "unit_unknown", "scope NOPE: no unit NOPE was ever established"),
        ("an audit field misspelt", "audit", json!({"from": "2013-01-01", "to": "2016-06-30", "scop": "NH"}), 400, "unknown_field", "it accepts from, to, scope, known_at_seq, known_at_time"),
        ("a field of another endpoint", "tree", json!({"date": "2016-01-01", "rollup": "true"}), 400, "unknown_field", "tree does not accept 'rollup'"),
        ("a receipt never recorded", "receipt", json!({"source": "hr/nanhu", "id": "nope"}), 404, "not_found", "no event hr/nanhu/nope was recorded"),
        ("a receipt field too many", "receipt", json!({"source": "hr/nanhu", "id": "nanhu-0001", "seq": "1"}), 400, "unknown_field", "it accepts source, id"),
        ("status takes nothing", "status", json!({"verbose": "true"}), 400, "unknown_field", "status does not accept 'verbose'; it accepts nothing"),
        ("verify takes nothing", "verify", json!({"deep": "true"}), 400, "unknown_field", "verify does not accept 'deep'"),
        ("state past the replica", "state", json!({"known_at_seq": 1000}), 503, "not_yet_applied", "known_at_seq 1000 is past"),
        ("state at a malformed time", "state", json!({"known_at_time": "yesterday"}), 400, "bad_request", "'yesterday' is not a UTC time"),
        ("events of an unknown unit", "unit_events", json!({"unit": "NOPE"}), 404, "unit_unknown", "unit NOPE: no unit NOPE was ever established"),
        ("events of a unit not yet established then", "unit_events", json!({"unit": "NH-SUP", "known_at_seq": 53}), 404, "unit_unknown", "as known at seq 53"),
        ("corrections of an unknown unit", "corrections", json!({"unit": "NOPE", "date": "2016-01-01", "reported_at_seq": 10}), 404, "unit_unknown", "unit NOPE"),
        ("corrections reported at the corrected point", "corrections", json!({"unit": "NH", "date": "2016-01-01", "reported_at_seq": 63}), 400, "bad_request", "reported at seq 63 must be before corrected at seq 63"),
        ("corrections reported after the corrected point", "corrections", json!({"unit": "NH", "date": "2016-01-01", "reported_at_seq": 20, "known_at_seq": 10}), 400, "bad_request", "reported at seq 20 must be before corrected at seq 10"),
        ("corrections reported at a seq and a time", "corrections", json!({"unit": "NH", "date": "2016-01-01", "reported_at_seq": 10, "reported_at_time": "2016-01-01T00:00:00Z"}), 400, "bad_request", "give reported_at_seq or reported_at_time, not both"),
        ("corrections reported at no point", "corrections", json!({"unit": "NH", "date": "2016-01-01"}), 400, "bad_request", "give reported_at_seq or reported_at_time: the point as reported"),
        ("corrections on a malformed date", "corrections", json!({"unit": "NH", "date": "2016-02-30", "reported_at_seq": 10}), 400, "bad_request", "date"),
        ("corrections reported past the replica", "corrections", json!({"unit": "NH", "date": "2016-01-01", "reported_at_seq": 1000}), 503, "not_yet_applied", "reported_at_seq 1000 is past"),
        ("no checkpoint asked for", "checkpoints", json!({"limit": 0}), 400, "bad_request", "limit 0: ask for 1 checkpoint or more"),
        ("more checkpoints than listed", "checkpoints", json!({"limit": 21}), 400, "bad_request", "limit 21 is over the limit of 20"),
        ("checkpoints as known then", "checkpoints", json!({"known_at_seq": 5}), 400, "unknown_field", "checkpoints does not accept 'known_at_seq'; it accepts limit"),
    ];
    let case = |(what, endpoint, body, status, code, fragment)| Case { what, endpoint, body, status, code, fragment };
    table.into_iter().map(case).collect()
}

/// The fields of each endpoint, as its `unknown_field` error lists them.
fn accepted(endpoint: &str) -> Vec<&'static str> {
    match endpoint {
        "headcount" => vec!["unit", "date", "rollup", "known_at_seq", "known_at_time"],
        "audit" => vec!["from", "to", "scope", "known_at_seq", "known_at_time"],
        "tree" => vec!["date", "known_at_seq", "known_at_time"],
        "receipt" => vec!["source", "id"],
        "checkpoints" => vec!["limit"],
        _ => vec![],
    }
}

/// `body` as a query string (values as text; `rollup` and `known_at_seq`
/// are parsed back by the service).
fn query_string(body: &Value) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let pairs: Vec<String> = body
        .as_object()
        .expect("an object")
        .iter()
        .map(|(key, value)| {
            let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            format!("{}={}", encode(key), encode(&value))
        })
        .collect();
    pairs.join("&")
}

/// One HTTP/1.1 request, read to its end: status, `Content-Type`, body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, accept: &str, body: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect HTTP");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nAccept: {accept}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).expect("UTF-8 response");
    let status: u16 = text[9..12].parse().expect("status code");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let content_type = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// The error as it came: status, and the JSON body.
fn check_error(how: &str, case: &Case, status: u16, body: &str) {
    let what = format!("{} ({how})", case.what);
    let error: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: a JSON body, got {status} {body:?}"));
    assert_eq!((status, error["code"].as_str()), (case.status, Some(case.code)), "{what}: {body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(case.fragment), "{what}: {message:?} lacks {:?}", case.fragment);
    if case.code == "unknown_field" {
        let listed: Vec<&str> =
            error["accepted"].as_array().expect("accepted").iter().filter_map(Value::as_str).collect();
        assert_eq!(listed, accepted(case.endpoint), "{what}");
        assert!(error["field"].is_string(), "{what}: the field is named");
    }
}

async fn ask_nats(client: &async_nats::Client, endpoint: &str, body: &Value) -> async_nats::Message {
    let subject = format!("muster.query.{endpoint}");
    let ask = client.request(subject, serde_json::to_vec(body).unwrap().into());
    tokio::time::timeout(Duration::from_secs(30), ask).await.expect("an answer in time").expect("a reply")
}

/// nats-server, the ledger service and one query replica, holding the
/// example events (all recorded, the replica caught up).
struct Example {
    stack: Stack,
    ledger: muster_tests::stack::Running,
    query: muster_tests::stack::Running,
    /// The replica's HTTP address.
    addr: std::net::SocketAddr,
    client: async_nats::Client,
}

impl Example {
    async fn start() -> Example {
        let stack = Stack::new();
        let ledger = stack.start_ledger();
        stack.wait_for_streams().await;
        let (query, addr) = stack.start_query("a").await;
        let client = stack.client().await;
        let events = muster_tests::outgoing_from_jsonl(std::path::Path::new(EXAMPLE), None).expect("example events");
        let config = PublisherConfig { receipt_wait: Duration::from_secs(2), ..PublisherConfig::default() };
        let publisher = Publisher::new(client.clone(), stack.topology(), config);
        let outcomes = publisher.publish_all(events, |_| {}).await.unwrap();
        let accepted =
            outcomes.iter().filter(|o| matches!(o, Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted));
        assert_eq!((outcomes.len(), accepted.count()), (63, 62));
        assert_eq!(caught_up(addr, 63).await.applied_seq, 63);
        Example { stack, ledger, query, addr, client }
    }

    async fn stop(self) {
        self.query.stop().await;
        self.ledger.stop().await;
        drop(self.stack);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mistake_gets_its_code_and_changes_nothing() {
    let example = Example::start().await;
    let (addr, client) = (example.addr, &example.client);
    let before = http(addr, "GET", "/v1/status", "*/*", "").await.2;
    let tree_before = http(addr, "GET", "/v1/tree?date=2016-01-01", "*/*", "").await;

    for case in cases() {
        let (status, content_type, body) =
            http(addr, "GET", &format!("/v1/{}?{}", case.endpoint, query_string(&case.body)), "*/*", "").await;
        assert_eq!(content_type, "application/json", "{}", case.what);
        check_error("HTTP GET", &case, status, &body);
        let (status, _, body) =
            http(addr, "POST", &format!("/v1/{}", case.endpoint), "*/*", &case.body.to_string()).await;
        check_error("HTTP POST", &case, status, &body);
        let reply = ask_nats(client, case.endpoint, &case.body).await;
        let headers = reply.headers.clone().expect("an error reply has headers");
        let status_text = headers.get("Nats-Service-Error").expect("Nats-Service-Error").as_str().to_owned();
        assert!(status_text.starts_with(&format!("{}: ", case.code)), "{}: {status_text}", case.what);
        let nats_status: u16 = headers.get("Nats-Service-Error-Code").expect("the code").as_str().parse().unwrap();
        check_error("NATS", &case, nats_status, std::str::from_utf8(&reply.payload).unwrap());
    }

    // Nothing a question touched changed the ledger or the replica.
    assert_eq!(http(addr, "GET", "/v1/status", "*/*", "").await.2, before);
    assert_eq!(http(addr, "GET", "/v1/tree?date=2016-01-01", "*/*", "").await, tree_before);
    let status: Value = serde_json::from_str(&before).unwrap();
    assert_eq!((status["ledger_seq"].as_u64(), status["applied_seq"].as_u64()), (Some(63), Some(63)));
    // A ledger without a signing key signed nothing: an empty list.
    assert_eq!(http(addr, "GET", "/v1/checkpoints", "*/*", "").await.2, "[]");

    example.stop().await;
}

/// Mistakes only HTTP can make, and its index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_is_strict_and_discoverable() {
    let example = Example::start().await;
    let addr = example.addr;

    let audit = "from=2013-01-01&to=2016-06-30&scope=NOPE";
    let table: [(&str, &str, &str, u16, &str, &str); 11] = [
        ("GET", "/nope", "", 404, "not_found", "no such path /nope: GET / lists the endpoints"),
        ("GET", "/v1", "", 404, "not_found", "no such path /v1"),
        ("GET", "/v1/nosuch?unit=NH", "", 404, "not_found", "no endpoint 'nosuch'"),
        ("DELETE", "/v1/headcount", "", 405, "method_not_allowed", "/v1/headcount does not take DELETE"),
        ("POST", "/", "{}", 405, "method_not_allowed", "/ does not take POST"),
        (
            "GET",
            "/v1/headcount?unit=NH&unit=NH-PS1&date=2016-01-01",
            "",
            400,
            "bad_request",
            "unit is given more than once",
        ),
        ("GET", "/v1/headcount?unit=NH&date=2016-01-01&rollup=yes", "", 400, "bad_request", "rollup 'yes'"),
        ("GET", "/v1/headcount?unit=NH&date=2016-01-01&known_at_seq=x", "", 400, "bad_request", "known_at_seq 'x'"),
        ("POST", "/v1/headcount", "unit=NH", 400, "bad_request", "request:"),
        ("GET", &format!("/v1/audit.html?{audit}"), "", 404, "unit_unknown", "scope NOPE"),
        ("GET", &format!("/v1/audit.csv?{audit}"), "", 404, "unit_unknown", "scope NOPE"),
    ];
    for (method, path, body, status, code, fragment) in table {
        let (got, content_type, text) = http(addr, method, path, "text/html,*/*", body).await;
        let error: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: JSON, got {got} {text:?}"));
        assert_eq!(
            (got, content_type.as_str(), error["code"].as_str()),
            (status, "application/json", Some(code)),
            "{method} {path}: {text}"
        );
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(fragment), "{method} {path}: {message:?} lacks {fragment:?}");
    }
    // The misspelt parameter of the issue: refused, naming it, with the list.
    let (status, _, text) = http(addr, "GET", "/v1/headcount?unit=NH&date=2016-01-01&known_at=57", "*/*", "").await;
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, &error["code"], &error["field"]), (400, &json!("unknown_field"), &json!("known_at")));
    assert_eq!(error["accepted"], json!(["unit", "date", "rollup", "known_at_seq", "known_at_time"]));

    // `/`: JSON for a program, HTML for a browser, from the same list.
    let (status, content_type, text) = http(addr, "GET", "/", "application/json", "").await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let index: Value = serde_json::from_str(&text).unwrap();
    let paths: Vec<&str> = index["endpoints"].as_array().unwrap().iter().filter_map(|e| e["path"].as_str()).collect();
    assert_eq!(paths.len(), 17, "{paths:?}");
    let proofs = ["/v1/proof/inclusion", "/v1/proof/consistency", "/v1/proof/entries"];
    assert!(proofs.iter().all(|p| paths.contains(p)), "{paths:?}");
    assert_eq!(index["endpoints"][0]["path"], "/v1/headcount");
    assert_eq!(index["endpoints"][0]["parameters"], json!(["unit", "date", "rollup", "known_at_seq", "known_at_time"]));
    let codes: Vec<&str> = index["errors"].as_array().unwrap().iter().filter_map(|e| e["code"].as_str()).collect();
    assert!(codes.contains(&"unit_unknown") && codes.contains(&"staff_unknown") && codes.contains(&"unknown_field"));
    // A browser at `/` gets the workbench; `/api` lists the endpoints.
    let browser = "text/html,application/xhtml+xml,*/*;q=0.8";
    let (status, content_type, html) = http(addr, "GET", "/", browser, "").await;
    assert_eq!((status, content_type.as_str()), (200, "text/html; charset=utf-8"));
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<title>The staffing ledger · Muster</title>"),
        "{html}"
    );
    let (status, _, html) = http(addr, "GET", "/api", browser, "").await;
    assert_eq!(status, 200);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<a href=\"/v1/headcount\">"), "{html}");

    example.stop().await;
}

/// A unit that exists but is not active on the day keeps its answer:
/// `closed` or `not_yet_established`, with zeros, not `unit_unknown`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_not_active_that_day_is_not_unknown() {
    let example = Example::start().await;
    let (addr, client) = (example.addr, &example.client);

    let questions = [
        // NH-LEGAL was merged into NH-SUP on 2015-09-01.
        ("headcount", json!({"unit": "NH-LEGAL", "date": "2016-01-01"}), json!("closed")),
        // NH-CPO1 was established on 2013-04-01.
        ("headcount", json!({"unit": "NH-CPO1", "date": "2013-01-01"}), json!("not_yet_established")),
        // NH-SUP as known at its merger's seq.
        ("headcount", json!({"unit": "NH-SUP", "date": "2016-01-01", "known_at_seq": 54}), json!("active")),
    ];
    for (endpoint, body, status) in questions {
        let (code, _, text) = http(addr, "GET", &format!("/v1/{endpoint}?{}", query_string(&body)), "*/*", "").await;
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((code, &answer["status"]), (200, &status), "{body}: {text}");
        let reply = ask_nats(client, endpoint, &body).await;
        assert!(reply.headers.is_none(), "{body}: not an error over NATS");
        let over_nats: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(over_nats, answer, "{body}: the same answer over NATS");
    }
    let closed = json!({"unit": "NH-LEGAL", "date": "2016-01-01"});
    let (code, _, text) = http(addr, "GET", &format!("/v1/roster?{}", query_string(&closed)), "*/*", "").await;
    assert_eq!((code, text.as_str()), (200, "[]"), "a closed unit's roster is empty, not an error");
    let (code, _, text) = http(addr, "GET", "/v1/lineage?unit=NH-LEGAL", "*/*", "").await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("NH-SUP"), "{text}");
    let (code, _, text) = http(addr, "GET", "/v1/audit?from=2013-01-01&to=2016-06-30&scope=NH-LEGAL", "*/*", "").await;
    assert_eq!(code, 200, "an audit of a unit closed on D2: {text}");

    example.stop().await;
}
