//! The Merkle tree's figures (issue 19), taken in the query replica's
//! process on the ledger it holds: proofs at the head, what appending to
//! the tree costs and stores, and the evidence pack of the reform's Nanhu
//! audit with the reform's events added to the ledger.

use crate::measure::Latencies;
use anyhow::{Context, Result};
use muster_ledger::checkpoint::Signer;
use muster_ledger::merkle::{self, Frontier};
use muster_ledger::{entry_leaf, Incoming, Ledger};
use muster_proto::disk;
use muster_proto::requests::{AuditRequest, ConsistencyProofRequest, InclusionProofRequest};
use muster_query::answer::{answer, QueryEndpoint};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// Proofs asked in process: enough for a p99 of its own.
const PROOFS_ASKED: usize = 2_000;

/// Entries hashed into the tree between two timings: the ledger service's
/// batch, as it appends.
const APPEND_CHUNK: usize = muster_proto::limits::BATCH_EVENTS_MAX;

/// What the tree measured.
#[derive(Serialize, Deserialize, Debug)]
pub struct Proofs {
    /// The tree's size (the head's sequence).
    pub tree_size: u64,
    /// `Ledger::inclusion_proof` of a random entry at the head.
    pub inclusion: Latencies,
    /// Its hashes (the longest asked).
    pub inclusion_hashes: usize,
    /// The JSON answer to `inclusion_proof` (the longest asked).
    pub inclusion_json_bytes: usize,
    /// `Ledger::consistency_proof` from a random size to the head.
    pub consistency: Latencies,
    /// …
    pub consistency_hashes: usize,
    /// …
    pub consistency_json_bytes: usize,
    /// Checking an inclusion and a consistency proof (`merkle::verify_*`).
    pub verify_inclusion: Latencies,
    /// …
    pub verify_consistency: Latencies,
    /// Hashing every entry into a new tree as the ledger appends (leaf,
    /// completed subtrees, the stored ones written to sled), batch by batch.
    pub append_seconds: f64,
    /// Subtrees stored.
    pub stored_subtrees: u64,
    /// A sled directory holding only them, flushed.
    pub stored_disk_bytes: u64,
}

/// Measures the proofs of `l` at its head.
pub fn measure(l: &Ledger, rng: &mut muster_gen::rng::Rng) -> Result<Proofs> {
    let n = l.head().seq;
    let seqs: Vec<u64> = (0..PROOFS_ASKED).map(|_| 1 + rng.below(n)).collect();
    let (root, mut leaves, mut inclusions) = (root_at(l, n)?, Vec::new(), Vec::new());
    let inclusion = Latencies::new(seqs.iter().map(|&seq| {
        let t = Instant::now();
        let proof = l.inclusion_proof(seq, n).expect("a proof").expect("in the tree");
        let took = t.elapsed();
        leaves.push(entry_leaf(&proof.entry_hash));
        inclusions.push(proof.hashes);
        took
    }));
    let sizes: Vec<u64> = (0..PROOFS_ASKED).map(|_| 1 + rng.below(n)).collect();
    let mut consistencies = Vec::new();
    let consistency = Latencies::new(sizes.iter().map(|&m| {
        let t = Instant::now();
        let proof = l.consistency_proof(m, n).expect("a proof").expect("sizes in the tree");
        let took = t.elapsed();
        consistencies.push(proof);
        took
    }));
    let verify_inclusion = Latencies::new(seqs.iter().zip(&leaves).zip(&inclusions).map(|((&seq, leaf), proof)| {
        timed(|| merkle::verify_inclusion(seq - 1, n, leaf, proof, &root).expect("the proof verifies"))
    }));
    let verify_consistency = Latencies::new(sizes.iter().zip(&consistencies).map(|(&m, proof)| {
        let old = l.merkle_root(m).expect("a root").expect("a size in the tree");
        timed(|| merkle::verify_consistency(m, n, &old, &root, proof).expect("the proof verifies"))
    }));
    let longest = |lengths: &mut dyn Iterator<Item = usize>| lengths.max().unwrap_or(0);
    let (append_seconds, stored_subtrees, stored_disk_bytes) = append_cost(l)?;
    Ok(Proofs {
        tree_size: n,
        inclusion,
        inclusion_hashes: longest(&mut inclusions.iter().map(Vec::len)),
        inclusion_json_bytes: json_bytes(l, &seqs, n)?,
        consistency,
        consistency_hashes: longest(&mut consistencies.iter().map(Vec::len)),
        consistency_json_bytes: consistency_json_bytes(l, &sizes, n)?,
        verify_inclusion,
        verify_consistency,
        append_seconds,
        stored_subtrees,
        stored_disk_bytes,
    })
}

