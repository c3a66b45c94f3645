//! Signed checkpoints of the chain head (format: `muster_proto::checkpoint`):
//! the ledger service signs its head every so often with its ed25519 key;
//! an auditor checks an export against a checkpoint offline, trusting only
//! the public key they were given.

use crate::{hex, unhex, Head};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use muster_proto::checkpoint::{signed_bytes, Checkpoint};
use std::path::Path;

/// Why a checkpoint, or a key, cannot be used.
#[derive(Debug)]
pub enum CheckpointError {
    /// The key file or key text is not one.
    Key(String),
    /// The checkpoint's fields are not what a checkpoint holds.
    Malformed(String),
    /// Signed by another key than the one trusted.
    Untrusted {
        /// The key it names.
        signed_by: String,
    },
    /// The signature does not match the checkpoint's content.
    BadSignature,
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointError::Key(reason) => write!(f, "signing key: {reason}"),
            CheckpointError::Malformed(reason) => write!(f, "checkpoint: {reason}"),
            CheckpointError::Untrusted { signed_by } => {
                write!(f, "the checkpoint is signed by key {signed_by}, not the one trusted")
            }
            CheckpointError::BadSignature => {
                write!(f, "the checkpoint's signature does not match its content: it was altered or forged")
            }
        }
    }
}

impl std::error::Error for CheckpointError {}

/// The ledger's signing key.
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// Reads a key file: the 32-byte secret seed as 64 hex digits (white
    /// space around it ignored), as `muster keygen` writes it.
    pub fn from_file(path: &Path) -> Result<Signer, CheckpointError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CheckpointError::Key(format!("reading {}: {e}", path.display())))?;
        let seed = unhex::<32>(text.trim())
            .ok_or_else(|| CheckpointError::Key(format!("{} does not hold 64 hex digits", path.display())))?;
        Ok(Signer { key: SigningKey::from_bytes(&seed) })
    }

    /// A new key from the operating system's randomness, and its seed as
    /// the hex a key file holds.
    pub fn generate() -> Result<(Signer, String), CheckpointError> {
        let mut seed = [0u8; 32];
        std::io::Read::read_exact(
            &mut std::fs::File::open("/dev/urandom").map_err(|e| CheckpointError::Key(format!("/dev/urandom: {e}")))?,
            &mut seed,
        )
        .map_err(|e| CheckpointError::Key(format!("/dev/urandom: {e}")))?;
        Ok((Signer { key: SigningKey::from_bytes(&seed) }, hex(&seed)))
    }

    /// The public key, hex: what auditors are given to trust.
    pub fn public_key(&self) -> String {
        hex(self.key.verifying_key().as_bytes())
    }

    /// Signs `head`.
    pub fn sign(&self, head: Head) -> Checkpoint {
        let signature = self.key.sign(&signed_bytes(head.seq, &head.hash, head.recorded_at_ms));
        Checkpoint {
            seq: head.seq,
            head_hash: hex(&head.hash),
            recorded_at_ms: head.recorded_at_ms,
            public_key: self.public_key(),
            signature: hex(&signature.to_bytes()),
        }
    }
}

/// A public key given as 64 hex digits.
pub fn public_key(text: &str) -> Result<[u8; 32], CheckpointError> {
    let bytes = unhex::<32>(text.trim()).ok_or_else(|| CheckpointError::Key("a public key is 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| CheckpointError::Key(format!("not an ed25519 public key: {e}")))?;
    Ok(bytes)
}

/// Checks that `checkpoint` is signed by the `trusted` key and that its
/// signature covers its content; returns the head it vouches for.
pub fn verify_checkpoint(checkpoint: &Checkpoint, trusted: &[u8; 32]) -> Result<Head, CheckpointError> {
    let malformed = |what: &str| CheckpointError::Malformed(format!("{what} is not hex of the right length"));
    let signed_by = unhex::<32>(&checkpoint.public_key).ok_or_else(|| malformed("public_key"))?;
    if signed_by != *trusted {
        return Err(CheckpointError::Untrusted { signed_by: checkpoint.public_key.clone() });
    }
    let hash = unhex::<32>(&checkpoint.head_hash).ok_or_else(|| malformed("head_hash"))?;
    let signature = Signature::from_bytes(&unhex::<64>(&checkpoint.signature).ok_or_else(|| malformed("signature"))?);
    let key = VerifyingKey::from_bytes(trusted).map_err(|e| CheckpointError::Key(e.to_string()))?;
    key.verify_strict(&signed_bytes(checkpoint.seq, &hash, checkpoint.recorded_at_ms), &signature)
        .map_err(|_| CheckpointError::BadSignature)?;
    Ok(Head { seq: checkpoint.seq, hash, recorded_at_ms: checkpoint.recorded_at_ms })
}
