//! `inclusion_proof`, `consistency_proof` and `evidence_entries`: the
//! ledger's Merkle proofs (muster_ledger::merkle, RFC 9162), as the API
//! answers them.

use crate::validate::{internal, QueryError, QueryErrorCode};
use muster_ledger::merkle::ProofRequestError;
use muster_ledger::{hex, Ledger};
use muster_proto::answers::{ConsistencyProofOut, EvidenceEntriesOut, InclusionProofOut, ProvenEntryOut};
use muster_proto::export;
use muster_proto::limits::{EVIDENCE_ANSWER_BYTES_MAX, EVIDENCE_ENTRIES_PER_REQUEST_MAX};
use muster_proto::requests::{ConsistencyProofRequest, EvidenceEntriesRequest, InclusionProofRequest};

fn bad(message: String) -> QueryError {
    QueryError::new(QueryErrorCode::BadRequest, message)
}

/// A refused proof as the API says it: a size past this replica is
/// `not_yet_applied` (another replica, or later, may have it).
fn refused(e: ProofRequestError) -> QueryError {
    match e {
        ProofRequestError::Beyond { size, tree } => QueryError::new(
            QueryErrorCode::NotYetApplied,
            format!("tree size {size}: this replica has applied {tree} entries"),
        ),
        ProofRequestError::LeafOutside { index, size } => {
            bad(format!("entry {} is not in the tree of {size} entries", index.wrapping_add(1)))
        }
        ProofRequestError::Sizes { from, to } => {
            bad(format!("from_size {from} and to_size {to}: a proof needs 0 < from_size <= to_size"))
        }
    }
}

/// The entry a request names: by its event's (source, id), or by seq.
fn entry_of(ledger: &Ledger, r: &InclusionProofRequest) -> Result<u64, QueryError> {
    match (&r.source, &r.id, r.seq) {
        (Some(source), Some(id), None) => match ledger.receipt(source, id).map_err(internal)? {
            Some(receipt) => receipt.seq.ok_or_else(|| internal("a recorded event without a seq")),
            None => Err(QueryError::new(QueryErrorCode::NotFound, format!("no event {source}/{id} was recorded"))),
        },
        (None, None, Some(seq)) => Ok(seq),
        _ => Err(bad("name the entry by source and id, or by seq (not both)".to_owned())),
    }
}

/// `inclusion_proof`.
pub fn inclusion(ledger: &Ledger, r: InclusionProofRequest) -> Result<InclusionProofOut, QueryError> {
    let seq = entry_of(ledger, &r)?;
    let size = r.tree_size.unwrap_or(ledger.head().seq);
    let proof = ledger.inclusion_proof(seq, size).map_err(internal)?.map_err(refused)?;
    let entry = ledger.entry(seq).map_err(internal)?.ok_or_else(|| internal(format!("entry {seq} is missing")))?;
    let (source, id) = entry.body.submission.key();
    Ok(InclusionProofOut {
        seq,
        source: source.to_owned(),
        id: id.to_owned(),
        entry_hash: hex(&proof.entry_hash),
        leaf_hash: hex(&muster_ledger::entry_leaf(&proof.entry_hash)),
        tree_size: proof.tree_size,
        root: hex(&proof.root),
        hashes: proof.hashes.iter().map(|h| hex(h)).collect(),
    })
}

/// `consistency_proof`.
pub fn consistency(ledger: &Ledger, r: ConsistencyProofRequest) -> Result<ConsistencyProofOut, QueryError> {
    let to = r.to_size.unwrap_or(ledger.head().seq);
    let hashes = ledger.consistency_proof(r.from_size, to).map_err(internal)?.map_err(refused)?;
    let root = |size| ledger.merkle_root(size).map_err(internal)?.map_err(refused);
    Ok(ConsistencyProofOut {
        from_size: r.from_size,
        from_root: hex(&root(r.from_size)?),
        to_size: to,
        to_root: hex(&root(to)?),
        hashes: hashes.iter().map(|h| hex(h)).collect(),
    })
}

/// `evidence_entries`: each entry asked for with its predecessor's hash
/// and its inclusion proof, in the order asked, until the answer is
/// [`EVIDENCE_ANSWER_BYTES_MAX`] big (at least one).
pub fn entries(ledger: &Ledger, r: EvidenceEntriesRequest) -> Result<EvidenceEntriesOut, QueryError> {
    if r.seqs.is_empty() || r.seqs.len() > EVIDENCE_ENTRIES_PER_REQUEST_MAX {
        return Err(bad(format!(
            "seqs: {} entries asked; ask for 1 to {EVIDENCE_ENTRIES_PER_REQUEST_MAX} at a time",
            r.seqs.len()
        )));
    }
    let root = ledger.merkle_root(r.tree_size).map_err(internal)?.map_err(refused)?;
    let (mut entries, mut bytes) = (Vec::new(), 0);
    for &seq in &r.seqs {
        if bytes >= EVIDENCE_ANSWER_BYTES_MAX {
            break;
        }
        let proven = proven_entry(ledger, seq, r.tree_size)?;
        bytes += proven.entry.len() + 65 * proven.hashes.len() + 80;
        entries.push(proven);
    }
    Ok(EvidenceEntriesOut { tree_size: r.tree_size, root: hex(&root), entries })
}

fn proven_entry(ledger: &Ledger, seq: u64, tree_size: u64) -> Result<ProvenEntryOut, QueryError> {
    let proof = ledger.inclusion_proof(seq, tree_size).map_err(internal)?.map_err(refused)?;
    let read = |seq| ledger.entry(seq).map_err(internal)?.ok_or_else(|| internal(format!("entry {seq} is missing")));
    let entry = read(seq)?;
    let prev_hash = if seq == 1 { [0; 32] } else { read(seq - 1)?.hash };
    // Pair assertion with the checker's side: the line is this entry.
    assert_eq!(entry.hash, proof.entry_hash, "entry {seq}: the tree's leaf is not the chain's hash");
    let mut line = export::entry_line(&entry);
    line.pop();
    Ok(ProvenEntryOut {
        seq,
        prev_hash: hex(&prev_hash),
        entry: String::from_utf8(line).map_err(internal)?,
        hashes: proof.hashes.iter().map(|h| hex(h)).collect(),
    })
}