/// The root of the tree of `size` entries (within the ledger).
fn root_at(l: &Ledger, size: u64) -> Result<merkle::Hash> {
    l.merkle_root(size)?.map_err(|e| anyhow::anyhow!("no root of {size} entries: {e:?}"))
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// The longest JSON answer to `inclusion_proof` among the first proofs asked.
fn json_bytes(l: &Ledger, seqs: &[u64], n: u64) -> Result<usize> {
    let mut longest = 0;
    for &seq in seqs.iter().take(100) {
        let request = InclusionProofRequest { source: None, id: None, seq: Some(seq), tree_size: Some(n) };
        longest = longest.max(ask(l, QueryEndpoint::InclusionProof, &request)?.len());
    }
    Ok(longest)
}

fn consistency_json_bytes(l: &Ledger, sizes: &[u64], n: u64) -> Result<usize> {
    let mut longest = 0;
    for &m in sizes.iter().take(100) {
        let request = ConsistencyProofRequest { from_size: m, to_size: Some(n) };
        longest = longest.max(ask(l, QueryEndpoint::ConsistencyProof, &request)?.len());
    }
    Ok(longest)
}

fn ask(l: &Ledger, endpoint: QueryEndpoint, request: &impl Serialize) -> Result<Vec<u8>> {
    let body = serde_json::to_vec(request)?;
    answer(l, endpoint, &body)
        .and_then(|a| a.to_json())
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code.as_str(), e.message))
}

/// Appends every entry's chain hash to a new tree, a batch at a time, the
/// stored subtrees written to a scratch sled database as the ledger writes
/// them with its batch (one item): only that work is timed. Returns the time, the
/// subtrees stored, and the flushed database's size on disk.
fn append_cost(l: &Ledger) -> Result<(f64, u64, u64)> {
    let scratch = tempfile::tempdir()?;
    let db = sled::open(scratch.path().join("tree"))?;
    let (mut frontier, mut timed, mut stored) = (Frontier::default(), Duration::ZERO, 0u64);
    let mut hashes = Vec::with_capacity(APPEND_CHUNK);
    let mut entries = l.entries().peekable();
    while entries.peek().is_some() {
        hashes.clear();
        for entry in entries.by_ref().take(APPEND_CHUNK) {
            hashes.push(entry?.hash);
        }
        let t = Instant::now();
        let mut subtrees = Vec::new();
        for hash in &hashes {
            frontier.push_with(entry_leaf(hash), |node, hash| {
                if node.level >= disk::MERKLE_LEVEL_STORED_MIN {
                    subtrees.push((node.level, node.index, *hash));
                }
            });
        }
        if !subtrees.is_empty() {
            let (key, item) = disk::merkle_item(&subtrees);
            db.insert(key, item)?;
        }
        stored += subtrees.len() as u64;
        timed += t.elapsed();
    }
    assert_eq!(frontier.root(), root_at(l, l.head().seq)?, "the scratch tree is the ledger's");
    db.flush()?;
    drop(db);
    Ok((timed.as_secs_f64(), stored, crate::measure::dir_bytes(scratch.path())))
}

/// The evidence pack of the reform's Nanhu audit (2013-01-01 → 2016-12-01),
/// its events added to the ledger first.
#[derive(Serialize, Deserialize, Debug)]
pub struct Evidence {
    /// The tree's size the pack was made under.
    pub tree_size: u64,
    /// Gathering the pack through the query API and zipping it.
    pub make_seconds: f64,
    /// Reading the zip back and checking it offline (`muster_evidence::verify`).
    pub verify_seconds: f64,
    /// The zip.
    pub zip_bytes: usize,
    /// Entries proven in it.
    pub entries: usize,
}

/// Adds the reform's events to `l` and makes and checks the Nanhu pack
/// under a checkpoint of the whole ledger.
pub fn nanhu_pack(l: &mut Ledger, reform: &Path) -> Result<Evidence> {
    let text = std::fs::read_to_string(reform).with_context(|| format!("reading {}", reform.display()))?;
    let lines: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
    let clock = 1_950_000_000_000u64;
    for (i, batch) in lines.chunks(muster_proto::limits::BATCH_EVENTS_MAX).enumerate() {
        l.submit_batch(batch.iter().map(|line| Incoming::json(line.as_bytes())).collect(), clock + i as u64)?;
    }
    let head = l.head();
    let signer = Signer::from_seed(&[19; 32]);
    let published = signer.sign_tree_head("muster/bench", head, &root_at(l, head.seq)?).encode();
    let request = AuditRequest {
        from: "2013-01-01".into(),
        to: "2016-12-01".into(),
        scope: Some("NH".into()),
        known_at_seq: None,
        known_at_time: None,
    };
    let started = Instant::now();
    let mut ask = |endpoint: QueryEndpoint, body: Vec<u8>| answer(l, endpoint, &body).and_then(|a| a.to_json());
    let pack = muster_query::evidence::gather(&mut ask, request, &published)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code.as_str(), e.message))?;
    let zipped = pack.zip();
    let make_seconds = started.elapsed().as_secs_f64();
    let key = muster_ledger::checkpoint::public_key(&signer.public_key())?;
    let started = Instant::now();
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), &zipped)?;
    let read = muster_evidence::read_pack(file.path())?;
    let verified = muster_evidence::verify(&read, &key)
        .map_err(|problems| anyhow::anyhow!("the pack does not check: {problems:?}"))?;
    Ok(Evidence {
        tree_size: head.seq,
        make_seconds,
        verify_seconds: started.elapsed().as_secs_f64(),
        zip_bytes: zipped.len(),
        entries: verified.entries,
    })
}
