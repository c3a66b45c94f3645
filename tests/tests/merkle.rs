//! The ledger's Merkle tree (muster_ledger::merkle) against the published
//! RFC 6962/9162 vectors, and its generators against its verifiers and a
//! naive recursive MTH on random trees.
//!
//! Vectors: the reference tree of 8 leaves shared by
//! google/certificate-transparency `cpp/merkletree/merkle_tree_test.cc`
//! and transparency-dev/merkle `testonly/constants.go` (roots, stored
//! subtree hashes) and `testonly/reference_test.go` (inclusion and
//! consistency proofs).

use muster_ledger::merkle::{self, Hash, Node, Nodes, ProofError, ProofRequestError};
use muster_proto::hex::{unhex, unhex_vec};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A tree in memory: the stored subtrees, as the ledger stores them.
#[derive(Default)]
struct Tree {
    nodes: BTreeMap<Node, Hash>,
    size: u64,
    reads: usize,
}

#[derive(Debug, PartialEq)]
struct Missing(Node);

impl Nodes for Tree {
    type Error = Missing;
    fn node(&mut self, node: Node) -> Result<Hash, Missing> {
        self.reads += 1;
        self.nodes.get(&node).copied().ok_or(Missing(node))
    }
}

impl Tree {
    fn of(leaves: &[Vec<u8>]) -> Tree {
        let mut tree = Tree::default();
        for leaf in leaves {
            tree.append(leaf);
        }
        tree
    }

    fn append(&mut self, data: &[u8]) {
        let stored = merkle::appended(self.size, merkle::leaf_hash(data), self).unwrap();
        self.nodes.extend(stored);
        self.size += 1;
    }

    fn root(&mut self, size: u64) -> Hash {
        merkle::root(size, self).unwrap()
    }

    fn inclusion(&mut self, index: u64, size: u64) -> Vec<Hash> {
        merkle::inclusion_proof(index, size, self).unwrap().unwrap()
    }

    fn consistency(&mut self, from: u64, to: u64) -> Vec<Hash> {
        merkle::consistency_proof(from, to, self).unwrap().unwrap()
    }
}

fn h(text: &str) -> Hash {
    unhex(text).expect("32 bytes in hex")
}

fn hashes(texts: &[&str]) -> Vec<Hash> {
    texts.iter().map(|t| h(t)).collect()
}

/// The reference tree's leaves: "", 00, 10, 2021, 3031, 40414243, …
fn reference_leaves() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|t| unhex_vec(t).expect("hex"))
        .collect()
}

const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn the_reference_tree_has_the_published_roots_at_every_size() {
    let mut tree = Tree::of(&reference_leaves());
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(tree.root(size as u64), h(root), "size {size}");
    }
}

/// The reference tree's complete subtrees: `N<level>_<index>`.
const N0_0: &str = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
const N0_1: &str = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7";
const N0_2: &str = "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7";
const N0_3: &str = "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7";
const N0_4: &str = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b";
const N0_5: &str = "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658";
const N0_6: &str = "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f";
const N0_7: &str = "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1";
const N1_0: &str = "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125";
const N1_1: &str = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e";
const N1_2: &str = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a";
const N1_3: &str = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0";
const N2_0: &str = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7";
const N2_1: &str = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4";
const N3_0: &str = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

#[test]
fn the_reference_tree_stores_the_published_complete_subtrees() {
    let tree = Tree::of(&reference_leaves());
    let published = [
        [N0_0, N0_1, N0_2, N0_3, N0_4, N0_5, N0_6, N0_7].as_slice(),
        &[N1_0, N1_1, N1_2, N1_3],
        &[N2_0, N2_1],
        &[N3_0],
    ];
    let mut expected = BTreeMap::new();
    for (level, hashes) in (0u8..).zip(published) {
        for (index, hash) in (0u64..).zip(hashes) {
            expected.insert(Node { level, index }, h(hash));
        }
    }
    assert_eq!(tree.nodes, expected);
}

