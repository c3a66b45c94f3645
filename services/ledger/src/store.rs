//! The ledger on disk: blocks of chained entries in one sled tree (layout
//! in `muster_proto::disk`), and the in-memory (source, id) index rebuilt
//! from them.
//!
//! Everything read back is checked before it is used: a block's key is the
//! sequence it must start at, its header links it to the entry before, and
//! every entry's hash is recomputed over its bytes.

use crate::{Head, LedgerError, LedgerErrorKind};
use muster_domain::Seq;
use muster_proto::entry::StoredEntry;
use muster_proto::{codec, disk};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// SHA-256(previous hash ‖ entry body bytes): the chain.
pub(crate) fn chain_hash(prev_hash: &[u8; 32], body_bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(body_bytes);
    hasher.finalize().into()
}

/// The chain hash one entry's bytes carry, checked: recomputed over its
/// body bytes and `prev_hash`. Not decoded.
fn linked_hash(seq: Seq, prev_hash: &[u8; 32], bytes: &[u8]) -> Result<[u8; 32], LedgerError> {
    let (body, hash) =
        codec::split_stored_entry(bytes).ok_or_else(|| LedgerError::corrupt(seq, "an entry shorter than its hash"))?;
    if chain_hash(prev_hash, body) != hash {
        return Err(LedgerError::corrupt(seq, "hash does not match the entry's content and the hash before it"));
    }
    Ok(hash)
}

/// Checks one entry's bytes as entry `seq` following `prev_hash`: the hash
/// recomputed over its body bytes, then decoded, then its sequence.
pub(crate) fn check_entry(seq: Seq, prev_hash: &[u8; 32], bytes: &[u8]) -> Result<StoredEntry, LedgerError> {
    linked_hash(seq, prev_hash, bytes)?;
    let entry = codec::decode_stored_entry(bytes).map_err(|e| LedgerError::corrupt(seq, e.to_string()))?;
    if entry.body.seq != seq {
        return Err(LedgerError::corrupt(seq, format!("entry says seq {}", entry.body.seq)));
    }
    Ok(entry)
}

/// Checks one stored block as the one after `head`: its key, its link to
/// `head`, every entry (calling `visit` with each in order). Returns the
/// new head; an error names the first bad sequence.
pub(crate) fn check_block(
    mut head: Head,
    key: &[u8],
    bytes: &[u8],
    mut visit: impl FnMut(StoredEntry, &[u8]) -> Result<(), LedgerError>,
) -> Result<Head, LedgerError> {
    let first = head.seq + 1;
    if disk::first_seq_of_block_key(key) != Some(first) {
        return Err(LedgerError::corrupt(first, "block missing or out of order"));
    }
    let block = disk::Block::read(bytes).map_err(|e| LedgerError::corrupt(first, e.reason))?;
    if block.prev_hash != head.hash {
        return Err(LedgerError::corrupt(first, "block not linked to the entry before it"));
    }
    for raw in block.entries() {
        let seq = head.seq + 1;
        let raw = raw.map_err(|e| LedgerError::corrupt(seq, e.reason))?;
        let entry = check_entry(seq, &head.hash, raw)?;
        head = Head { seq, hash: entry.hash, recorded_at_ms: entry.body.recorded_at_ms };
        visit(entry, raw)?;
    }
    if head.seq < first {
        return Err(LedgerError::corrupt(first, "an empty block"));
    }
    Ok(head)
}

pub(crate) use muster_proto::limits::SLED_TOUCHED_BYTES_MAX as STORE_TOUCHED_BYTES_MAX;

/// Where a walk of the chain stands (see [`Store::walk_some`]).
pub(crate) struct Walk {
    /// The last entry checked (the empty head before the first).
    pub(crate) head: Head,
    last_key: Option<sled::IVec>,
}

impl Walk {
    pub(crate) fn new() -> Walk {
        Walk { head: Head { seq: 0, hash: [0; 32], recorded_at_ms: 0 }, last_key: None }
    }
}

