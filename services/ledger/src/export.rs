//! Writing a ledger export and checking one offline (`muster export`,
//! `muster verify --export`): the format is `muster_proto::export`'s.
//!
//! An export holds the chain, not the reasons to trust it: checked alone
//! it shows that every entry follows from the one before (a changed,
//! missing, repeated or reordered entry is named by its sequence), but not
//! that nothing was cut off the end or that the whole file was not
//! rewritten; that is what a checkpoint the ledger signed is for.

use crate::store::chain_hash;
use crate::{Head, Ledger, LedgerError, VerifyReport};
use muster_proto::{codec, export};
use std::io::{BufRead, Write};

/// Why an export could not be written or does not check.
#[derive(Debug)]
pub enum ExportError {
    /// Reading or writing the file failed.
    Io(std::io::Error),
    /// The ledger being exported failed (its own chain is broken on disk,
    /// or sled failed): the export stops there.
    Ledger(LedgerError),
    /// The file is not an export this build reads (its header).
    NotAnExport(String),
    /// The checkpoint it was checked against cannot be trusted.
    Checkpoint(crate::checkpoint::CheckpointError),
    /// The chain in the file is broken: `seq` is the first entry that does
    /// not follow from the ones before it.
    Broken {
        /// The first bad sequence.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Io(e) => write!(f, "export: {e}"),
            ExportError::Ledger(e) => write!(f, "export: {e}"),
            ExportError::NotAnExport(reason) => write!(f, "{reason}"),
            ExportError::Checkpoint(e) => write!(f, "{e}"),
            ExportError::Broken { seq, reason } => write!(f, "export chain broken at seq {seq}: {reason}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<std::io::Error> for ExportError {
    fn from(error: std::io::Error) -> ExportError {
        ExportError::Io(error)
    }
}

/// Writes every entry of `ledger`, each checked against the chain as it
/// is read, to `out`; returns what was written.
pub fn write_export(ledger: &Ledger, out: &mut impl Write) -> Result<VerifyReport, ExportError> {
    out.write_all(&export::header_line())?;
    let mut report = VerifyReport { entries: 0, head_hash: [0; 32] };
    for entry in ledger.entries() {
        let entry = entry.map_err(ExportError::Ledger)?;
        let line = export::entry_line(&entry);
        // Pair assertion, write side: what a checker will read back is
        // this very entry (`verify_export` repeats it on every line).
        assert_eq!(
            export::read_entry_line(&line[..line.len() - 1], export::VERSION).as_ref(),
            Ok(&entry),
            "export line of entry {} does not read back",
            entry.body.seq
        );
        out.write_all(&line)?;
        report = VerifyReport { entries: entry.body.seq, head_hash: entry.hash };
    }
    out.flush()?;
    Ok(report)
}

/// Checks an export without any ledger: the header, then each entry's
/// sequence, time and chain hash (recomputed over its body's canonical
/// bytes), stopping at the first that does not follow.
pub fn verify_export(input: &mut impl BufRead) -> Result<VerifyReport, ExportError> {
    verify_export_with(input, &mut |_| {})
}

/// [`verify_export`], telling `each` every entry's head as it is checked.
pub fn verify_export_with(input: &mut impl BufRead, each: &mut dyn FnMut(Head)) -> Result<VerifyReport, ExportError> {
    let mut line = Vec::new();
    if !read_line(input, &mut line)? {
        return Err(ExportError::NotAnExport("an empty file: not a Muster ledger export".into()));
    }
    // Older versions still verify, each line checked in its own form.
    let version = export::check_header(&line).map_err(ExportError::NotAnExport)?;
    let (mut seq, mut hash, mut recorded_at_ms) = (0u64, [0u8; 32], 0u64);
    let broken = |seq: u64, reason: String| ExportError::Broken { seq, reason };
    loop {
        let expected = seq + 1;
        match read_line(input, &mut line) {
            Ok(true) => {}
            Ok(false) => break,
            Err(ExportError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(broken(expected, e.to_string()));
            }
            Err(e) => return Err(e),
        }
        let entry = export::read_entry_line(&line, version).map_err(|reason| broken(expected, reason))?;
        let body = &entry.body;
        if body.seq != expected {
            let reason = if body.seq > expected {
                format!("entry {expected} is missing (the next line holds entry {})", body.seq)
            } else {
                format!("entry {} again or out of order where entry {expected} belongs", body.seq)
            };
            return Err(broken(expected, reason));
        }
        // Byte for byte as Muster writes it: a change that JSON would
        // forgive (a renamed key serde ignores, a number written another
        // way) is still a change to the evidence.
        if export::entry_line_of(&entry, version).strip_suffix(b"\n") != Some(&line[..]) {
            return Err(broken(expected, "the line is not as Muster wrote it (its bytes were changed)".into()));
        }
        if body.recorded_at_ms < recorded_at_ms {
            return Err(broken(expected, "recorded before the entry before it".into()));
        }
        let recomputed = chain_hash(&hash, &codec::encode_entry_body(body));
        if recomputed != entry.hash {
            return Err(broken(
                expected,
                "its hash does not match its content and the entry before it (changed content, or a changed entry before it)"
                    .into(),
            ));
        }
        (seq, hash, recorded_at_ms) = (expected, entry.hash, body.recorded_at_ms);
        each(Head { seq, hash, recorded_at_ms });
    }
    Ok(VerifyReport { entries: seq, head_hash: hash })
}

/// Checks one line of the current export version (without its newline)
/// on its own, as the entry after the one whose chain hash is
/// `prev_hash`: it is exactly as Muster writes it and its hash is
/// SHA-256(`prev_hash` ‖ its body's canonical bytes). For evidence packs,
/// which carry single entries with their predecessor's hash.
pub fn check_entry_line(line: &[u8], prev_hash: &[u8; 32]) -> Result<muster_proto::entry::StoredEntry, String> {
    let entry = export::read_entry_line(line, export::VERSION)?;
    if export::entry_line_of(&entry, export::VERSION).strip_suffix(b"\n") != Some(line) {
        return Err("the line is not as Muster wrote it (its bytes were changed)".into());
    }
    if chain_hash(prev_hash, &codec::encode_entry_body(&entry.body)) != entry.hash {
        return Err("its hash does not match its content and the hash of the entry before it".into());
    }
    Ok(entry)
}

/// Reads one line (without its newline) into `line`; false at the end.
/// A line over `export::LINE_BYTES_MAX` is `InvalidData`, read no further.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> Result<bool, ExportError> {
    line.clear();
    let limit = export::LINE_BYTES_MAX as u64 + 1;
    let read = std::io::Read::take(&mut *input, limit).read_until(b'\n', line)?;
    if read == 0 {
        return Ok(false);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() as u64 == limit {
        return Err(ExportError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a line over {} bytes", export::LINE_BYTES_MAX),
        )));
    }
    Ok(true)
}