#[test]
fn the_published_inclusion_proofs_are_given_and_verify() {
    let leaves = reference_leaves();
    let mut tree = Tree::of(&leaves);
    let cases: [(u64, u64, &[&str]); 7] = [
        (0, 1, &[]),
        (0, 2, &[N0_1]),
        (1, 2, &[N0_0]),
        (2, 3, &[N1_0]),
        (1, 5, &[N0_0, N1_1, N0_4]),
        (0, 8, &[N0_1, N1_1, N2_1]),
        (5, 8, &[N0_4, N1_3, N2_0]),
    ];
    for (index, size, proof) in cases {
        let proof = hashes(proof);
        assert_eq!(tree.inclusion(index, size), proof, "leaf {index} of {size}");
        let leaf = merkle::leaf_hash(&leaves[index as usize]);
        assert_eq!(merkle::verify_inclusion(index, size, &leaf, &proof, &h(ROOTS[size as usize])), Ok(()));
    }
}

#[test]
fn the_published_consistency_proofs_are_given_and_verify() {
    let mut tree = Tree::of(&reference_leaves());
    let cases: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (1, 8, &[N0_1, N1_1, N2_1]),
        (2, 5, &[N1_1, N0_4]),
        (6, 8, &[N1_2, N1_3, N2_0]),
        (6, 7, &[N1_2, N0_6, N2_0]),
    ];
    for (from, to, proof) in cases {
        let proof = hashes(proof);
        assert_eq!(tree.consistency(from, to), proof, "{from} → {to}");
        let (old, new) = (h(ROOTS[from as usize]), h(ROOTS[to as usize]));
        assert_eq!(merkle::verify_consistency(from, to, &old, &new, &proof), Ok(()), "{from} → {to}");
    }
}

#[test]
fn proofs_are_refused_for_leaves_and_sizes_outside_the_tree() {
    let mut tree = Tree::of(&reference_leaves());
    assert_eq!(merkle::inclusion_proof(8, 8, &mut tree), Ok(Err(ProofRequestError::LeafOutside { index: 8, size: 8 })));
    assert_eq!(merkle::consistency_proof(0, 8, &mut tree), Ok(Err(ProofRequestError::Sizes { from: 0, to: 8 })));
    assert_eq!(merkle::consistency_proof(5, 4, &mut tree), Ok(Err(ProofRequestError::Sizes { from: 5, to: 4 })));
    // A tree larger than the one stored is not made up: the missing node is named.
    assert_eq!(merkle::root(9, &mut tree), Err(Missing(Node { level: 0, index: 8 })));
    let leaf = merkle::leaf_hash(b"");
    assert_eq!(merkle::verify_inclusion(8, 8, &leaf, &[], &leaf), Err(ProofError::Sizes));
    assert_eq!(merkle::verify_consistency(0, 0, &leaf, &leaf, &[]), Err(ProofError::Sizes));
}

/// MTH as RFC 9162 defines it, from the leaves, recursively.
fn naive_root(leaves: &[Vec<u8>]) -> Hash {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => merkle::leaf_hash(&leaves[0]),
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            merkle::node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

/// Flips bit `bit` of one of `hashes`, chosen by `pick`.
fn flip(hashes: &mut [Hash], pick: usize, bit: usize) {
    let at = pick % hashes.len();
    hashes[at][bit / 8 % 32] ^= 1 << (bit % 8);
}

fn tree_and_sizes() -> impl Strategy<Value = (Vec<Vec<u8>>, u64, u64)> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 1..300).prop_flat_map(|leaves| {
        let n = leaves.len() as u64;
        (Just(leaves), 1..=n).prop_flat_map(|(leaves, to)| (Just(leaves), 1..=to, Just(to)))
    })
}

