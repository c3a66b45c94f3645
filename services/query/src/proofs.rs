//! `inclusion_proof` and `consistency_proof`: the ledger's Merkle proofs
//! (muster_ledger::merkle, RFC 9162), as the API answers them.

use crate::validate::{internal, QueryError, QueryErrorCode};
use muster_ledger::merkle::ProofRequestError;
use muster_ledger::{hex, Ledger};
use muster_proto::answers::{ConsistencyProofOut, InclusionProofOut};
use muster_proto::requests::{ConsistencyProofRequest, InclusionProofRequest};

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
