//! The ledger's sled keyspace and its block framing: a disk format, so it
//! lives here.
//!
//! One tree, four kinds of keys. Rationale: one tree lets a batch's blocks, the
//! head and the intake cursor go to disk in one atomic `apply_batch`,
//! without sled's multi-tree transactions.
//!
//! Bincode? No: keys are fixed layouts so that sled orders blocks by
//! sequence, and a block is a frame around entries that are codec bytes.
//!
//! - `B` first seq (u64 big-endian) → a **block**: consecutive entries
//!   committed together. Append-only.
//! - `H` → head: seq, hash, recorded_at_ms.
//! - `C` → a cursor: the last position in the stream the ledger reads
//!   (the intake for the ledger, the feed for a replica), written with
//!   the batch that read up to it.
//! - `T` seq (u64 big-endian) → the **Merkle subtrees** a commit
//!   completed (RFC 9162; leaf `i` is entry `i + 1`, its data the entry's
//!   chain hash), from level [`MERKLE_LEVEL_STORED_MIN`] up, in the order
//!   they completed, keyed by the entry that completed the last of them:
//!   [`MERKLE_RECORD_BYTES`]-byte records of level (u8), index (u64
//!   big-endian) and hash. One item per commit, written with it.
//!   Append-only. Lower subtrees are hashed from the entries' chain hashes
//!   when asked for. (Ledgers from before kept one `M` item per subtree;
//!   opening one moves them to `T` items.)
//!
//! Why blocks and not one sled item per entry: sled keeps at most 16 items
//! in a leaf and rewrites a leaf on every change, so an item per entry cost
//! a leaf rewrite per event and ~4× the entry's bytes on disk; a block is
//! one item per committed batch (measured on 1M entries: 60k → 1.6M
//! entries/s, 686 → 126 B per 93-byte entry, an (source, id) index row per
//! entry included in the first figure). The (source, id) lookups are an
//! in-memory index rebuilt from the blocks on open.
//!
//! A block's bytes:
//!
//! ```text
//! BLOCK_VERSION (1 byte) ‖ hash of the entry before the block (32 bytes)
//!   ‖ { entry length (u32 little-endian) ‖ entry (codec bytes) } × 1..
//! ```
//!
//! The feed carries the same blocks, so a replica stores exactly the bytes
//! the ledger stored.

/// Prefix of block keys.
pub const BLOCK_PREFIX: u8 = b'B';
/// The head's key.
pub const HEAD_KEY: &[u8] = b"H";
/// The cursor's key: the last stream message read into the ledger,
/// written in the same batch — its stream sequence then its JetStream time
/// in nanoseconds (0: unknown), both u64 big-endian (stores written
/// before the time was kept hold the sequence alone).
pub const CURSOR_KEY: &[u8] = b"C";
/// Prefix of the Merkle subtree items.
pub const MERKLE_PREFIX: u8 = b'T';
/// Prefix of the first layout's items, one per subtree (`M`, level,
/// index): replaced by `T` items when such a ledger is opened.
/// Rationale: sled rewrites a leaf of up to 16 items on every change, and
/// a commit's subtrees, one item each, landed in a leaf per level: 11 B
/// per entry on disk at 1M entries, against under 2 for one item per
/// commit.
pub const MERKLE_PREFIX_FIRST: u8 = b'M';
/// The lowest level of the Merkle tree that is stored: one subtree of
/// 2^8 = 256 entries. Rationale: storing every subtree (about two per
/// entry) would cost more than the entries; from level 8 up it is one per
/// 128 entries (78k at 10M entries, ~3 MB), and a lower subtree is at most
/// 256 chain hashes read from one or two blocks.
pub const MERKLE_LEVEL_STORED_MIN: u8 = 8;
/// One stored subtree in a `T` item: level, index, hash.
pub const MERKLE_RECORD_BYTES: usize = 1 + 8 + 32;

/// A stored subtree: `2^level` leaves from `index·2^level`, and its hash.
pub type Subtree = (u8, u64, [u8; 32]);

/// The entry whose append completes subtree (`level`, `index`): its last
/// leaf's, `(index + 1)·2^level`.
pub fn completed_by(level: u8, index: u64) -> u64 {
    (index + 1) << level
}

