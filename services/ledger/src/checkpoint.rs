//! Signed checkpoints of the chain head (format: `muster_proto::checkpoint`):
//! the ledger service signs its head every so often with its ed25519 key;
//! an auditor checks an export against a checkpoint offline, trusting only
//! the public key they were given.

use crate::{hex, unhex, Head};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use muster_proto::checkpoint::{signed_bytes, Checkpoint};
use muster_proto::note::{self, CheckpointText, Note, NoteSignature};
use sha2::{Digest, Sha256};
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

    /// The key of a 32-byte secret seed (a key file's content, decoded).
    pub fn from_seed(seed: &[u8; 32]) -> Signer {
        Signer { key: SigningKey::from_bytes(seed) }
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

/// A signed note's algorithm byte for Ed25519 (c2sp.org/signed-note).
pub const NOTE_ED25519: u8 = 0x01;

/// A note key's ID: the first four bytes of SHA-256(name ‖ "\n" ‖
/// algorithm ‖ public key).
pub fn note_key_id(name: &str, algorithm: u8, public_key: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new().chain_update(name).chain_update([b'\n', algorithm]).chain_update(public_key).finalize();
    digest[..4].try_into().expect("four bytes")
}

/// A note verifier key as C2SP writes it: `name+keyid+base64(0x01 ‖ key)`.
pub fn note_vkey(name: &str, public_key: &[u8; 32]) -> String {
    let mut typed = vec![NOTE_ED25519];
    typed.extend_from_slice(public_key);
    format!("{name}+{}+{}", hex(&note_key_id(name, NOTE_ED25519, public_key)), note::base64(&typed))
}

impl Signer {
    /// This key's note verifier key under `name`.
    pub fn note_vkey(&self, name: &str) -> String {
        note_vkey(name, &self.key.verifying_key().to_bytes())
    }

    /// Signs `text` as a note under key `name`.
    pub fn sign_note(&self, name: &str, text: String) -> Note {
        let public_key = self.key.verifying_key().to_bytes();
        let signature = self.key.sign(text.as_bytes()).to_bytes().to_vec();
        let key_id = note_key_id(name, NOTE_ED25519, &public_key);
        Note { text, signatures: vec![NoteSignature { name: name.to_owned(), key_id, signature }] }
    }

    /// A C2SP checkpoint of `head` with the Merkle `root` at its size,
    /// signed under the key name `origin` (`muster/<prefix>`).
    pub fn sign_tree_head(&self, origin: &str, head: Head, root: &[u8; 32]) -> Note {
        let text = CheckpointText {
            origin: origin.to_owned(),
            size: head.seq,
            root: *root,
            extensions: vec![
                format!("{} {}", note::CHAIN_HEAD_LINE, hex(&head.hash)),
                format!("{} {}", note::RECORDED_AT_LINE, head.recorded_at_ms),
            ],
        };
        self.sign_note(origin, text.encode())
    }
}

/// Checks that `note` carries a valid signature by the `trusted` key
/// under the key name `name`; signatures by other keys (witnesses) are
/// left for whoever trusts them.
pub fn verify_note(note: &Note, name: &str, trusted: &[u8; 32]) -> Result<(), CheckpointError> {
    let key_id = note_key_id(name, NOTE_ED25519, trusted);
    let signature = note
        .signatures
        .iter()
        .find(|s| s.name == name && s.key_id == key_id)
        .ok_or_else(|| CheckpointError::Untrusted { signed_by: signers(note) })?;
    let bytes: [u8; 64] = signature.signature.as_slice().try_into().map_err(|_| CheckpointError::BadSignature)?;
    let key = VerifyingKey::from_bytes(trusted).map_err(|e| CheckpointError::Key(e.to_string()))?;
    key.verify_strict(note.text.as_bytes(), &Signature::from_bytes(&bytes)).map_err(|_| CheckpointError::BadSignature)
}

/// A signed note's algorithm byte for a timestamped Ed25519 cosignature
/// (c2sp.org/tlog-cosignature): a witness's.
pub const NOTE_COSIGNATURE: u8 = 0x04;

/// A witness's verifier key: `name+keyid+base64(0x04 ‖ key)`.
pub fn cosigner_vkey(name: &str, public_key: &[u8; 32]) -> String {
    let mut typed = vec![NOTE_COSIGNATURE];
    typed.extend_from_slice(public_key);
    format!("{name}+{}+{}", hex(&note_key_id(name, NOTE_COSIGNATURE, public_key)), note::base64(&typed))
}

/// What a cosignature signs: "cosignature/v1", the time, then the whole
/// checkpoint text.
fn cosigned_message(time: u64, text: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

impl Signer {
    /// A witness's cosignature of a checkpoint's `text` under `name`, at
    /// `time` (Unix seconds): that this checkpoint is the largest
    /// consistent one the witness had seen of that log then.
    pub fn cosign(&self, name: &str, text: &str, time: u64) -> NoteSignature {
        let public_key = self.key.verifying_key().to_bytes();
        let mut signature = time.to_be_bytes().to_vec();
        signature.extend_from_slice(&self.key.sign(cosigned_message(time, text).as_bytes()).to_bytes());
        NoteSignature { name: name.to_owned(), key_id: note_key_id(name, NOTE_COSIGNATURE, &public_key), signature }
    }
}

/// The time of `note`'s valid cosignature by witness `name` with `key`.
pub fn verify_cosignature(note: &Note, name: &str, key: &[u8; 32]) -> Result<u64, CheckpointError> {
    let key_id = note_key_id(name, NOTE_COSIGNATURE, key);
    let found = note.signatures.iter().find(|s| s.name == name && s.key_id == key_id);
    let found = found.ok_or_else(|| CheckpointError::Untrusted { signed_by: signers(note) })?;
    let (time, signature) = found.signature.split_at_checked(8).ok_or(CheckpointError::BadSignature)?;
    let time = u64::from_be_bytes(time.try_into().expect("eight bytes"));
    let signature: [u8; 64] = signature.try_into().map_err(|_| CheckpointError::BadSignature)?;
    let verifier = VerifyingKey::from_bytes(key).map_err(|e| CheckpointError::Key(e.to_string()))?;
    let message = cosigned_message(time, &note.text);
    verifier
        .verify_strict(message.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| CheckpointError::BadSignature)?;
    Ok(time)
}

/// How many of `witnesses` (name, key) validly cosigned `note`: an
/// auditor who requires N witnesses accepts the checkpoint when this is
/// at least N.
pub fn cosigners(note: &Note, witnesses: &[(String, [u8; 32])]) -> usize {
    witnesses.iter().filter(|(name, key)| verify_cosignature(note, name, key).is_ok()).count()
}

fn signers(note: &Note) -> String {
    let names: Vec<String> = note.signatures.iter().map(|s| format!("{}+{}", s.name, hex(&s.key_id))).collect();
    names.join(", ")
}

/// What a verified C2SP checkpoint of a Muster ledger vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// The log: `muster/<prefix>`.
    pub origin: String,
    /// The chain head at the tree size (its seq is the size).
    pub head: Head,
    /// The Merkle root at that size.
    pub root: [u8; 32],
}

/// Checks a C2SP checkpoint signed by the `trusted` key under its own
/// origin, and reads the chain head from Muster's extension lines.
pub fn verify_tree_head(note: &Note, trusted: &[u8; 32]) -> Result<TreeHead, CheckpointError> {
    let head = read_tree_head(note)?;
    verify_note(note, &head.origin, trusted)?;
    Ok(head)
}

/// What a C2SP checkpoint of a Muster ledger says, its signature not
/// checked: for showing one, never for trusting it.
pub fn read_tree_head(note: &Note) -> Result<TreeHead, CheckpointError> {
    let text = CheckpointText::parse(&note.text).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    let missing = |line: &str| CheckpointError::Malformed(format!("no {line} line"));
    let hash = text.extension(note::CHAIN_HEAD_LINE).ok_or_else(|| missing(note::CHAIN_HEAD_LINE))?;
    let hash = unhex::<32>(hash).ok_or_else(|| missing(note::CHAIN_HEAD_LINE))?;
    let at = text.extension(note::RECORDED_AT_LINE).ok_or_else(|| missing(note::RECORDED_AT_LINE))?;
    let recorded_at_ms = at.parse().map_err(|_| missing(note::RECORDED_AT_LINE))?;
    Ok(TreeHead { origin: text.origin, head: Head { seq: text.size, hash, recorded_at_ms }, root: text.root })
}

/// Reads a note verifier key (`name+keyid+base64(0x01 ‖ key)`): its
/// name and Ed25519 public key, the key ID checked.
pub fn parse_note_vkey(vkey: &str) -> Result<(String, [u8; 32]), CheckpointError> {
    parse_vkey(vkey, NOTE_ED25519)
}

/// Reads a witness's verifier key (`name+keyid+base64(0x04 ‖ key)`, as
/// [`cosigner_vkey`] writes it): its name and Ed25519 public key.
pub fn parse_cosigner_vkey(vkey: &str) -> Result<(String, [u8; 32]), CheckpointError> {
    parse_vkey(vkey, NOTE_COSIGNATURE)
}

fn parse_vkey(vkey: &str, algorithm: u8) -> Result<(String, [u8; 32]), CheckpointError> {
    let bad = |why: &str| CheckpointError::Key(format!("a note verifier key {vkey:?}: {why}"));
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("not name+id+key"));
    };
    let key = note::unbase64(key).ok_or_else(|| bad("the key is not base64"))?;
    let (&[found], key) = key.split_at(1.min(key.len())) else { return Err(bad("no key")) };
    if found != algorithm {
        return Err(bad(match algorithm {
            NOTE_COSIGNATURE => "not a witness's key (Ed25519 cosignature, type 0x04)",
            _ => "not an Ed25519 key (type 0x01)",
        }));
    }
    let key: [u8; 32] = key.try_into().map_err(|_| bad("not 32 bytes"))?;
    if unhex::<4>(id) != Some(note_key_id(name, algorithm, &key)) {
        return Err(bad("its key ID is not its key's"));
    }
    Ok((name.to_owned(), key))
}