/// Checks an export offline against a checkpoint signed by `trusted`: the
/// export's chain (as [`verify_export`]), that it reaches the
/// checkpoint's entry with exactly its hash and time, and (a C2SP
/// checkpoint) that the Merkle tree of its entries up to there has the
/// checkpoint's root.
pub fn verify_export_against(
    input: &mut impl BufRead,
    checkpoint: &crate::checkpoint::SignedCheckpoint,
    trusted: &[u8; 32],
) -> Result<VerifyReport, ExportError> {
    let vouched = checkpoint.verify(trusted).map_err(ExportError::Checkpoint)?;
    let mut tree = crate::merkle::Frontier::default();
    let mut seen = None;
    let report = verify_export_with(input, &mut |head: Head| {
        if head.seq <= vouched.head.seq {
            tree.push_with(crate::entry_leaf(&head.hash), |_, _| {});
        }
        if head.seq == vouched.head.seq {
            seen = Some((head, tree.root()));
        }
    })?;
    let broken = |seq, reason: &str| Err(ExportError::Broken { seq, reason: reason.to_owned() });
    match seen {
        None if vouched.head.seq == 0 => Ok(report),
        None => Err(ExportError::Broken {
            seq: report.entries + 1,
            reason: format!(
                "the export ends at entry {}, but the checkpoint vouches for {}: entries were cut off",
                report.entries, vouched.head.seq
            ),
        }),
        Some((head, _)) if head != vouched.head => {
            broken(vouched.head.seq, "entry differs from the one the checkpoint vouches for: the chain was rewritten")
        }
        Some((_, root)) if vouched.tree.as_ref().is_some_and(|(_, signed)| *signed != root) => {
            broken(vouched.head.seq, "the Merkle root of the entries differs from the one the checkpoint signs")
        }
        Some(_) => Ok(report),
    }
}