proptest! {
    /// For random trees and sizes m ≤ n: the root at every size is the
    /// naive MTH, from the stored subtrees and from the right edge; every inclusion and consistency proof verifies, at most
    /// ~2·log2(n) stored hashes read; and a single flipped bit in the
    /// leaf, the proof or a root makes it fail.
    #[test]
    fn every_proof_verifies_and_every_flipped_bit_fails(
        (leaves, m, n) in tree_and_sizes(),
        pick in any::<usize>(),
        bit in 0usize..256,
    ) {
        let mut tree = Tree::of(&leaves);
        let root_n = tree.root(n);
        prop_assert_eq!(root_n, naive_root(&leaves[..n as usize]));
        // The right edge alone gives the same root, with no read.
        let mut edge = merkle::Frontier::default();
        for leaf in &leaves[..n as usize] {
            edge.push(merkle::leaf_hash(leaf));
        }
        prop_assert_eq!((edge.size(), edge.root()), (n, root_n));
        let root_m = tree.root(m);
        let log = 64 - u64::from(n.leading_zeros()) as usize;

        let index = m - 1;
        let leaf = merkle::leaf_hash(&leaves[index as usize]);
        tree.reads = 0;
        let mut proof = tree.inclusion(index, n);
        prop_assert!(tree.reads <= 2 * log + 2, "{} reads for an inclusion proof in {}", tree.reads, n);
        prop_assert_eq!(merkle::verify_inclusion(index, n, &leaf, &proof, &root_n), Ok(()));
        let mut bad_leaf = [leaf];
        flip(&mut bad_leaf, 0, bit);
        prop_assert!(merkle::verify_inclusion(index, n, &bad_leaf[0], &proof, &root_n).is_err());
        let mut bad_root = [root_n];
        flip(&mut bad_root, 0, bit);
        prop_assert!(merkle::verify_inclusion(index, n, &leaf, &proof, &bad_root[0]).is_err());
        if !proof.is_empty() {
            flip(&mut proof, pick, bit);
            prop_assert!(merkle::verify_inclusion(index, n, &leaf, &proof, &root_n).is_err());
        }

        tree.reads = 0;
        let mut proof = tree.consistency(m, n);
        prop_assert!(tree.reads <= 3 * log + 2, "{} reads for a consistency proof {} → {}", tree.reads, m, n);
        prop_assert_eq!(merkle::verify_consistency(m, n, &root_m, &root_n, &proof), Ok(()));
        let mut bad = [root_m, root_n];
        flip(&mut bad, pick, bit);
        prop_assert!(merkle::verify_consistency(m, n, &bad[0], &bad[1], &proof).is_err());
        if !proof.is_empty() {
            flip(&mut proof, pick, bit);
            prop_assert!(merkle::verify_consistency(m, n, &root_m, &root_n, &proof).is_err());
        }
    }
}

// ---- the tree the ledger keeps beside its chain ----

use muster_ledger::Incoming;
use muster_tests::given::*;

/// A ledger of 700 entries committed in batches of uneven sizes, so that
/// commits end inside and across the stored spans of 256 entries.
fn ledger_of_700() -> TestLedger {
    let mut l = small_bureau();
    let mut staff = 0;
    for size in [1, 3, 100, 250, 7, 300] {
        let batch = (0..size)
            .map(|_| {
                staff += 1;
                Incoming::Decoded(l.envelope("2015-03-01", join(&format!("M{staff}"), "U1")))
            })
            .collect();
        l.submit_all(batch);
    }
    assert!(l.ledger.head().seq >= 661, "{}", l.ledger.head().seq);
    l
}

/// Every entry's chain hash, as leaf data.
fn chain_leaves(l: &TestLedger) -> Vec<Vec<u8>> {
    l.ledger.entries().map(|e| e.expect("a whole chain").hash.to_vec()).collect()
}

fn ledger_agrees_with_naive_roots(l: &TestLedger, leaves: &[Vec<u8>]) {
    let n = leaves.len() as u64;
    assert_eq!(l.ledger.tree_head(), (n, naive_root(leaves)));
    for size in [1, 2, 255, 256, 257, 300, 511, 512, 513, n - 1, n] {
        assert_eq!(l.ledger.merkle_root(size).unwrap(), Ok(naive_root(&leaves[..size as usize])), "size {size}");
    }
}

