//! The ledger export: what an auditor takes away and checks offline.
//!
//! JSON Lines, UTF-8. The first line is the header
//! `{"format":"muster-ledger-export","version":1}`; every other line is one
//! stored entry — its body and its chain hash, the serde JSON of
//! [`StoredEntry`] as `golden/entry.json` shows it — in sequence order,
//! from entry 1. The chain hash covers the body's canonical bytes
//! ([`crate::codec::encode_entry_body`]), not the JSON, so a checker
//! decodes each line, re-encodes the body and recomputes the hash: a
//! changed byte anywhere in an entry's content, a missing, repeated or
//! reordered line is caught at its sequence.

use crate::entry::StoredEntry;
use serde::{Deserialize, Serialize};

/// The header's `format`.
pub const FORMAT: &str = "muster-ledger-export";
/// The header's `version`: bumped on any change to the lines' form.
pub const VERSION: u32 = 1;
/// Longest line a reader takes. Rationale: an entry is at most a 1 MiB
/// event plus its verdict; its JSON (every byte of a hash a number, every
/// non-ASCII character escaped at worst) stays well under 16 MiB.
pub const LINE_BYTES_MAX: usize = 16 * 1024 * 1024;

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

/// Checks a header line (without its newline).
pub fn check_header(line: &[u8]) -> Result<(), String> {
    let header: Header = serde_json::from_slice(line)
        .map_err(|e| format!("not a Muster ledger export (its first line is not the header: {e})"))?;
    if header.format != FORMAT {
        return Err(format!("not a Muster ledger export (format {:?})", crate::bounded(&header.format, 64)));
    }
    if header.version != VERSION {
        return Err(format!("export version {} is not {VERSION}, the one this build reads", header.version));
    }
    Ok(())
}

/// One entry's line, newline included.
pub fn entry_line(entry: &StoredEntry) -> Vec<u8> {
    let mut line = serde_json::to_vec(entry).expect("an entry serializes");
    line.push(b'\n');
    line
}

/// Reads one entry line (without its newline).
pub fn read_entry_line(line: &[u8]) -> Result<StoredEntry, String> {
    serde_json::from_slice(line).map_err(|e| format!("the line is not a ledger entry: {e}"))
}
