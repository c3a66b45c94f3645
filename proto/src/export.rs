//! The ledger export: what an auditor takes away and checks offline.
//!
//! JSON Lines, UTF-8. The first line is the header
//! `{"format":"muster-ledger-export","version":2}`; every other line is one
//! stored entry, in sequence order from entry 1, in the same conventions as
//! every other JSON Muster writes (snake_case, hashes and bytes in hex):
//!
//! ```text
//! {"seq":41,"recorded_at_ms":1436947200123,
//!  "submission":{"kind":"event","event":{…the CloudEvent, as Muster encodes it…}},
//!  "outcome":{"status":"accepted","retracts":null},"hash":"…64 hex digits…"}
//! ```
//!
//! `submission.kind` is `event` (the event as structured-mode CloudEvents
//! JSON), `event_bincode` (`bincode_hex`: the rare event JSON cannot carry
//! exactly, e.g. one that arrived as bincode and is larger as JSON than the
//! payload limit) or `undecodable` (`source`, `id`, `content_type`,
//! `payload_hex`: the bytes as received). `outcome.status` is `accepted`
//! (`retracts`) or `rejected` (`code`, `message`, `conflicts_with`).
//!
//! The chain hash covers the body's canonical bytes
//! ([`crate::codec::encode_entry_body`]), not the JSON, so a checker
//! decodes each line, re-encodes the body and recomputes the hash: a
//! changed byte anywhere in an entry's content, a missing, repeated or
//! reordered line is caught at its sequence. Version 1 (the serde form of
//! [`StoredEntry`]: Rust variant names, hashes as arrays of numbers) is
//! still read, so exports made before still verify.

use crate::entry::{EntryBody, EntryRef, Outcome, StoredEntry, Submission, Undecodable};
use crate::hex::{hex, unhex, unhex_vec};
use crate::{cloudevents, codec};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The header's `format`.
pub const FORMAT: &str = "muster-ledger-export";
/// The header's `version` this build writes: bumped on any change to the
/// lines' form.
pub const VERSION: u32 = 2;
/// Every version this build reads.
pub const VERSIONS_READ: [u32; 2] = [1, 2];
pub use crate::limits::EXPORT_LINE_BYTES_MAX as LINE_BYTES_MAX;

/// The first line of an export.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] of the writer.
    pub version: u32,
}

/// The header line, newline included.
pub fn header_line() -> Vec<u8> {
    let mut line =
        serde_json::to_vec(&Header { format: FORMAT.to_owned(), version: VERSION }).expect("a header serializes");
    line.push(b'\n');
    line
}

/// Checks a header line (without its newline); its version.
pub fn check_header(line: &[u8]) -> Result<u32, String> {
    let header: Header = serde_json::from_slice(line)
        .map_err(|e| format!("not a Muster ledger export (its first line is not the header: {e})"))?;
    if header.format != FORMAT {
        return Err(format!("not a Muster ledger export (format {:?})", crate::bounded(&header.format, 64)));
    }
    if !VERSIONS_READ.contains(&header.version) {
        return Err(format!(
            "export version {} is none of {VERSIONS_READ:?}, the ones this build reads",
            header.version
        ));
    }
    Ok(header.version)
}

/// One entry's line in the current version, newline included.
pub fn entry_line(entry: &StoredEntry) -> Vec<u8> {
    entry_line_of(entry, VERSION)
}

/// One entry's line as `version` writes it, newline included.
pub fn entry_line_of(entry: &StoredEntry, version: u32) -> Vec<u8> {
    let mut line = match version {
        1 => serde_json::to_vec(entry).expect("an entry serializes"),
        _ => serde_json::to_vec(&Line::<Box<RawValue>>::of(entry)).expect("an export line serializes"),
    };
    line.push(b'\n');
    line
}

/// Reads one entry line (without its newline) of `version`.
pub fn read_entry_line(line: &[u8], version: u32) -> Result<StoredEntry, String> {
    let not_an_entry = |e: String| format!("the line is not a ledger entry: {e}");
    match version {
        1 => serde_json::from_slice(line).map_err(|e| not_an_entry(e.to_string())),
        _ => serde_json::from_slice::<Line<serde_json::Value>>(line)
            .map_err(|e| not_an_entry(e.to_string()))?
            .entry()
            .map_err(not_an_entry),
    }
}