/// Key of the item whose last subtree entry `seq` completed.
pub fn merkle_key(seq: u64) -> [u8; 9] {
    let mut key = [MERKLE_PREFIX; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// An item's bytes: its subtrees, in the order they completed.
pub fn encode_subtrees(subtrees: &[Subtree]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(subtrees.len() * MERKLE_RECORD_BYTES);
    for (level, index, hash) in subtrees {
        bytes.push(*level);
        bytes.extend_from_slice(&index.to_be_bytes());
        bytes.extend_from_slice(hash);
    }
    bytes
}

/// The item of `subtrees` (in completion order, not empty): its key, the
/// entry that completed the last of them, and its bytes.
pub fn merkle_item(subtrees: &[Subtree]) -> ([u8; 9], Vec<u8>) {
    let (level, index, _) = subtrees.last().expect("an item holds at least one subtree");
    (merkle_key(completed_by(*level, *index)), encode_subtrees(subtrees))
}

/// An item read back; `None` when its length is not whole records.
pub fn decode_subtrees(bytes: &[u8]) -> Option<Vec<Subtree>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(MERKLE_RECORD_BYTES) {
        return None;
    }
    let record = |r: &[u8]| {
        let index = u64::from_be_bytes(r[1..9].try_into().expect("eight bytes"));
        (r[0], index, r[9..].try_into().expect("32 bytes"))
    };
    Some(bytes.chunks_exact(MERKLE_RECORD_BYTES).map(record).collect())
}

/// The first byte of every block.
pub const BLOCK_VERSION: u8 = 1;
pub use crate::limits::{BLOCK_BYTES_TARGET, BLOCK_ENTRIES_MAX};
const HEADER: usize = 33;

/// Key of the block whose first entry is `first_seq`.
pub fn block_key(first_seq: u64) -> [u8; 9] {
    let mut key = [BLOCK_PREFIX; 9];
    key[1..].copy_from_slice(&first_seq.to_be_bytes());
    key
}

/// The first sequence in a block key.
pub fn first_seq_of_block_key(key: &[u8]) -> Option<u64> {
    let (&prefix, rest) = key.split_first()?;
    (prefix == BLOCK_PREFIX).then(|| rest.try_into().ok().map(u64::from_be_bytes)).flatten()
}

/// Builds a block entry by entry.
#[derive(Debug)]
pub struct BlockWriter {
    bytes: Vec<u8>,
    entries: usize,
}

impl BlockWriter {
    /// A block following the entry whose hash is `prev_hash`.
    pub fn new(prev_hash: &[u8; 32]) -> BlockWriter {
        let mut bytes = Vec::with_capacity(64 * 1024);
        bytes.push(BLOCK_VERSION);
        bytes.extend_from_slice(prev_hash);
        BlockWriter { bytes, entries: 0 }
    }

    /// Whether `entry_len` more bytes still go into this block.
    pub fn has_room(&self, entry_len: usize) -> bool {
        self.entries == 0
            || (self.entries < BLOCK_ENTRIES_MAX && self.bytes.len() + 4 + entry_len <= BLOCK_BYTES_TARGET)
    }

    /// Appends one entry's codec bytes.
    pub fn push(&mut self, entry: &[u8]) {
        let len = u32::try_from(entry.len()).expect("an entry is far below 4 GiB");
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(entry);
        self.entries += 1;
    }

    /// Entries so far.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether no entry was pushed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The block's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// A block's frame is broken: `index` is the position (0-based) of the
/// first entry that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockError {
    /// Entries read before the break.
    pub index: usize,
    /// What is wrong.
    pub reason: String,
}

/// A block read back: the hash before it and its entries' bytes.
#[derive(Debug)]
pub struct Block<'a> {
    /// The hash of the entry before the block's first.
    pub prev_hash: [u8; 32],
    rest: &'a [u8],
}

