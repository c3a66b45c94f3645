//! Merkle proofs on the API (`/v1/proof/inclusion`, `/v1/proof/consistency`
//! over HTTP; `inclusion_proof`, `consistency_proof` over NATS) over the
//! reform scenario, as an auditor uses them: an event proven to be in the
//! tree a signed checkpoint commits to, and an older checkpoint's tree
//! proven a prefix of a newer one's. Both carriers give the same answer,
//! and every proof verifies with the RFC 9162 algorithms alone.

use muster_ledger::checkpoint::{public_key, SignedCheckpoint};
use muster_ledger::merkle::{self, Hash};
use muster_proto::hex::unhex;
use muster_tests::http::http_get;
use muster_tests::stack::ReformStack;
use serde_json::{json, Value};
use std::time::Duration;

fn h(text: &Value) -> Hash {
    unhex(text.as_str().expect("hex")).expect("32 bytes")
}

fn hashes(list: &Value) -> Vec<Hash> {
    list.as_array().expect("a list").iter().map(h).collect()
}

/// `path?query` over HTTP and `name` over NATS with `body`: one answer.
async fn ask(reform: &ReformStack, client: &async_nats::Client, path: &str, name: &str, body: Value) -> Value {
    let (status, over_http) = http_get(reform.addr, path).await;
    assert_eq!(status, 200, "{path}: {over_http}");
    let reply = client.request(format!("muster.query.{name}"), body.to_string().into());
    let reply = tokio::time::timeout(Duration::from_secs(30), reply).await.unwrap().unwrap();
    assert!(reply.headers.is_none(), "{name}: an error over NATS: {:?}", reply.payload);
    let over_nats: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(over_http, over_nats, "{name}: the same answer over HTTP and NATS");
    over_nats
}

/// The ledger's signed checkpoints, oldest first, verified under its key.
async fn checkpoints(reform: &ReformStack) -> Vec<(u64, Hash)> {
    let key = public_key(&reform.public_key).unwrap();
    let (_, listed) = http_get(reform.addr, "/v1/checkpoints").await;
    let mut signed: Vec<(u64, Hash)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let note = SignedCheckpoint::parse(c["published"].as_str().unwrap().as_bytes()).unwrap();
            let vouched = note.verify(&key).expect("signed by the ledger");
            (vouched.head.seq, vouched.tree.expect("a C2SP checkpoint").1)
        })
        .collect();
    signed.reverse();
    signed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_proves_an_event_and_two_checkpoints_consistent() {
    let reform = ReformStack::start().await;
    let client = reform.stack.client().await;
    let signed = checkpoints(&reform).await;
    let (old, new) = (signed[0], *signed.last().unwrap());
    assert!(old.0 < new.0, "two checkpoints of different sizes: {signed:?}");

    // An event the oldest checkpoint covers (entry 100), asked by entry
    // and by its event: the same proof.
    let path = format!("/v1/proof/inclusion?seq=100&tree_size={}", old.0);
    let by_seq = ask(&reform, &client, &path, "inclusion_proof", json!({"seq": 100, "tree_size": old.0})).await;
    let (source, id) = (by_seq["source"].as_str().unwrap(), by_seq["id"].as_str().unwrap());
    let query = format!("source={source}&id={id}&tree_size={}", old.0);
    let body = json!({"source": source, "id": id, "tree_size": old.0});
    let proof = ask(&reform, &client, &format!("/v1/proof/inclusion?{query}"), "inclusion_proof", body).await;
    assert_eq!(proof, by_seq);
    assert_eq!(h(&proof["root"]), old.1, "the root the checkpoint signs");
    let seq = proof["seq"].as_u64().unwrap();
    let leaf = muster_ledger::entry_leaf(&h(&proof["entry_hash"]));
    assert_eq!(leaf, h(&proof["leaf_hash"]));
    assert_eq!(merkle::verify_inclusion(seq - 1, old.0, &leaf, &hashes(&proof["hashes"]), &old.1), Ok(()));
    assert!(proof["hashes"].as_array().unwrap().len() <= 12, "~log2(n) hashes: {proof}");
    // The entry's hash is its receipt's.
    let (_, receipt) = http_get(reform.addr, &format!("/v1/receipt?source={source}&id={id}")).await;
    assert_eq!((receipt["seq"].as_u64(), &receipt["hash"]), (Some(100), &proof["entry_hash"]));

    // The oldest checkpoint's tree is a prefix of the newest's.
    let query = format!("from_size={}&to_size={}", old.0, new.0);
    let body = json!({"from_size": old.0, "to_size": new.0});
    let proof = ask(&reform, &client, &format!("/v1/proof/consistency?{query}"), "consistency_proof", body).await;
    assert_eq!((h(&proof["from_root"]), h(&proof["to_root"])), (old.1, new.1));
    assert_eq!(merkle::verify_consistency(old.0, new.0, &old.1, &new.1, &hashes(&proof["hashes"])), Ok(()));
    reform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_that_cannot_be_given_says_why() {
    let reform = ReformStack::start().await;
    let n = reform.entries;
    for (path, status, code) in [
        (format!("/v1/proof/inclusion?seq=1&tree_size={}", n + 1), 503, "not_yet_applied"),
        ("/v1/proof/inclusion?seq=5&tree_size=4".to_owned(), 400, "bad_request"),
        ("/v1/proof/inclusion?tree_size=4".to_owned(), 400, "bad_request"),
        ("/v1/proof/inclusion?source=hr/nanhu&id=nanhu-00001&seq=1".to_owned(), 400, "bad_request"),
        ("/v1/proof/inclusion?source=hr/nanhu&id=no-such".to_owned(), 404, "not_found"),
        ("/v1/proof/inclusion?seq=x".to_owned(), 400, "bad_request"),
        ("/v1/proof/inclusion?entry=1".to_owned(), 400, "unknown_field"),
        ("/v1/proof/consistency?from_size=0".to_owned(), 400, "bad_request"),
        ("/v1/proof/consistency?from_size=9&to_size=8".to_owned(), 400, "bad_request"),
        (format!("/v1/proof/consistency?from_size=1&to_size={}", n + 1), 503, "not_yet_applied"),
        ("/v1/proof/other?seq=1".to_owned(), 404, "not_found"),
    ] {
        let (got, error) = http_get(reform.addr, &path).await;
        assert_eq!((got, error["code"].as_str()), (status, Some(code)), "{path}: {error}");
    }
    reform.stop().await;
}

/// The workbench's evidence download: the Nanhu audit at the newest
/// signed checkpoint, every cited entry proven (`/v1/proof/entries` over
/// HTTP equal to `evidence_entries` over NATS), checked offline with the
/// ledger's key alone; a pinned `known_at` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_download_checks_offline_under_the_newest_checkpoint() {
    let reform = ReformStack::start().await;
    let client = reform.stack.client().await;
    let newest = *checkpoints(&reform).await.last().unwrap();
    let path = "/v1/evidence.zip?scope=NH&from=2013-01-01&to=2016-12-01";
    let zip = muster_tests::http::get(reform.addr, path, "application/zip").await.unwrap();
    assert_eq!(zip.status, 200, "{}", String::from_utf8_lossy(&zip.body));
    assert_eq!(zip.header("content-type"), Some("application/zip"));
    let disposition = zip.header("content-disposition").unwrap_or_default();
    assert!(disposition.contains(&format!("evidence-NH-2013-01-01-2016-12-01-at-{}.zip", newest.0)), "{disposition}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pack.zip"), &zip.body).unwrap();
    let pack = muster_evidence::read_pack(&dir.path().join("pack.zip")).unwrap();
    let verified = muster_evidence::verify(&pack, &public_key(&reform.public_key).unwrap()).expect("the pack checks");
    assert_eq!(verified.state.seq, newest.0);

    let entries = ask(
        &reform,
        &client,
        &format!("/v1/proof/entries?seqs=1,2,700&tree_size={}", newest.0),
        "evidence_entries",
        json!({"seqs": [1, 2, 700], "tree_size": newest.0}),
    )
    .await;
    assert_eq!(entries["root"], muster_ledger::hex(&newest.1));
    assert_eq!(entries["entries"].as_array().unwrap().len(), 3);

    let pinned = muster_tests::http::get(reform.addr, &format!("{path}&known_at_seq=5"), "*/*").await.unwrap();
    assert_eq!(pinned.status, 400, "{}", String::from_utf8_lossy(&pinned.body));
}

