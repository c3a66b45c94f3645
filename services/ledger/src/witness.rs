//! A witness's judgement of one log's checkpoints (c2sp.org/tlog-witness,
//! its rules without its HTTP): it accepts a checkpoint only when it is
//! signed by the log's key under the log's origin and proven, by a
//! consistency proof, to extend the last one it accepted; then it cosigns
//! it with its own key (c2sp.org/tlog-cosignature). Two signed checkpoints
//! that cannot be shown to be one history are a fork: the witness's alarm.
//!
//! Pure: no clock, no I/O. The caller fetches checkpoints and proofs
//! (`muster witness` asks the query service; nothing it is told needs to
//! be trusted, since every proof is checked against signed roots) and keeps
//! the last accepted one.

use crate::checkpoint::{verify_cosignature, verify_tree_head, CheckpointError, Signer};
use crate::merkle::{self, Hash};
use muster_proto::note::Note;

/// The last checkpoint a witness accepted (and cosigned) of its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The tree's size …
    pub size: u64,
    /// … and root.
    pub root: Hash,
    /// The note, with the log's signature and the witness's cosignature.
    pub note: Note,
}

/// What the witness makes of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judged {
    /// Larger than the last accepted and proven to extend it (or the first
    /// the witness sees): cosigned, to be remembered, then published.
    Cosigned(Accepted),
    /// No larger than the last accepted and proven to be a prefix of it
    /// (or the same): nothing to do.
    Seen,
    /// To be judged, it needs the consistency proof from `from` to `to`.
    NeedsProof {
        /// The smaller tree size.
        from: u64,
        /// The larger.
        to: u64,
    },
    /// Not the log's checkpoint: malformed, another origin, not signed by
    /// its key. Not evidence of anything about the log.
    Refused(String),
    /// The log's own signed checkpoints, not one history.
    Fork(String),
}

/// A witness of one log.
pub struct Witness {
    name: String,
    signer: Signer,
    origin: String,
    log_key: [u8; 32],
}

impl Witness {
    /// The witness `name` signing with `signer`, of the log `origin`
    /// (`muster/<prefix>`) whose checkpoints `log_key` signs.
    pub fn new(name: &str, signer: Signer, origin: &str, log_key: [u8; 32]) -> Witness {
        Witness { name: name.to_owned(), signer, origin: origin.to_owned(), log_key }
    }

    /// Its name (the key name of its cosignatures).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The log it witnesses.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Its verifier key (`name+keyid+base64(0x04 ‖ key)`), for auditors
    /// who require its cosignature.
    pub fn vkey(&self) -> String {
        let key = crate::checkpoint::public_key(&self.signer.public_key()).expect("a signer's own key");
        crate::checkpoint::cosigner_vkey(&self.name, &key)
    }

    /// The size and root `note` signs, if it is the log's checkpoint.
    fn signed(&self, note: &Note) -> Result<(u64, Hash), String> {
        let head = verify_tree_head(note, &self.log_key).map_err(|e| e.to_string())?;
        if head.origin != self.origin {
            return Err(format!("a checkpoint of {:?}, not of {:?}", head.origin, self.origin));
        }
        if head.head.seq == 0 && head.root != merkle::empty_root() {
            return Err("a checkpoint of the empty tree with another root than the empty tree's".into());
        }
        Ok((head.head.seq, head.root))
    }

    /// A state read back: the log's checkpoint, cosigned by this witness.
    pub fn resume(&self, note: Note) -> Result<Accepted, String> {
        let (size, root) = self.signed(&note)?;
        let key = crate::checkpoint::public_key(&self.signer.public_key()).expect("a signer's own key");
        verify_cosignature(&note, &self.name, &key)
            .map_err(|e: CheckpointError| format!("not cosigned by this witness's key: {e}"))?;
        Ok(Accepted { size, root, note })
    }

    /// Judges `incoming` against `last`, with `proof` when a
    /// [`Judged::NeedsProof`] asked for one; cosigns at `time` (Unix
    /// seconds).
    pub fn judge(&self, last: Option<&Accepted>, incoming: &Note, proof: Option<&[Hash]>, time: u64) -> Judged {
        let (size, root) = match self.signed(incoming) {
            Ok(signed) => signed,
            Err(reason) => return Judged::Refused(reason),
        };
        // Nothing accepted yet, or only the empty tree (a prefix of every
        // tree, with no proof to give: c2sp.org/tlog-witness's old size 0).
        let Some(last) = last.filter(|last| last.size > 0) else {
            return Judged::Cosigned(self.cosigned(incoming, size, root, time));
        };
        if size == 0 {
            // The empty tree is a prefix of every tree (and has no proof).
            return Judged::Seen;
        }
        let (from, to) = (size.min(last.size), size.max(last.size));
        if from == to {
            return match root == last.root {
                true => Judged::Seen,
                false => Judged::Fork(format!("two checkpoints of size {size} with different roots")),
            };
        }
        let Some(proof) = proof else { return Judged::NeedsProof { from, to } };
        let (old, new) = if size > last.size { (&last.root, &root) } else { (&root, &last.root) };
        match merkle::verify_consistency(from, to, old, new, proof) {
            Ok(()) if size > last.size => Judged::Cosigned(self.cosigned(incoming, size, root, time)),
            Ok(()) => Judged::Seen,
            Err(e) => Judged::Fork(format!(
                "the tree of {from} entries is not shown to be a prefix of the tree of {to} entries ({e})"
            )),
        }
    }

    fn cosigned(&self, incoming: &Note, size: u64, root: Hash, time: u64) -> Accepted {
        let mut note = incoming.clone();
        note.signatures.retain(|s| s.name != self.name);
        note.signatures.push(self.signer.cosign(&self.name, &note.text, time));
        Accepted { size, root, note }
    }
}