#[test]
fn the_ledger_keeps_a_merkle_tree_of_its_entries_that_proves_each_one() {
    let mut l = ledger_of_700();
    let leaves = chain_leaves(&l);
    let n = leaves.len() as u64;
    ledger_agrees_with_naive_roots(&l, &leaves);
    for (seq, size) in [(1, 1), (1, n), (256, 256), (257, 600), (300, n), (n, n)] {
        let proof = l.ledger.inclusion_proof(seq, size).unwrap().unwrap();
        assert_eq!(proof.entry_hash.to_vec(), leaves[seq as usize - 1]);
        let leaf = muster_ledger::entry_leaf(&proof.entry_hash);
        assert_eq!(
            merkle::verify_inclusion(seq - 1, size, &leaf, &proof.hashes, &proof.root),
            Ok(()),
            "{seq} in {size}"
        );
        assert_eq!(proof.root, naive_root(&leaves[..size as usize]));
    }
    for (from, to) in [(1, n), (255, 257), (256, 512), (300, 600), (n - 1, n)] {
        let proof = l.ledger.consistency_proof(from, to).unwrap().unwrap();
        let (old, new) = (naive_root(&leaves[..from as usize]), naive_root(&leaves[..to as usize]));
        assert_eq!(merkle::verify_consistency(from, to, &old, &new, &proof), Ok(()), "{from} → {to}");
    }
    assert_eq!(l.ledger.merkle_root(n + 1).unwrap(), Err(ProofRequestError::Beyond { size: n + 1, tree: n }));
    assert_eq!(
        l.ledger.inclusion_proof(0, n).unwrap(),
        Err(ProofRequestError::LeafOutside { index: u64::MAX, size: n })
    );
    l.reopen();
    ledger_agrees_with_naive_roots(&l, &leaves);
}

/// The ledger's sled tree by raw access, and its items under `prefix`.
fn items(path: &std::path::Path, prefix: u8) -> (sled::Tree, Vec<(sled::IVec, sled::IVec)>) {
    // sled lets go of its lock shortly after the ledger is dropped.
    let db = muster_tests::wait::eventually_blocking(std::time::Duration::from_secs(30), "the ledger's sled", || {
        sled::open(path).ok()
    });
    let tree = db.open_tree("ledger").unwrap();
    let found = tree.scan_prefix([prefix]).map(Result::unwrap).collect();
    (tree, found)
}

/// The stored subtrees, (level, index), item by item.
fn stored_subtrees(path: &std::path::Path) -> Vec<Vec<(u8, u64)>> {
    let ids = |item: Vec<disk::Subtree>| item.into_iter().map(|(level, index, _)| (level, index)).collect();
    items(path, disk::MERKLE_PREFIX).1.iter().map(|(_, v)| ids(disk::decode_subtrees(v).unwrap())).collect()
}

use muster_proto::disk;

#[test]
fn a_commits_subtrees_are_stored_in_one_item() {
    let mut l = ledger_of_700();
    let path = l.dir.path().join("ledger");
    // Entry 256 completes (8, 0) in the commit of 250; entry 512 both
    // (8, 1) and (9, 0) in the commit of 300.
    l.close_with(|| assert_eq!(stored_subtrees(&path), vec![vec![(8, 0)], vec![(8, 1), (9, 0)]]));
}

#[test]
fn a_ledger_written_before_the_tree_gets_its_subtrees_on_open() {
    let mut l = ledger_of_700();
    let leaves = chain_leaves(&l);
    let path = l.dir.path().join("ledger");
    l.reopen_with(|| {
        let (tree, stored) = items(&path, disk::MERKLE_PREFIX);
        for (key, _) in stored {
            tree.remove(key).unwrap();
        }
        tree.flush().unwrap();
    });
    ledger_agrees_with_naive_roots(&l, &leaves);
    l.reopen_with(|| {
        assert_eq!(stored_subtrees(&path), vec![vec![(8, 0), (8, 1), (9, 0)]], "stored on the open before")
    });
}

