//! The ledger's sled keyspace: a disk format, so it lives here.
//!
//! One tree, three prefixes. Rationale: one tree lets a batch of entries,
//! id index rows and the head go to disk in one atomic `apply_batch`,
//! without sled's multi-tree transactions.
//!
//! Bincode? No: keys are fixed layouts so that sled orders entries by
//! sequence.
//!
//! - `L` seq (u64 big-endian) → stored entry (codec bytes). Append-only.
//! - `I` source 0x00 id → seq. Ids and sources never contain 0x00
//!   (control characters are rejected by `validate`).
//! - `H` → head: seq, hash, recorded_at_ms.
//! - `C` → intake cursor (the service's position in the intake stream).

/// Prefix of log entries.
pub const ENTRY_PREFIX: u8 = b'L';
/// The head's key.
pub const HEAD_KEY: &[u8] = b"H";
/// The intake cursor's key: the last intake stream sequence whose message
/// is in the ledger (u64 big-endian), written in the same batch.
pub const CURSOR_KEY: &[u8] = b"C";

/// Key of entry `seq`.
pub fn entry(seq: u64) -> [u8; 9] {
    let mut key = [ENTRY_PREFIX; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The sequence in an entry key.
pub fn seq_of_entry_key(key: &[u8]) -> Option<u64> {
    let (&prefix, rest) = key.split_first()?;
    (prefix == ENTRY_PREFIX).then(|| rest.try_into().ok().map(u64::from_be_bytes)).flatten()
}

/// Key of the (source, id) index row.
pub fn id_index(source: &str, id: &str) -> Vec<u8> {
    debug_assert!(!source.contains('\0'));
    let mut key = Vec::with_capacity(2 + source.len() + id.len());
    key.push(b'I');
    key.extend_from_slice(source.as_bytes());
    key.push(0);
    key.extend_from_slice(id.as_bytes());
    key
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
