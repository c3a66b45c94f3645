//! The Merkle tree over the ledger's entries (RFC 9162 §2.1): its roots,
//! inclusion and consistency proofs, computed from stored complete
//! subtrees, and their verification.
//!
//! A complete subtree is addressed by `(level, index)`: it covers leaves
//! `index·2^level .. (index+1)·2^level`. Appending leaf `i` stores the
//! leaf's hash at `(0, i)` and every subtree it completes, so a tree of
//! `n` leaves has stored every complete subtree of any smaller tree, and
//! nothing stored ever changes. The root of any size, and any proof, is a
//! fold of at most ~2·log2(n) stored hashes ([`Node`] reads through
//! [`Nodes`], which callers back with the store).
//!
//! The generators follow the RFC's recursive definitions (PATH,
//! SUBPROOF); the verifiers its iterative algorithms (§2.1.3.2,
//! §2.1.4.2). They are independent, so the property tests check one
//! against the other as well as against the published vectors.

use sha2::{Digest, Sha256};

/// A SHA-256 hash of a leaf or a node.
pub type Hash = [u8; 32];

/// A complete subtree: `2^level` leaves from `index·2^level`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Node {
    /// 0 for a leaf.
    pub level: u8,
    /// Position among the subtrees of this level.
    pub index: u64,
}

/// Where stored subtree hashes are read from.
pub trait Nodes {
    /// Why a read failed.
    type Error;
    /// The stored hash of `node`; an error when it is not stored (a tree
    /// smaller than asked) or cannot be read.
    fn node(&mut self, node: Node) -> Result<Hash, Self::Error>;
}

/// Reads each node once: the recursions below ask for the hashes of the
/// tree's right edge at every level, and a proof must cost O(log n)
/// reads, not O(log² n).
struct Once<'a, N> {
    nodes: &'a mut N,
    read: std::collections::HashMap<Node, Hash>,
}

impl<N: Nodes> Nodes for Once<'_, N> {
    type Error = N::Error;
    fn node(&mut self, node: Node) -> Result<Hash, N::Error> {
        if let Some(hash) = self.read.get(&node) {
            return Ok(*hash);
        }
        let hash = self.nodes.node(node)?;
        self.read.insert(node, hash);
        Ok(hash)
    }
}

fn once<N: Nodes>(nodes: &mut N) -> Once<'_, N> {
    Once { nodes, read: std::collections::HashMap::new() }
}

/// RFC 9162's leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new_with_prefix([0x00]).chain_update(data).finalize().into()
}

/// RFC 9162's interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new_with_prefix([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The subtrees to store once leaf `index`, hashing to `leaf`, is
/// appended: the leaf, then each subtree it completes, bottom up. `nodes`
/// gives the left siblings (stored by earlier appends).
pub fn appended<N: Nodes>(index: u64, leaf: Hash, nodes: &mut N) -> Result<Vec<(Node, Hash)>, N::Error> {
    let mut stored = vec![(Node { level: 0, index }, leaf)];
    let (mut level, mut at, mut hash) = (0u8, index, leaf);
    while at & 1 == 1 {
        let left = nodes.node(Node { level, index: at - 1 })?;
        hash = node_hash(&left, &hash);
        level += 1;
        at >>= 1;
        stored.push((Node { level, index: at }, hash));
    }
    Ok(stored)
}

/// The right edge of a tree: the complete subtrees its size decomposes
/// into, largest first. Enough to append (O(1) amortized) and to give the
/// root of the current size without a read.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    edge: Vec<Hash>,
}

impl Frontier {
    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf (its hash); returns the subtrees it completes, the
    /// leaf first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(Node, Hash)> {
        let mut completed = Vec::new();
        self.push_with(leaf, |node, hash| completed.push((node, *hash)));
        completed
    }

    /// [`Frontier::push`], each completed subtree given to `completed`
    /// (the leaf first) instead of collected. Rationale: the ledger
    /// appends every entry; a vector each was a tenth of the append.
    pub fn push_with(&mut self, leaf: Hash, mut completed: impl FnMut(Node, &Hash)) {
        let (mut level, mut index, mut hash) = (0u8, self.size, leaf);
        completed(Node { level, index }, &hash);
        while index & 1 == 1 {
            let left = self.edge.pop().expect("a left sibling on the edge for every set bit of the size");
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed(Node { level, index }, &hash);
        }
        self.edge.push(hash);
        self.size += 1;
    }

    /// The root at the current size.
    pub fn root(&self) -> Hash {
        let mut edge = self.edge.iter().rev();
        let Some(last) = edge.next() else { return empty_root() };
        edge.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// The root of the tree of the first `size` leaves.
pub fn root<N: Nodes>(size: u64, nodes: &mut N) -> Result<Hash, N::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(0, size, nodes)
}

/// MTH of leaves `lo..hi` (`lo < hi`, `lo` a multiple of the largest
/// power of two not above `hi - lo`, as every range the RFC's recursions
/// reach is): the fold, right to left, of the complete subtrees that
/// tile it, largest first.
fn range_hash<N: Nodes>(mut lo: u64, hi: u64, nodes: &mut N) -> Result<Hash, N::Error> {
    debug_assert!(lo < hi);
    let mut parts = Vec::new();
    while lo < hi {
        let mut level = 0u8;
        while level < 63 && lo.is_multiple_of(2u64 << level) && lo + (2u64 << level) <= hi {
            level += 1;
        }
        parts.push(nodes.node(Node { level, index: lo >> level })?);
        lo += 1u64 << level;
    }
    let mut hash = parts.pop().expect("a non-empty range");
    while let Some(left) = parts.pop() {
        hash = node_hash(&left, &hash);
    }
    Ok(hash)
}