/// The sled side of the ledger.
pub(crate) struct Store {
    /// `None` only if a reopen failed (the ledger is poisoned then).
    handle: Option<(sled::Db, sled::Tree)>,
    config: sled::Config,
    /// The sled directory.
    path: std::path::PathBuf,
    lock_wait: std::time::Duration,
    /// Reopen once `touched` reaches this.
    reopen_bytes: u64,
    /// Bytes read or written through `handle` since it was opened.
    touched: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens the sled directory, waiting up to `lock_wait` for another
    /// handle to let go of its lock.
    pub(crate) fn open(
        config: sled::Config,
        path: &std::path::Path,
        lock_wait: std::time::Duration,
        reopen_bytes: u64,
    ) -> Result<Store, LedgerError> {
        let path = path.to_owned();
        let mut store = Store { handle: None, config, path, lock_wait, reopen_bytes, touched: Default::default() };
        store.handle = Some(store.open_handle()?);
        Ok(store)
    }

    fn open_handle(&self) -> Result<(sled::Db, sled::Tree), LedgerError> {
        let deadline = std::time::Instant::now() + self.lock_wait;
        let mut retried = false;
        let db = loop {
            match self.config.open() {
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(LedgerError::new(LedgerErrorKind::Held { path: self.path.clone() }));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(sled::Error::Corruption { .. }) if !retried && self.remove_unfinished_snapshots()? => {
                    retried = true;
                }
                other => break other?,
            }
        };
        let tree = db.open_tree("ledger")?;
        Ok((db, tree))
    }

    /// Removes the snapshot files sled was still writing when its process
    /// died (`snap.*.generating`); true if there were any. Rationale:
    /// sled 0.34.7 reads such a file on open and refuses the whole
    /// directory as corrupt (spacejam/sled#1527, #1533; seen here once in
    /// the crash loop's SIGKILLs). A snapshot only speeds recovery up —
    /// sled rebuilds it from its log — and one being generated was never
    /// complete. Called only after sled reported corruption, so no live
    /// handle holds the directory (it would have refused the lock
    /// first); whatever opens afterwards is re-walked entry by entry.
    fn remove_unfinished_snapshots(&self) -> Result<bool, LedgerError> {
        let mut removed = false;
        for file in std::fs::read_dir(&self.path).map_err(sled::Error::Io)? {
            let file = file.map_err(sled::Error::Io)?;
            let name = file.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("snap.") && name.ends_with(".generating") {
                tracing::warn!(file = %name, "removing a sled snapshot left unfinished by a crash");
                std::fs::remove_file(file.path()).map_err(sled::Error::Io)?;
                removed = true;
            }
        }
        Ok(removed)
    }

    pub(crate) fn tree(&self) -> Result<&sled::Tree, LedgerError> {
        self.handle.as_ref().map(|(_, tree)| tree).ok_or_else(|| LedgerError::new(crate::LedgerErrorKind::Poisoned))
    }

    /// Writes `batch` atomically and flushes: durable when this returns.
    pub(crate) fn apply_and_flush(&self, batch: sled::Batch, bytes: usize) -> Result<(), LedgerError> {
        let (db, tree) = self.handle.as_ref().ok_or_else(|| LedgerError::new(crate::LedgerErrorKind::Poisoned))?;
        tree.apply_batch(batch)?;
        db.flush()?;
        self.touch(bytes);
        Ok(())
    }

    fn touch(&self, bytes: usize) {
        self.touched.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
    }

    fn over_budget(&self) -> bool {
        self.touched.load(std::sync::atomic::Ordering::Relaxed) >= self.reopen_bytes
    }