/// An entry as a version 2 line; `E` is the event's JSON: written raw, in
/// the order Muster encodes it (a reader sees a CloudEvent as sent), read
/// as a value (serde cannot read a raw value inside a tagged enum).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<E> {
    seq: u64,
    recorded_at_ms: u64,
    submission: LineSubmission<E>,
    outcome: LineOutcome,
    hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum LineSubmission<E> {
    Event { event: E },
    EventBincode { bincode_hex: String },
    Undecodable { source: String, id: String, content_type: String, payload_hex: String },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
enum LineOutcome {
    Accepted { retracts: Option<u64> },
    Rejected { code: String, message: String, conflicts_with: Vec<EntryRef> },
}

impl Line<Box<RawValue>> {
    fn of(entry: &StoredEntry) -> Line<Box<RawValue>> {
        let body = &entry.body;
        Line {
            seq: body.seq,
            recorded_at_ms: body.recorded_at_ms,
            submission: LineSubmission::of(&body.submission),
            outcome: match body.outcome.clone() {
                Outcome::Accepted { retracts } => LineOutcome::Accepted { retracts },
                Outcome::Rejected { code, message, conflicts_with } => {
                    LineOutcome::Rejected { code, message, conflicts_with }
                }
            },
            hash: hex(&entry.hash),
        }
    }
}

impl Line<serde_json::Value> {
    fn entry(self) -> Result<StoredEntry, String> {
        let outcome = match self.outcome {
            LineOutcome::Accepted { retracts } => Outcome::Accepted { retracts },
            LineOutcome::Rejected { code, message, conflicts_with } => {
                Outcome::Rejected { code, message, conflicts_with }
            }
        };
        let hash = unhex::<32>(&self.hash).ok_or("its hash is not 64 hex digits")?;
        let submission = self.submission.submission()?;
        Ok(StoredEntry {
            body: EntryBody { seq: self.seq, recorded_at_ms: self.recorded_at_ms, submission, outcome },
            hash,
        })
    }
}

impl LineSubmission<Box<RawValue>> {
    /// The event as CloudEvents JSON where that carries it exactly (always,
    /// for what arrived as JSON), else its bincode.
    fn of(submission: &Submission) -> LineSubmission<Box<RawValue>> {
        match submission {
            Submission::Event(envelope) => {
                let json = cloudevents::encode_json(envelope);
                match cloudevents::decode_json(&json) {
                    Ok(decoded) if decoded == *envelope => {
                        let json = String::from_utf8(json).expect("JSON is UTF-8");
                        LineSubmission::Event { event: RawValue::from_string(json).expect("Muster's own JSON") }
                    }
                    _ => LineSubmission::EventBincode { bincode_hex: hex(&codec::encode_envelope(envelope)) },
                }
            }
            Submission::Undecodable(u) => LineSubmission::Undecodable {
                source: u.source.clone(),
                id: u.id.clone(),
                content_type: u.content_type.clone(),
                payload_hex: hex(&u.payload),
            },
        }
    }
}

impl LineSubmission<serde_json::Value> {
    fn submission(self) -> Result<Submission, String> {
        match self {
            LineSubmission::Event { event } => {
                let json = serde_json::to_vec(&event).expect("a JSON value serializes");
                let envelope = cloudevents::decode_json(&json).map_err(|e| format!("its event: {}", e.message))?;
                Ok(Submission::Event(envelope))
            }
            LineSubmission::EventBincode { bincode_hex } => {
                let bytes = unhex_vec(&bincode_hex).ok_or("its bincode_hex is not hex")?;
                let envelope = codec::decode_envelope(&bytes).map_err(|e| format!("its event: {}", e.message))?;
                Ok(Submission::Event(envelope))
            }
            LineSubmission::Undecodable { source, id, content_type, payload_hex } => {
                let payload = unhex_vec(&payload_hex).ok_or("its payload_hex is not hex")?;
                Ok(Submission::Undecodable(Undecodable { id, source, content_type, payload }))
            }
        }
    }
}
