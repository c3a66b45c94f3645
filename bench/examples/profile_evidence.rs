//! Times the Nanhu evidence pack's parts on a benchmark ledger holding the
//! reform's events (the harness adds them): the audit asked as known at
//! the head (as a pack asks it) and as now, then the whole pack, for a
//! profiler: `perf record -g target/release/examples/profile_evidence <ledger>`.

use muster_ledger::{Ledger, LedgerConfig};
use muster_query::answer::{answer, QueryEndpoint};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("a ledger directory");
    let opening = Instant::now();
    let l = Ledger::open(&LedgerConfig::new(path)).expect("the ledger");
    eprintln!("open: {:?}", opening.elapsed());
    let head = l.head().seq;
    let nanhu = |known_at: Option<u64>| {
        let mut request = serde_json::json!({"scope": "NH", "from": "2013-01-01", "to": "2016-12-01"});
        if let Some(seq) = known_at {
            request["known_at_seq"] = seq.into();
        }
        serde_json::to_vec(&request).expect("JSON")
    };
    for (what, body) in [("now", nanhu(None)), ("known at the head", nanhu(Some(head)))] {
        for _ in 0..3 {
            let started = Instant::now();
            answer(&l, QueryEndpoint::Audit, &body).expect("the audit");
            eprintln!("audit NH {what}: {:?}", started.elapsed());
        }
    }
    let root = l.merkle_root(head).expect("a root").expect("in the tree");
    let published = muster_ledger::checkpoint::Signer::from_seed(&[19; 32])
        .sign_tree_head("muster/bench", l.head(), &root)
        .encode();
    let request = serde_json::from_slice(&nanhu(None)).expect("a request");
    let started = Instant::now();
    let mut ask = |endpoint: QueryEndpoint, body: Vec<u8>| answer(&l, endpoint, &body).and_then(|a| a.to_json());
    let pack = muster_query::evidence::gather(&mut ask, request, &published).expect("the pack");
    eprintln!("pack: {:?}, {} bytes zipped", started.elapsed(), pack.zip().len());
}
