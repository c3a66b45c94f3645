//! C2SP signed notes (c2sp.org/signed-note) and the tlog checkpoint they
//! carry (c2sp.org/tlog-checkpoint): the text format only; keys and
//! signatures are checked in `muster_ledger::checkpoint`.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one or
//! more signature lines `— <key name> <base64(key ID ‖ signature)>`. What
//! is signed is the text, its final newline included. A checkpoint's text
//! is the log's origin, the tree size in decimal, the base64 Merkle root,
//! then extension lines; Muster's two say which chain head and recorded
//! time the tree size stands for:
//!
//! ```text
//! muster/hr.nanhu
//! 1777
//! XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=
//! muster-chain-head 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! muster-recorded-at-ms 1700000000003
//!
//! — muster/hr.nanhu YNtRn2gzE9LAJwGMgl/BVkntTh9PpiPy/kV5jU1IrHQ8tEC00JHqKCIoEpwgkM2AgFamiFXF1o00jTDXQucFLBEpCgc=
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The em dash and space a signature line begins with.
const SIGNATURE_START: &str = "\u{2014} ";
/// The most signature lines read from a note (the spec asks verifiers to
/// accept at least 16; a witness-cosigned checkpoint carries one per
/// witness). Rationale: bounds the work a hostile note can cause.
pub const NOTE_SIGNATURES_MAX: usize = 32;
/// Muster's extension line naming the chain head (64 hex digits).
pub const CHAIN_HEAD_LINE: &str = "muster-chain-head";
/// Muster's extension line naming the head's recorded time (ms).
pub const RECORDED_AT_LINE: &str = "muster-recorded-at-ms";

/// One signature line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NoteSignature {
    /// The key's name.
    pub name: String,
    /// The first four bytes of the key's hash (see the spec).
    pub key_id: [u8; 4],
    /// What follows the key ID: for Ed25519, the 64-byte signature; for a
    /// timestamped cosignature, the 8-byte time then the signature.
    pub signature: Vec<u8>,
}

/// A signed note.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Note {
    /// The signed text, final newline included.
    pub text: String,
    /// Its signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Why text is not a signed note or a checkpoint.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NoteError(pub String);

impl std::fmt::Display for NoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a signed note: {}", self.0)
    }
}

impl std::error::Error for NoteError {}

fn error(reason: impl Into<String>) -> NoteError {
    NoteError(reason.into())
}

/// Base64 (standard alphabet, padded), as notes write it.
pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// [`base64`] read back.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

impl Note {
    /// The note as it is written: text, a blank line, signature lines.
    pub fn encode(&self) -> String {
        let mut out = format!("{}\n", self.text);
        for s in &self.signatures {
            let mut payload = s.key_id.to_vec();
            payload.extend_from_slice(&s.signature);
            out.push_str(&format!("{SIGNATURE_START}{} {}\n", s.name, base64(&payload)));
        }
        out
    }

    /// Reads a note: the text up to the last blank line, then its
    /// signature lines (at most [`NOTE_SIGNATURES_MAX`]).
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > crate::limits::CHECKPOINT_BYTES_MAX {
            return Err(error(format!("{} bytes; the limit is {}", bytes.len(), crate::limits::CHECKPOINT_BYTES_MAX)));
        }
        let all = std::str::from_utf8(bytes).map_err(|_| error("not UTF-8"))?;
        if all.chars().any(|c| c.is_ascii_control() && c != '\n') {
            return Err(error("a control character other than a newline"));
        }
        let split = all.rfind("\n\n").ok_or_else(|| error("no blank line before the signatures"))?;
        let (text, signatures) = (&all[..split + 1], &all[split + 2..]);
        if !signatures.ends_with('\n') || signatures.len() == 1 {
            return Err(error("no signature lines, or the last does not end in a newline"));
        }
        let lines: Vec<&str> = signatures[..signatures.len() - 1].split('\n').collect();
        if lines.len() > NOTE_SIGNATURES_MAX {
            return Err(error(format!("{} signatures; at most {NOTE_SIGNATURES_MAX} are read", lines.len())));
        }
        let signatures = lines.into_iter().map(signature_line).collect::<Result<_, _>>()?;
        Ok(Note { text: text.to_owned(), signatures })
    }
}

fn signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let rest = line.strip_prefix(SIGNATURE_START).ok_or_else(|| error(format!("a signature line {line:?}")))?;
    let (name, payload) = rest.split_once(' ').ok_or_else(|| error(format!("a signature line {line:?}")))?;
    if name.is_empty() || name.contains('+') || payload.contains(' ') {
        return Err(error(format!("a signature line {line:?}")));
    }
    let payload = unbase64(payload).ok_or_else(|| error(format!("a signature that is not base64: {line:?}")))?;
    if payload.len() < 5 {
        return Err(error(format!("a signature too short: {line:?}")));
    }
    let key_id = payload[..4].try_into().expect("four bytes");
    Ok(NoteSignature { name: name.to_owned(), key_id, signature: payload[4..].to_vec() })
}

/// The text of a tlog checkpoint.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CheckpointText {
    /// The log's identity: for Muster, `muster/<organisation prefix>`.
    pub origin: String,
    /// The tree size (for Muster, the head's sequence).
    pub size: u64,
    /// The Merkle root at that size.
    pub root: [u8; 32],
    /// Extension lines, each non-empty.
    pub extensions: Vec<String>,
}

impl CheckpointText {
    /// The text, each line ending in a newline.
    pub fn encode(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, base64(&self.root));
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Reads a checkpoint's text.
    pub fn parse(text: &str) -> Result<CheckpointText, NoteError> {
        let body = text.strip_suffix('\n').ok_or_else(|| error("a checkpoint's text ends in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| error("no origin line"))?;
        let size = lines.next().ok_or_else(|| error("no tree size line"))?;
        let size_ok =
            !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) && (size == "0" || !size.starts_with('0'));
        let size = size.parse().ok().filter(|_| size_ok).ok_or_else(|| error(format!("a tree size {size:?}")))?;
        let root = lines.next().ok_or_else(|| error("no root hash line"))?;
        let root = unbase64(root)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| error(format!("a root hash {root:?}")))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(error("an empty extension line"));
        }
        Ok(CheckpointText { origin: origin.to_owned(), size, root, extensions })
    }

    /// The value of extension line `name` (`name value`), if there is one.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions.iter().find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
    }
}
