//! A signed checkpoint: the ledger's word, under its ed25519 key, that its
//! chain held `seq` entries ending at `head_hash` at `recorded_at_ms`.
//!
//! An auditor who trusts the ledger's public key checks an export against
//! one offline (`muster verify --export FILE --checkpoint CP --public-key
//! HEX`): the export must reach `seq` and hold exactly `head_hash` there,
//! which catches what an export alone cannot — entries cut off its end,
//! or a chain rewritten from the start.
//!
//! JSON (what the ledger publishes on `<prefix>.checkpoints` and what
//! `muster checkpoint` writes):
//!
//! ```json
//! {"seq":63,"head_hash":"f4e5…","recorded_at_ms":1700000000003,"public_key":"3d40…","signature":"9a1c…"}
//! ```
//!
//! The signature is ed25519 over [`signed_bytes`]: the context
//! `muster-checkpoint-v1`, a zero byte, then `seq` and `recorded_at_ms`
//! as big-endian u64 around the 32 bytes of `head_hash`. The context keeps
//! a checkpoint signature from ever being valid for anything else the key
//! might sign.

use serde::{Deserialize, Serialize};

/// What the signature's bytes begin with.
pub const CONTEXT: &[u8] = b"muster-checkpoint-v1";
pub use crate::limits::CHECKPOINT_BYTES_MAX;

/// A signed checkpoint. Hashes, keys and the signature are lowercase hex.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The last entry it covers.
    pub seq: u64,
    /// That entry's chain hash (64 hex digits).
    pub head_hash: String,
    /// That entry's recorded time, milliseconds since the Unix epoch.
    pub recorded_at_ms: u64,
    /// The ed25519 public key that signed it (64 hex digits).
    pub public_key: String,
    /// The ed25519 signature over [`signed_bytes`] (128 hex digits).
    pub signature: String,
}

/// The bytes a checkpoint's signature covers.
pub fn signed_bytes(seq: u64, head_hash: &[u8; 32], recorded_at_ms: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(CONTEXT.len() + 1 + 8 + 32 + 8);
    bytes.extend_from_slice(CONTEXT);
    bytes.push(0);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(head_hash);
    bytes.extend_from_slice(&recorded_at_ms.to_be_bytes());
    bytes
}

/// Encodes a checkpoint as JSON.
pub fn encode(checkpoint: &Checkpoint) -> Vec<u8> {
    serde_json::to_vec(checkpoint).expect("a checkpoint serializes")
}

/// Reads a checkpoint's JSON.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    if bytes.len() > CHECKPOINT_BYTES_MAX {
        return Err(format!("a checkpoint of {} bytes; the limit is {CHECKPOINT_BYTES_MAX}", bytes.len()));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("not a Muster checkpoint: {e}"))
}