/// A checkpoint as written: the first format (JSON, the chain head
/// alone) or a C2SP signed note committing to the Merkle tree as well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedCheckpoint {
    /// `{"seq":…,"head_hash":…,…}` (`muster_proto::checkpoint`).
    Json(Checkpoint),
    /// A tlog checkpoint in a signed note (`muster_proto::note`).
    Note(Note),
}

/// What a verified checkpoint vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vouched {
    /// The chain head.
    pub head: Head,
    /// The log and the Merkle root at the head's size (none in the first
    /// format).
    pub tree: Option<(String, [u8; 32])>,
}

impl SignedCheckpoint {
    /// Reads either format: JSON begins with `{`, a note with its origin.
    pub fn parse(bytes: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        match bytes.first() {
            Some(b'{') => muster_proto::checkpoint::decode(bytes).map(SignedCheckpoint::Json),
            _ => Note::parse(bytes).map(SignedCheckpoint::Note).map_err(|e| e.to_string()),
        }
        .map_err(CheckpointError::Malformed)
    }

    /// The bytes as published.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            SignedCheckpoint::Json(c) => muster_proto::checkpoint::encode(c),
            SignedCheckpoint::Note(n) => n.encode().into_bytes(),
        }
    }

    /// What it says, its signature not checked: for showing one.
    pub fn said(&self) -> Result<Vouched, CheckpointError> {
        match self {
            SignedCheckpoint::Json(c) => {
                let hash = unhex::<32>(&c.head_hash)
                    .ok_or_else(|| CheckpointError::Malformed("head_hash is not hex of the right length".into()))?;
                Ok(Vouched { head: Head { seq: c.seq, hash, recorded_at_ms: c.recorded_at_ms }, tree: None })
            }
            SignedCheckpoint::Note(n) => {
                read_tree_head(n).map(|t| Vouched { head: t.head, tree: Some((t.origin, t.root)) })
            }
        }
    }

    /// Checks it against the `trusted` key.
    pub fn verify(&self, trusted: &[u8; 32]) -> Result<Vouched, CheckpointError> {
        match self {
            SignedCheckpoint::Json(c) => verify_checkpoint(c, trusted).map(|head| Vouched { head, tree: None }),
            SignedCheckpoint::Note(n) => {
                verify_tree_head(n, trusted).map(|t| Vouched { head: t.head, tree: Some((t.origin, t.root)) })
            }
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
