//! The Merkle tree over the ledger's entries, kept beside the chain: leaf
//! `i` is entry `i + 1`, its data the entry's chain hash. Subtrees from
//! `disk::MERKLE_LEVEL_STORED_MIN` up are stored with the batch that
//! completes them; lower ones are hashed from the entries when a proof
//! needs them. The chain stays what every replica checks entry by entry;
//! the tree is what lets one entry, or one history's extension of
//! another, be proven with ~log2(n) hashes.

use crate::merkle::{self, Frontier, Hash, Node, Nodes, ProofRequestError};
use crate::store::Store;
use crate::{Ledger, LedgerError};
use muster_domain::Seq;
use muster_proto::disk;

/// An entry's leaf in the tree: its chain hash, hashed as RFC 9162 leaf
/// data.
pub fn entry_leaf(chain_hash: &Hash) -> Hash {
    merkle::leaf_hash(chain_hash)
}

/// The first stored item of subtrees completed by entry `seq` or later:
/// its key's seq and its subtrees. The one completed by `seq` itself is in
/// it, if stored: items are the commits', in order.
fn stored_from(store: &Store, seq: u64) -> Result<Option<(u64, Vec<disk::Subtree>)>, LedgerError> {
    let Some(item) = store.tree()?.range(disk::merkle_key(seq)..=disk::merkle_key(u64::MAX)).next() else {
        return Ok(None);
    };
    let (key, value) = item?;
    let at = u64::from_be_bytes(key[1..].try_into().map_err(|_| LedgerError::corrupt(seq, "a bad Merkle item key"))?);
    let subtrees = disk::decode_subtrees(&value)
        .ok_or_else(|| LedgerError::corrupt(at, "a Merkle item that is not whole subtree records"))?;
    Ok(Some((at, subtrees)))
}

/// Reads subtrees for the algebra: stored ones from sled, lower ones
/// hashed from the entries' chain hashes (each read checked against the
/// chain), the last 2^MIN leaves kept for the next node of the same span.
struct StoreNodes<'a> {
    store: &'a Store,
    /// Leaves of the last span of 2^MIN entries read: (its first leaf, hashes).
    span: Option<(u64, Vec<Hash>)>,
}

impl Nodes for StoreNodes<'_> {
    type Error = LedgerError;

    fn node(&mut self, node: Node) -> Result<Hash, LedgerError> {
        if node.level >= disk::MERKLE_LEVEL_STORED_MIN {
            let first = (node.index << node.level) + 1;
            let missing = || LedgerError::corrupt(first, format!("Merkle subtree {node:?} missing or malformed"));
            let item = stored_from(self.store, disk::completed_by(node.level, node.index))?.ok_or_else(missing)?;
            return item.1.iter().find(|s| (s.0, s.1) == (node.level, node.index)).map(|s| s.2).ok_or_else(missing);
        }
        let leaves = self.leaves_under(node)?;
        let mut level: Vec<Hash> = leaves.to_vec();
        while level.len() > 1 {
            level = level.chunks(2).map(|pair| merkle::node_hash(&pair[0], &pair[1])).collect();
        }
        Ok(level[0])
    }
}

impl StoreNodes<'_> {
    /// The leaf hashes under `node` (level below MIN).
    fn leaves_under(&mut self, node: Node) -> Result<&[Hash], LedgerError> {
        let span_len = 1u64 << disk::MERKLE_LEVEL_STORED_MIN;
        let first = node.index << node.level;
        let span_first = first - first % span_len;
        if self.span.as_ref().is_none_or(|(at, _)| *at != span_first) {
            let hashes = self.store.chain_hashes(span_first + 1, span_len)?;
            self.span = Some((span_first, hashes.iter().map(entry_leaf).collect()));
        }
        let (_, leaves) = self.span.as_ref().expect("read above");
        let from = (first - span_first) as usize;
        let to = from + (1usize << node.level);
        leaves.get(from..to).ok_or_else(|| LedgerError::corrupt(first + 1, format!("entries under {node:?} missing")))
    }
}

/// An entry's inclusion in the tree of a given size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry.
    pub seq: Seq,
    /// Its chain hash (the leaf's data).
    pub entry_hash: Hash,
    /// The tree's size and root the proof leads to.
    pub tree_size: u64,
    /// …
    pub root: Hash,
    /// The hashes, bottom up.
    pub hashes: Vec<Hash>,
}