/// The largest power of two below `n` (n > 1).
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Why a proof was not given.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub enum ProofRequestError {
    /// Leaf `index` is not in a tree of `size` leaves.
    LeafOutside { index: u64, size: u64 },
    /// A consistency proof needs `0 < from <= to`.
    Sizes { from: u64, to: u64 },
    /// The tree has only `tree` leaves, not `size`.
    Beyond { size: u64, tree: u64 },
}

/// The inclusion proof (RFC 9162 PATH) of leaf `index` in the tree of
/// `size` leaves, bottom up.
pub fn inclusion_proof<N: Nodes>(
    index: u64,
    size: u64,
    nodes: &mut N,
) -> Result<Result<Vec<Hash>, ProofRequestError>, N::Error> {
    if index >= size {
        return Ok(Err(ProofRequestError::LeafOutside { index, size }));
    }
    let mut proof = Vec::new();
    path(index, 0, size, &mut once(nodes), &mut proof)?;
    Ok(Ok(proof))
}

fn path<N: Nodes>(m: u64, lo: u64, hi: u64, nodes: &mut N, proof: &mut Vec<Hash>) -> Result<(), N::Error> {
    if hi - lo == 1 {
        return Ok(());
    }
    let k = split(hi - lo);
    if m < lo + k {
        path(m, lo, lo + k, nodes, proof)?;
        proof.push(range_hash(lo + k, hi, nodes)?);
    } else {
        path(m, lo + k, hi, nodes, proof)?;
        proof.push(range_hash(lo, lo + k, nodes)?);
    }
    Ok(())
}

/// The consistency proof (RFC 9162 PROOF) of the tree of `from` leaves
/// with the tree of `to` leaves; empty when they are the same size.
pub fn consistency_proof<N: Nodes>(
    from: u64,
    to: u64,
    nodes: &mut N,
) -> Result<Result<Vec<Hash>, ProofRequestError>, N::Error> {
    if from == 0 || from > to {
        return Ok(Err(ProofRequestError::Sizes { from, to }));
    }
    let mut proof = Vec::new();
    subproof(from, 0, to, true, &mut once(nodes), &mut proof)?;
    Ok(Ok(proof))
}

fn subproof<N: Nodes>(
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    nodes: &mut N,
    proof: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    if m == hi {
        if !whole {
            proof.push(range_hash(lo, hi, nodes)?);
        }
        return Ok(());
    }
    let k = split(hi - lo);
    if m <= lo + k {
        subproof(m, lo, lo + k, whole, nodes, proof)?;
        proof.push(range_hash(lo + k, hi, nodes)?);
    } else {
        subproof(m, lo + k, hi, false, nodes, proof)?;
        proof.push(range_hash(lo, lo + k, nodes)?);
    }
    Ok(())
}

/// Why a proof does not verify.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProofError {
    /// The leaf index is not below the tree size, or the sizes are not
    /// `0 < from <= to`.
    Sizes,
    /// The proof has more or fewer hashes than these sizes call for.
    Length,
    /// The hashes do not lead to the root (or, for consistency, to both
    /// roots).
    Mismatch,
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProofError::Sizes => "the entry is not in a tree of that size",
            ProofError::Length => "the proof has the wrong number of hashes: cut short or padded",
            ProofError::Mismatch => "the hashes do not lead to the root",
        })
    }
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::Sizes);
    }
    let mut r = *leaf;
    climb(index, size - 1, proof, |p, from_left| r = if from_left { node_hash(p, &r) } else { node_hash(&r, p) })?;
    if r != *root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// Checks that the tree of `from` leaves with root `from_root` is a
/// prefix of the tree of `to` leaves with root `to_root` (RFC 9162
/// §2.1.4.2; equal sizes: an empty proof and equal roots).
pub fn verify_consistency(
    from: u64,
    to: u64,
    from_root: &Hash,
    to_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::Sizes);
    }
    if from == to {
        if !proof.is_empty() {
            return Err(ProofError::Length);
        }
        return if from_root == to_root { Ok(()) } else { Err(ProofError::Mismatch) };
    }
    let (first, rest) = match (from.is_power_of_two(), proof.split_first()) {
        (true, _) => (from_root, proof),
        (false, Some((first, rest))) => (first, rest),
        (false, None) => return Err(ProofError::Length),
    };
    let (mut f, mut s) = (from - 1, to - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    climb(f, s, rest, |c, from_left| {
        if from_left {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    })?;
    if fr != *from_root || sr != *to_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// The RFC verifiers' walk up the tree: `f` is the node's position and
/// `s` the last position at its level; each proof hash joins from the
/// left (`join(hash, true)`) or the right. The proof must end exactly at
/// the root (`s` reaches 0 with the last hash).
fn climb(mut f: u64, mut s: u64, proof: &[Hash], mut join: impl FnMut(&Hash, bool)) -> Result<(), ProofError> {
    for p in proof {
        if s == 0 {
            return Err(ProofError::Length);
        }
        if f & 1 == 1 || f == s {
            join(p, true);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            join(p, false);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Length);
    }
    Ok(())
}
