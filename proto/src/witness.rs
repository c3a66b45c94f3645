//! What a witness (`muster witness`) writes: its state file, the last
//! checkpoint of one ledger it accepted and cosigned, and the alarm it
//! publishes on `<prefix>.witness.alarm` when that ledger shows two
//! histories that do not extend each other.
//!
//! State file (JSON, replaced atomically after each cosignature):
//!
//! ```json
//! {"origin":"muster/muster","size":63,"root":"9f3c…","checkpoint":"muster/muster\n63\n…\n\n— muster/muster …\n— witness-a …\n"}
//! ```
//!
//! `checkpoint` is the C2SP signed note as the witness published it: the
//! ledger's signature and the witness's cosignature (c2sp.org/tlog-cosignature).

use serde::{Deserialize, Serialize};

/// The last checkpoint a witness accepted.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct WitnessState {
    /// The log: `muster/<prefix>`.
    pub origin: String,
    /// Its tree size …
    pub size: u64,
    /// … and Merkle root (64 hex digits).
    pub root: String,
    /// The signed note, cosigned by the witness.
    pub checkpoint: String,
}

/// A witness's alarm: two signed checkpoints of one log that could not be
/// shown to be one history (a fork, or a split view shown to different
/// readers). Both notes carry the ledger's signature: handed to anyone
/// with its public key, they are the evidence.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct WitnessAlarm {
    /// Always `fork`.
    pub code: String,
    /// The witness's name.
    pub witness: String,
    /// The log.
    pub origin: String,
    /// Why the two do not extend each other.
    pub reason: String,
    /// The checkpoint the witness had accepted (signed note).
    pub accepted: String,
    /// The one that does not extend it, or that it does not extend.
    pub conflicting: String,
    /// The consistency proof the ledger gave between them (hex hashes;
    /// empty when none was needed or none was given).
    pub proof: Vec<String>,
}

/// The alarm's code.
pub const ALARM_FORK: &str = "fork";

/// JSON of a state file.
pub fn encode_state(state: &WitnessState) -> Vec<u8> {
    serde_json::to_vec(state).expect("a witness state serializes")
}

/// A state file read back (at most [`crate::limits::WITNESS_STATE_BYTES_MAX`]).
pub fn decode_state(bytes: &[u8]) -> Result<WitnessState, String> {
    if bytes.len() > crate::limits::WITNESS_STATE_BYTES_MAX {
        return Err(format!(
            "{} bytes; a witness state is at most {}",
            bytes.len(),
            crate::limits::WITNESS_STATE_BYTES_MAX
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// JSON of an alarm.
pub fn encode_alarm(alarm: &WitnessAlarm) -> Vec<u8> {
    serde_json::to_vec(alarm).expect("an alarm serializes")
}

/// An alarm read back.
pub fn decode_alarm(bytes: &[u8]) -> Result<WitnessAlarm, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}