/// Rewrites the ledger's `T` items as the first layout's `M` items.
fn to_first_layout(path: &std::path::Path) {
    let (tree, stored) = items(path, disk::MERKLE_PREFIX);
    for (key, value) in stored {
        for (level, index, hash) in disk::decode_subtrees(&value).unwrap() {
            let mut first = vec![disk::MERKLE_PREFIX_FIRST, level];
            first.extend_from_slice(&index.to_be_bytes());
            tree.insert(first, &hash[..]).unwrap();
        }
        tree.remove(key).unwrap();
    }
    tree.flush().unwrap();
}

/// The first layout kept one `M` item per subtree (level, index → hash);
/// opening such a ledger stores them as `T` items and removes the old.
#[test]
fn a_ledger_of_the_first_layout_is_moved_to_one_item_per_commit() {
    let mut l = ledger_of_700();
    let leaves = chain_leaves(&l);
    let path = l.dir.path().join("ledger");
    l.reopen_with(|| to_first_layout(&path));
    ledger_agrees_with_naive_roots(&l, &leaves);
    l.reopen_with(|| {
        assert_eq!(stored_subtrees(&path), vec![vec![(8, 0), (8, 1), (9, 0)]]);
        assert_eq!(items(&path, disk::MERKLE_PREFIX_FIRST).1.len(), 0, "the first layout's items removed");
    });
}

/// Moved, a long ledger's subtrees fill many items; those one entry
/// completes stay in one (a lookup finds them in the first item keyed at
/// or after it): every root and proof is as before.
#[test]
fn a_long_ledger_moved_to_items_proves_as_before() {
    let mut l = small_bureau();
    for batch in 0..40 {
        let joins: Vec<Incoming> = (0..1000)
            .map(|i| Incoming::Decoded(l.envelope("2015-03-01", join(&format!("L{batch}-{i}"), "U1"))))
            .collect();
        l.submit_all(joins);
    }
    let n = l.ledger.head().seq;
    let sizes: Vec<u64> = (1..=n / 256).map(|k| k * 256).chain([n - 1, n]).collect();
    let roots = |l: &TestLedger| sizes.iter().map(|s| l.ledger.merkle_root(*s).unwrap().unwrap()).collect::<Vec<_>>();
    let before = roots(&l);
    let path = l.dir.path().join("ledger");
    l.reopen_with(|| to_first_layout(&path));
    assert_eq!(roots(&l), before);
    for seq in (1..=n).step_by(997) {
        let proof = l.ledger.inclusion_proof(seq, n).unwrap().unwrap();
        let leaf = muster_ledger::entry_leaf(&proof.entry_hash);
        assert_eq!(merkle::verify_inclusion(seq - 1, n, &leaf, &proof.hashes, &before[before.len() - 1]), Ok(()));
    }
    l.close_with(|| assert!(stored_subtrees(&path).len() > 2, "{} items", stored_subtrees(&path).len()));
}

#[test]
fn a_stored_subtree_that_does_not_match_the_entries_stops_the_open() {
    let mut l = ledger_of_700();
    let path = l.dir.path().join("ledger");
    l.close_with(|| {
        let (tree, stored) = items(&path, disk::MERKLE_PREFIX);
        let mut altered = stored[0].1.to_vec();
        *altered.last_mut().unwrap() ^= 1;
        tree.insert(&stored[0].0, altered).unwrap();
        tree.flush().unwrap();
    });
    let error = muster_ledger::Ledger::open(&muster_ledger::LedgerConfig::new(&path)).err().expect("refused");
    assert!(error.to_string().contains("Merkle subtree"), "{error}");
}