    /// Reopens the sled handle once it has read or written its budget of
    /// bytes (with `force`: if it has touched anything), dropping the
    /// pages it holds. Only between batches: everything written is
    /// flushed, and no iterator over the old handle is alive (they borrow
    /// `self`).
    pub(crate) fn relieve(&mut self, force: bool) -> Result<(), LedgerError> {
        let touched = self.touched.load(std::sync::atomic::Ordering::Relaxed);
        if !(self.over_budget() || force && touched > 0) {
            return Ok(());
        }
        if let Some((db, tree)) = self.handle.take() {
            // Flushed after every batch already; this makes the reopen
            // safe even if a caller broke that rule.
            db.flush()?;
            drop((tree, db));
        }
        self.handle = Some(self.open_handle()?);
        self.touched.store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// The block holding `seq`: its first sequence and bytes.
    fn block_of(&self, seq: Seq) -> Result<Option<(Seq, sled::IVec)>, LedgerError> {
        if seq == 0 {
            return Ok(None);
        }
        let Some(item) = self.tree()?.range(disk::block_key(1)..=disk::block_key(seq)).next_back() else {
            return Ok(None);
        };
        let (key, bytes) = item?;
        self.touch(bytes.len());
        let first = disk::first_seq_of_block_key(&key).ok_or_else(|| LedgerError::corrupt(seq, "a bad block key"))?;
        Ok(Some((first, bytes)))
    }

    /// Entry `seq` with its bytes, checked against its own hash and the
    /// stored hash before it (`None` past the last entry).
    pub(crate) fn entry(&self, seq: Seq) -> Result<Option<(StoredEntry, Vec<u8>)>, LedgerError> {
        let Some((first, bytes)) = self.block_of(seq)? else { return Ok(None) };
        let mut found = None;
        Self::entries_of_block(first, &bytes, &[seq], &mut |entry, raw| found = Some((entry, raw.to_vec())))?;
        Ok(found)
    }

    /// The entries at `seqs` (ascending, distinct), each checked as
    /// [`Store::entry`] checks it, reading each block once; those past the
    /// last entry are left out.
    pub(crate) fn entries_at(&self, seqs: &[Seq]) -> Result<Vec<StoredEntry>, LedgerError> {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequences ascending and distinct");
        let mut entries = Vec::with_capacity(seqs.len());
        let mut rest = seqs;
        while let Some(&seq) = rest.first() {
            let Some((first, bytes)) = self.block_of(seq)? else { break };
            let before = entries.len();
            let wanted = rest.partition_point(|s| *s < first + disk::BLOCK_ENTRIES_MAX as Seq);
            Self::entries_of_block(first, &bytes, &rest[..wanted], &mut |entry, _| entries.push(entry))?;
            let taken = entries.len() - before;
            if taken == 0 {
                break;
            }
            rest = &rest[taken..];
        }
        Ok(entries)
    }

    /// The chain hashes of entries `first..first + count` (fewer past the
    /// last entry), each checked against its entry's bytes and the hash
    /// before it. Not decoded: a proof needs the hashes alone, and the
    /// decode was most of an inclusion proof's time.
    pub(crate) fn chain_hashes(&self, first: Seq, count: u64) -> Result<Vec<[u8; 32]>, LedgerError> {
        let end = first.saturating_add(count);
        let mut hashes = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(disk::BLOCK_ENTRIES_MAX));
        let mut at = first;
        while at < end {
            let Some((block_first, bytes)) = self.block_of(at)? else { break };
            let taken = hashes.len();
            Self::hashes_of_block(block_first, &bytes, at..end, &mut hashes)?;
            if hashes.len() == taken {
                break;
            }
            at += (hashes.len() - taken) as Seq;
        }
        Ok(hashes)
    }

    /// Pushes the chain hashes of the block's entries in `wanted`, each
    /// checked against its bytes and the hash before it.
    fn hashes_of_block(
        first: Seq,
        bytes: &[u8],
        wanted: std::ops::Range<Seq>,
        hashes: &mut Vec<[u8; 32]>,
    ) -> Result<(), LedgerError> {
        let block = disk::Block::read(bytes).map_err(|e| LedgerError::corrupt(first, e.reason))?;
        let mut prev = block.prev_hash;
        for (at, raw) in (first..wanted.end).zip(block.entries()) {
            let raw = raw.map_err(|e| LedgerError::corrupt(at, e.reason))?;
            if wanted.contains(&at) {
                prev = linked_hash(at, &prev, raw)?;
                hashes.push(prev);
            } else {
                prev = codec::split_stored_entry(raw)
                    .ok_or_else(|| LedgerError::corrupt(at, "an entry shorter than its hash"))?
                    .1;
            }
        }
        Ok(())
    }