/// Any answer asked with `proof=true` carries the state it was computed
/// at: at a checkpoint's size, the root that checkpoint signs; at the
/// head, the root the tree answers. The answer itself is unchanged, over
/// HTTP and NATS alike; a `proof` that is not a boolean is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_asked_with_proof_carry_the_tree_they_were_computed_at() {
    let reform = ReformStack::start().await;
    let client = reform.stack.client().await;
    let (size, root) = *checkpoints(&reform).await.last().unwrap();
    let plain = format!("/v1/headcount?unit=NH&date=2016-06-30&rollup=true&known_at_seq={size}");
    let (_, expected) = http_get(reform.addr, &plain).await;
    let body = json!({"unit": "NH", "date": "2016-06-30", "rollup": true, "known_at_seq": size, "proof": true});
    let proven = ask(&reform, &client, &format!("{plain}&proof=true"), "headcount", body).await;
    assert_eq!(proven["answer"], expected);
    assert_eq!((proven["state"]["seq"].as_u64(), proven["state"]["tree_size"].as_u64()), (Some(size), Some(size)));
    assert_eq!(h(&proven["state"]["root"]), root, "the root the checkpoint of that size signs");

    let (_, at_head) = http_get(reform.addr, "/v1/tree?date=2016-06-30&proof=true").await;
    assert_eq!(at_head["state"]["tree_size"].as_u64(), Some(reform.entries));
    let (_, head_proof) = http_get(reform.addr, "/v1/proof/consistency?from_size=1").await;
    assert_eq!(at_head["state"]["root"], head_proof["to_root"]);
    assert!(at_head["answer"].as_array().is_some_and(|nodes| !nodes.is_empty()), "{at_head}");
    let (_, unproven) = http_get(reform.addr, "/v1/tree?date=2016-06-30&proof=false").await;
    assert_eq!(unproven, at_head["answer"]);

    let (status, error) = http_get(reform.addr, "/v1/tree?date=2016-06-30&proof=yes").await;
    assert_eq!((status, error["code"].as_str()), (400, Some("bad_request")), "{error}");
    let reply = client.request("muster.query.tree", json!({"date": "2016-06-30", "proof": 1}).to_string().into());
    let reply = tokio::time::timeout(Duration::from_secs(30), reply).await.unwrap().unwrap();
    let error: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(error["code"], "bad_request", "{error}");
    reform.stop().await;
}
