//! The ledger's disk and feed types: what one log entry holds, and the
//! receipt a publisher gets back.

use crate::wire::Envelope;
use serde::{Deserialize, Serialize};

/// What was submitted: a decoded event, or bytes that did not decode but
/// carried an id and source, kept verbatim so the rejection is evidence.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Submission {
    /// A decoded event.
    Event(Envelope),
    /// A payload that did not decode.
    Undecodable(Undecodable),
}

/// A payload that did not decode, with the key it claimed.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Undecodable {
    /// The event id read from it.
    pub id: String,
    /// The source read from it.
    pub source: String,
    /// How it claimed to be encoded.
    pub content_type: String,
    /// The bytes as received.
    pub payload: Vec<u8>,
}

impl Submission {
    /// The idempotency key: (source, id).
    pub fn key(&self) -> (&str, &str) {
        match self {
            Submission::Event(e) => (&e.source, &e.id),
            Submission::Undecodable(u) => (&u.source, &u.id),
        }
    }
}

/// An accepted event that the ledger names, e.g. as a conflict.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct EntryRef {
    /// Its ledger sequence.
    pub seq: u64,
    /// Its source.
    pub source: String,
    /// Its id.
    pub id: String,
}

/// The ledger's verdict on a submission.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Accepted; in force on the timeline.
    Accepted {
        /// For a retraction: the sequence of the event it retracted, so a
        /// replica can replay the feed without its own id index.
        retracts: Option<u64>,
    },
    /// Rejected; recorded with no effect.
    Rejected {
        /// The stable reason code.
        code: String,
        /// A sentence naming the ids and dates involved.
        message: String,
        /// Accepted events it conflicts with.
        conflicts_with: Vec<EntryRef>,
    },
}

/// One log entry, without its hash. Its canonical bytes
/// ([`crate::codec::encode_entry_body`]) are what the hash chain covers.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct EntryBody {
    /// Transaction time: 1, 2, 3, …
    pub seq: u64,
    /// Wall-clock commit time, milliseconds since the Unix epoch; never
    /// less than the previous entry's.
    pub recorded_at_ms: u64,
    /// What was submitted.
    pub submission: Submission,
    /// The verdict.
    pub outcome: Outcome,
}

/// An entry as stored: the body and its chain hash, SHA-256(the previous
/// entry's hash ‖ body bytes), all zero before seq 1. The previous hash is
/// not stored in the entry: it is the entry before's own `hash` (and a
/// block's header for its first entry, see [`crate::disk`]).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct StoredEntry {
    /// The entry.
    pub body: EntryBody,
    /// Its chain hash.
    pub hash: [u8; 32],
}

/// What a publisher gets for one submitted event.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Receipt {
    /// The event's source.
    pub source: String,
    /// The event's id.
    pub id: String,
    /// The entry's sequence (`None` when nothing could be recorded).
    pub seq: Option<u64>,
    /// True when this (source, id) was recorded before with the same
    /// content: the original outcome is returned and nothing new recorded.
    pub duplicate: bool,
    /// `accepted` or `rejected`.
    pub status: ReceiptStatus,
    /// The entry's chain hash, hex.
    pub hash: Option<String>,
    /// For a rejection: the reason code.
    pub code: Option<String>,
    /// For a rejection: the message.
    pub message: Option<String>,
    /// For a conflict: the accepted events it conflicts with.
    pub conflicts_with: Vec<EntryRef>,
}

/// Accepted or rejected.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ReceiptStatus {
    Accepted,
    Rejected,
}

/// A message the ledger could not tie to any event id: kept on the
/// dead-letter stream with the reason, never dropped silently.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct DeadLetter {
    /// The reason code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// The subject it arrived on.
    pub subject: String,
    /// Its sequence in the intake stream.
    pub intake_seq: Option<u64>,
    /// Its content type header, if any.
    pub content_type: Option<String>,
    /// Its size.
    pub payload_bytes: u64,
    /// Its first bytes, lossily as text, for a person to recognise it.
    pub payload_start: String,
}