    /// Visits the entries of one block (starting at `first`) whose
    /// sequences are in `seqs` (ascending), each checked against its hash
    /// and the one before it.
    fn entries_of_block(
        first: Seq,
        bytes: &[u8],
        seqs: &[Seq],
        visit: &mut dyn FnMut(StoredEntry, &[u8]),
    ) -> Result<(), LedgerError> {
        let block = disk::Block::read(bytes).map_err(|e| LedgerError::corrupt(first, e.reason))?;
        let mut prev = block.prev_hash;
        let mut wanted = seqs.iter().peekable();
        for (at, raw) in (first..).zip(block.entries()) {
            let Some(&&next) = wanted.peek() else { break };
            let raw = raw.map_err(|e| LedgerError::corrupt(at, e.reason))?;
            if at == next {
                visit(check_entry(at, &prev, raw)?, raw);
                wanted.next();
            }
            prev = codec::split_stored_entry(raw)
                .ok_or_else(|| LedgerError::corrupt(at, "an entry shorter than its hash"))?
                .1;
        }
        Ok(())
    }

    /// Walks the chain on from where `walk` stands (a new [`Walk`]: from
    /// the first block): block keys in sequence, each block linked to the
    /// entry before it, every entry checked; calls `visit` with each entry
    /// in order. Stops at the end (returns false), or once the handle is
    /// over its budget (returns true: call [`Store::relieve`] and walk on).
    /// An error names the first bad sequence.
    pub(crate) fn walk_some(
        &self,
        walk: &mut Walk,
        mut visit: impl FnMut(StoredEntry, &[u8]) -> Result<(), LedgerError>,
    ) -> Result<bool, LedgerError> {
        let tree = self.tree()?;
        let blocks = match walk.last_key.take() {
            None => tree.scan_prefix([disk::BLOCK_PREFIX]),
            Some(key) => {
                let last = sled::IVec::from(&disk::block_key(u64::MAX)[..]);
                tree.range((std::ops::Bound::Excluded(key), std::ops::Bound::Included(last)))
            }
        };
        for item in blocks {
            let (key, bytes) = item?;
            self.touch(bytes.len());
            walk.head = check_block(walk.head, &key, &bytes, &mut visit)?;
            walk.last_key = Some(key);
            if self.over_budget() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The entries from `first_seq` on, as blocks that start there: the
    /// stored blocks when one starts at `first_seq`; otherwise the rest of
    /// the stored block holding it framed anew (its first entry linked to
    /// the hash of the one before), then the stored blocks after it.
    /// Rationale: a ledger that took over from another (failover) holds
    /// the same entries in blocks cut at other places, and the feed it
    /// continues ends wherever the other's commits ended.
    pub(crate) fn blocks_starting_at(&self, first_seq: Seq) -> Result<Vec<(Seq, Seq, Vec<u8>)>, LedgerError> {
        let holding = self.tree()?.range(disk::block_key(0)..=disk::block_key(first_seq)).next_back().transpose()?;
        let Some((key, bytes)) = holding else { return self.blocks_from(first_seq) };
        let start = disk::first_seq_of_block_key(&key).ok_or_else(|| LedgerError::corrupt(first_seq, "a stray key"))?;
        if start == first_seq {
            return self.blocks_from(first_seq);
        }
        self.touch(bytes.len());
        let block = disk::Block::read(&bytes).map_err(|e| LedgerError::corrupt(start, e.reason))?;
        let mut prev_hash = block.prev_hash;
        let mut framed: Option<disk::BlockWriter> = None;
        let mut seq = start;
        for raw in block.entries() {
            let raw = raw.map_err(|e| LedgerError::corrupt(seq, e.reason))?;
            if seq < first_seq {
                prev_hash = codec::split_stored_entry(raw).ok_or_else(|| LedgerError::corrupt(seq, "no hash"))?.1;
            } else {
                let writer = framed.get_or_insert_with(|| disk::BlockWriter::new(&prev_hash));
                assert!(writer.has_room(raw.len()), "a part of a stored block fits in a block");
                writer.push(raw);
            }
            seq += 1;
        }
        let Some(framed) = framed else {
            // `first_seq` is past this block: the block after it starts there.
            return self.blocks_from(first_seq);
        };
        let mut blocks = vec![(first_seq, seq - 1, framed.finish())];
        blocks.extend(self.blocks_from(seq)?);
        Ok(blocks)
    }

    /// The stored blocks from the one starting at `first_seq` on: (first
    /// seq, last seq, bytes), each checked for its framing and linked to
    /// the one before. For the feed.
    pub(crate) fn blocks_from(&self, first_seq: Seq) -> Result<Vec<(Seq, Seq, Vec<u8>)>, LedgerError> {
        let mut blocks = Vec::new();
        let mut expected = first_seq;
        for item in self.tree()?.range(disk::block_key(first_seq)..=disk::block_key(u64::MAX)) {
            let (key, bytes) = item?;
            self.touch(bytes.len());
            if disk::first_seq_of_block_key(&key) != Some(expected) {
                return Err(LedgerError::corrupt(expected, "no block starts here"));
            }
            let block = disk::Block::read(&bytes).map_err(|e| LedgerError::corrupt(expected, e.reason))?;
            let mut count = 0u64;
            for raw in block.entries() {
                raw.map_err(|e| LedgerError::corrupt(expected + count, e.reason))?;
                count += 1;
            }
            blocks.push((expected, expected + count - 1, bytes.to_vec()));
            expected += count;
        }
        Ok(blocks)
    }
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("the id index is keyed by u64 only")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A 64-bit hash as two halves. Rationale: a `(u64, u32)` slot is padded
/// to 16 bytes, a `([u32; 2], u32)` one is 12 — 10M keys in the benchmark.
#[derive(Clone, Copy, PartialEq, Eq)]
struct HashKey([u32; 2]);

impl HashKey {
    fn of(hash: u64) -> HashKey {
        HashKey([(hash >> 32) as u32, hash as u32])
    }
}

impl std::hash::Hash for HashKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64((u64::from(self.0[0]) << 32) | u64::from(self.0[1]))
    }
}

/// Whether `path` holds a sled store: its `db` file, which sled writes on
/// creating one (beside `conf`).
pub(crate) fn holds_a_store(path: &std::path::Path) -> bool {
    path.join("db").is_file()
}

/// (source, id) → the sequence of the first entry recorded under it.
///
/// In memory, 64-bit keyed hashes of the key, ~20 bytes per event.
/// Rationale: a sled row per event cost a leaf rewrite per event (see
/// `muster_proto::disk`); the index is rebuilt from the chain on open,
/// which reads every entry anyway. A hash hit is confirmed against the
/// entry it points to, and the rare second key with the same hash is kept
/// whole in `collided`, so a collision can never merge two events.
pub(crate) struct IdIndex {
    keys: RandomState,
    by_hash: HashMap<HashKey, u32, BuildHasherDefault<Prehashed>>,
    collided: HashMap<(String, String), Seq>,
}

impl IdIndex {
    pub(crate) fn new() -> IdIndex {
        IdIndex { keys: RandomState::new(), by_hash: HashMap::default(), collided: HashMap::new() }
    }