impl<'a> Block<'a> {
    /// Reads a block's header; the entries are read by [`Block::entries`].
    pub fn read(bytes: &'a [u8]) -> Result<Block<'a>, BlockError> {
        let broken = |reason: String| BlockError { index: 0, reason };
        if bytes.len() < HEADER {
            return Err(broken(format!("a block of {} bytes has no header", bytes.len())));
        }
        if bytes[0] != BLOCK_VERSION {
            return Err(broken(format!("block format version {}; this build reads {BLOCK_VERSION}", bytes[0])));
        }
        let prev_hash = bytes[1..HEADER].try_into().expect("32 bytes");
        Ok(Block { prev_hash, rest: &bytes[HEADER..] })
    }

    /// Each entry's codec bytes in order; an error (then nothing more)
    /// where the framing breaks.
    pub fn entries(&self) -> impl Iterator<Item = Result<&'a [u8], BlockError>> + 'a {
        let mut rest = self.rest;
        let mut index = 0usize;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let broken = |reason: String| BlockError { index, reason };
            let result = if index >= BLOCK_ENTRIES_MAX {
                Err(broken(format!("more than {BLOCK_ENTRIES_MAX} entries")))
            } else if rest.len() < 4 {
                Err(broken(format!("{} stray bytes after the last entry", rest.len())))
            } else {
                let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
                match rest[4..].split_at_checked(len) {
                    Some((entry, after)) => {
                        rest = after;
                        Ok(entry)
                    }
                    None => Err(broken(format!("an entry of {len} bytes runs past the block's end"))),
                }
            };
            if result.is_err() {
                rest = &[];
            }
            index += 1;
            Some(result)
        })
    }
}

/// The head value: seq, hash, recorded_at_ms.
pub fn encode_head(seq: u64, hash: &[u8; 32], recorded_at_ms: u64) -> [u8; 48] {
    let mut value = [0u8; 48];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8..40].copy_from_slice(hash);
    value[40..].copy_from_slice(&recorded_at_ms.to_be_bytes());
    value
}

/// Reads a head value.
pub fn decode_head(value: &[u8]) -> Option<(u64, [u8; 32], u64)> {
    if value.len() != 48 {
        return None;
    }
    let seq = u64::from_be_bytes(value[..8].try_into().ok()?);
    let hash: [u8; 32] = value[8..40].try_into().ok()?;
    let at = u64::from_be_bytes(value[40..].try_into().ok()?);
    Some((seq, hash, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_of(entries: &[&[u8]]) -> Vec<u8> {
        let mut writer = BlockWriter::new(&[7; 32]);
        for entry in entries {
            assert!(writer.has_room(entry.len()));
            writer.push(entry);
        }
        writer.finish()
    }

    #[test]
    fn a_block_reads_back_its_entries_and_the_hash_before_it() {
        let bytes = block_of(&[b"first", b"", b"third entry"]);
        let block = Block::read(&bytes).unwrap();
        assert_eq!(block.prev_hash, [7; 32]);
        let entries: Vec<&[u8]> = block.entries().map(Result::unwrap).collect();
        assert_eq!(entries, [&b"first"[..], b"", b"third entry"]);
        assert_eq!(first_seq_of_block_key(&block_key(42)), Some(42));
        assert!(block_key(255) < block_key(256), "keys sort by sequence");
    }

    #[test]
    fn a_broken_frame_names_the_first_entry_it_cannot_read() {
        let mut bytes = block_of(&[b"aaaa", b"bbbb", b"cccc"]);
        // The second entry's length now runs past the end.
        let second = HEADER + 4 + 4;
        bytes[second..second + 4].copy_from_slice(&1000u32.to_le_bytes());
        let read: Vec<_> = Block::read(&bytes).unwrap().entries().collect();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].as_deref(), Ok(&b"aaaa"[..]));
        assert_eq!(read[1].as_ref().unwrap_err().index, 1);
        bytes[0] = 9;
        assert!(Block::read(&bytes).unwrap_err().reason.contains("version 9"));
        assert!(Block::read(&bytes[..10]).is_err());
    }

    #[test]
    fn a_block_closes_at_its_byte_target_but_always_takes_one_entry() {
        let mut writer = BlockWriter::new(&[0; 32]);
        assert!(writer.has_room(BLOCK_BYTES_TARGET * 4), "an empty block takes any entry");
        writer.push(&vec![1; BLOCK_BYTES_TARGET / 2]);
        assert!(writer.has_room(BLOCK_BYTES_TARGET / 4));
        assert!(!writer.has_room(BLOCK_BYTES_TARGET / 2));
    }
}