impl Ledger {
    /// The tree now: its size (the head's sequence) and root.
    pub fn tree_head(&self) -> (u64, Hash) {
        (self.frontier.size(), self.frontier.root())
    }

    fn nodes(&self) -> StoreNodes<'_> {
        StoreNodes { store: &self.store, span: None }
    }

    fn within(&self, size: u64) -> Result<(), ProofRequestError> {
        match size <= self.head.seq {
            true => Ok(()),
            false => Err(ProofRequestError::Beyond { size, tree: self.head.seq }),
        }
    }

    /// The root of the tree of the first `size` entries.
    pub fn merkle_root(&self, size: u64) -> Result<Result<Hash, ProofRequestError>, LedgerError> {
        if let Err(e) = self.within(size) {
            return Ok(Err(e));
        }
        if size == self.head.seq {
            return Ok(Ok(self.frontier.root()));
        }
        merkle::root(size, &mut self.nodes()).map(Ok)
    }

    /// Entry `seq`'s inclusion in the tree of the first `size` entries.
    pub fn inclusion_proof(
        &self,
        seq: Seq,
        size: u64,
    ) -> Result<Result<InclusionProof, ProofRequestError>, LedgerError> {
        if let Err(e) = self.within(size) {
            return Ok(Err(e));
        }
        if seq == 0 || seq > size {
            return Ok(Err(ProofRequestError::LeafOutside { index: seq.wrapping_sub(1), size }));
        }
        let mut nodes = self.nodes();
        let hashes = match merkle::inclusion_proof(seq - 1, size, &mut nodes)? {
            Ok(hashes) => hashes,
            Err(e) => return Ok(Err(e)),
        };
        let root = merkle::root(size, &mut nodes)?;
        let entry_hash = self.store.chain_hashes(seq, 1)?[0];
        Ok(Ok(InclusionProof { seq, entry_hash, tree_size: size, root, hashes }))
    }

    /// That the tree of `from` entries is a prefix of the tree of `to`.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Result<Vec<Hash>, ProofRequestError>, LedgerError> {
        if let Err(e) = self.within(to) {
            return Ok(Err(e));
        }
        merkle::consistency_proof(from, to, &mut self.nodes())
    }
}

/// Rebuilding the frontier on open, and checking what is stored against
/// it: the write side's pair assertion is `commit` storing exactly the
/// completed subtrees; this is the read side. Stored items are read in
/// order as the walk completes their subtrees.
pub(crate) struct Rebuild {
    pub(crate) frontier: Frontier,
    /// Stored subtrees a ledger written before the tree (or before its
    /// `T` items) lacks.
    pub(crate) missing: Vec<(Node, Hash)>,
    /// The rest of the last item read, and the seq after its key.
    item: std::collections::VecDeque<disk::Subtree>,
    next: u64,
    /// The stored subtrees the last entry completed (kept: one allocation).
    completed: Vec<(Node, Hash)>,
}

impl Rebuild {
    pub(crate) fn new() -> Rebuild {
        let (item, completed) = (Default::default(), Vec::new());
        Rebuild { frontier: Frontier::default(), missing: Vec::new(), item, next: 1, completed }
    }

    /// Appends entry `seq` (its chain hash) and checks each stored subtree
    /// it completes.
    pub(crate) fn entry(&mut self, store: &Store, seq: Seq, chain_hash: &Hash) -> Result<(), LedgerError> {
        let mut completed = std::mem::take(&mut self.completed);
        completed.clear();
        self.frontier.push_with(entry_leaf(chain_hash), |node, hash| {
            if node.level >= disk::MERKLE_LEVEL_STORED_MIN {
                completed.push((node, *hash));
            }
        });
        for &(node, hash) in &completed {
            if self.item.is_empty() && self.missing.is_empty() {
                if let Some((at, subtrees)) = stored_from(store, self.next)? {
                    (self.item, self.next) = (subtrees.into(), at + 1);
                }
            }
            match self.item.pop_front() {
                Some((level, index, found)) if (level, index) == (node.level, node.index) && found == hash => {}
                Some((level, index, _)) => {
                    let stored = format!("Merkle subtree ({level}, {index}) stored where {node:?} completes");
                    return Err(LedgerError::corrupt(seq, format!("{stored}, or not as the entries hash")));
                }
                None => self.missing.push((node, hash)),
            }
        }
        self.completed = completed;
        Ok(())
    }
}