    /// Bytes on the heap: the table's slots (key, value and a control
    /// byte each) and the rare collided keys (estimated).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.by_hash.capacity() * (std::mem::size_of::<(HashKey, u32)>() + 1)
            + self.collided.keys().map(|(s, i)| s.len() + i.len() + 64).sum::<usize>()
    }

    fn hash(&self, source: &str, id: &str) -> u64 {
        self.keys.hash_one((source, id))
    }

    /// The sequence recorded under (source, id), if any.
    pub(crate) fn get(&self, store: &Store, source: &str, id: &str) -> Result<Option<Seq>, LedgerError> {
        if !self.collided.is_empty() {
            if let Some(seq) = self.collided.get(&(source.to_owned(), id.to_owned())) {
                return Ok(Some(*seq));
            }
        }
        let Some(&seq) = self.by_hash.get(&HashKey::of(self.hash(source, id))) else { return Ok(None) };
        let seq = Seq::from(seq);
        let (entry, _) = store.entry(seq)?.ok_or_else(|| LedgerError::corrupt(seq, "an indexed entry is missing"))?;
        Ok((entry.body.submission.key() == (source, id)).then_some(seq))
    }

    /// Records (source, id) → `seq` for a key [`IdIndex::get`] does not
    /// know.
    pub(crate) fn insert_new(&mut self, source: &str, id: &str, seq: Seq) {
        let hash = HashKey::of(self.hash(source, id));
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                // The ledger refuses sequences past `muster_domain::SEQ_MAX`.
                slot.insert(u32::try_from(seq).expect("a sequence within SEQ_MAX"));
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert((source.to_owned(), id.to_owned()), seq);
            }
        }
    }
}
