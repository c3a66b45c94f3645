//! Making a pack from the answers behind it, and reading one back.

use crate::{files, FORMAT, VERSION};
use muster_proto::answers::{AuditOut, ProvenEntryOut, StateOut};
use muster_proto::hex::hex;
use muster_proto::limits::EVIDENCE_FILE_BYTES_MAX;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// `manifest.json`: what the pack is about and every other file's hash.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] of the writer.
    pub version: u32,
    /// The log the checkpoint names (`muster/<prefix>`).
    pub origin: String,
    /// The audit's question: its scope (none: the whole ledger) …
    pub scope: Option<String>,
    /// … first day …
    pub from: String,
    /// … and last day.
    pub to: String,
    /// The ledger state it was computed at: the checkpoint's.
    pub state: StateOut,
    /// The checkpoint's Merkle root, hex.
    pub root: String,
    /// Every other file, with its size and SHA-256.
    pub files: Vec<ManifestFile>,
}

/// One file of a pack.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Its name in the pack.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// A pack: its files by name, the manifest among them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pack {
    /// Every file, by name.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Why a pack could not be read.
#[derive(Debug)]
pub enum PackError {
    /// Reading it failed.
    Io(std::io::Error),
    /// It is neither a directory nor a zip this reads.
    NotAPack(String),
    /// One of its files is over `EVIDENCE_FILE_BYTES_MAX` unpacked.
    TooBig(String),
}

impl std::fmt::Display for PackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackError::Io(e) => write!(f, "reading the pack: {e}"),
            PackError::NotAPack(why) => write!(f, "not an evidence pack: {why}"),
            PackError::TooBig(name) => write!(f, "{name} is over {EVIDENCE_FILE_BYTES_MAX} bytes unpacked"),
        }
    }
}

impl std::error::Error for PackError {}

impl From<std::io::Error> for PackError {
    fn from(e: std::io::Error) -> PackError {
        PackError::Io(e)
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(Sha256::digest(bytes).as_slice())
}

/// Every entry `audit` cites (the events behind its moves), in order,
/// once each.
pub fn cited_seqs(audit: &AuditOut) -> Vec<u64> {
    let moves = audit.moved_down.iter().chain(&audit.moved_up);
    let mut seqs: Vec<u64> = moves.flat_map(|m| m.events.iter().map(|e| e.seq)).collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// The pack of `audit`, computed at `state` (a checkpoint's), with the
/// checkpoint `published` (its signed note, as published), the tree's
/// `origin` and `root`, and the proven `entries` it cites.
pub fn assemble(
    audit: &AuditOut,
    state: &StateOut,
    published: &str,
    (origin, root): (&str, &[u8; 32]),
    entries: &[ProvenEntryOut],
) -> Pack {
    let mut lines = Vec::new();
    for entry in entries {
        serde_json::to_writer(&mut lines, entry).expect("an entry serializes");
        lines.push(b'\n');
    }
    let mut audit_json = serde_json::to_vec_pretty(audit).expect("an audit serializes");
    audit_json.push(b'\n');
    let mut files = BTreeMap::from([
        (files::README.to_owned(), readme(audit, state, origin).into_bytes()),
        (files::CHECKPOINT.to_owned(), published.as_bytes().to_vec()),
        (files::AUDIT_JSON.to_owned(), audit_json),
        (files::AUDIT_CSV.to_owned(), muster_report::moves_csv(audit).into_bytes()),
        (files::AUDIT_HTML.to_owned(), muster_web::audit_document(audit, state).into_bytes()),
        (files::ENTRIES.to_owned(), lines),
    ]);
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: VERSION,
        origin: origin.to_owned(),
        scope: audit.scope.clone(),
        from: audit.from.clone(),
        to: audit.to.clone(),
        state: state.clone(),
        root: hex(root),
        files: files
            .iter()
            .map(|(name, bytes)| ManifestFile {
                name: name.clone(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect(),
    };
    let mut manifest_json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    manifest_json.push(b'\n');
    files.insert(files::MANIFEST.to_owned(), manifest_json);
    Pack { files }
}

fn readme(audit: &AuditOut, state: &StateOut, origin: &str) -> String {
    let scope = audit.scope.as_deref().unwrap_or("the whole ledger");
    format!(
        "Muster evidence pack\n\
         ====================\n\n\
         The front-line audit of {scope} from {from} to {to}, computed from the ledger\n\
         {origin} as it stood at entry {seq} (chain hash {hash}),\n\
         which checkpoint.txt signs.\n\n\
         audit.html     the report, for people (open it in a browser)\n\
         audit.csv      every move, one a row (opens in a spreadsheet)\n\
         audit.json     the audit as the ledger's query service answered it\n\
         checkpoint.txt the ledger's signed checkpoint (C2SP signed note)\n\
         entries.jsonl  every event the audit cites, as ledger entries, each with\n\
         \x20              its Merkle inclusion proof under the checkpoint\n\
         manifest.json  what the pack is about and every file's SHA-256\n\n\
         To check it, with the ledger's public key obtained from the organisation\n\
         itself (not from this pack):\n\n\
         \x20   muster verify --evidence THIS.zip --public-key HEX\n\n\
         It checks the checkpoint's signature, every entry and its proof, that every\n\
         cited event is in the ledger as cited and concerns the member it is cited for,\n\
         that the figures agree with the members and with each other, and that the CSV\n\
         and the report say what audit.json says; it names whatever fails.\n",
        from = audit.from,
        to = audit.to,
        seq = state.seq,
        hash = state.hash,
    )
}

impl Pack {
    /// The pack as a zip. The same pack is the same bytes: every file is
    /// dated 1980-01-01 (zip's first day), in name order, the manifest
    /// first.
    pub fn zip(&self) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        let rest = self.files.keys().map(String::as_str).filter(|name| *name != files::MANIFEST);
        for name in std::iter::once(files::MANIFEST).chain(rest) {
            let Some(bytes) = self.files.get(name) else { continue };
            writer.start_file(name, options).expect("writing to memory");
            writer.write_all(bytes).expect("writing to memory");
        }
        writer.finish().expect("writing to memory").into_inner()
    }
}

/// Reads the pack at `path`: a zip, or the directory it was unpacked to.
/// Only the files a pack holds are read (a missing one is left out, for
/// [`crate::verify`] to name); each at most `EVIDENCE_FILE_BYTES_MAX`.
pub fn read_pack(path: &Path) -> Result<Pack, PackError> {
    let mut files = BTreeMap::new();
    if path.is_dir() {
        for name in files::ALL {
            match std::fs::File::open(path.join(name)) {
                Ok(file) => {
                    files.insert(name.to_owned(), read_limited(file, name)?);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(Pack { files });
    }
    let file = std::fs::File::open(path)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| PackError::NotAPack(format!("not a zip ({e})")))?;
    for name in files::ALL {
        match archive.by_name(name) {
            Ok(entry) => {
                files.insert(name.to_owned(), read_limited(entry, name)?);
            }
            Err(zip::result::ZipError::FileNotFound) => {}
            Err(e) => return Err(PackError::NotAPack(format!("{name}: {e}"))),
        }
    }
    Ok(Pack { files })
}

fn read_limited(reader: impl Read, name: &str) -> Result<Vec<u8>, PackError> {
    let mut bytes = Vec::new();
    reader.take(EVIDENCE_FILE_BYTES_MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > EVIDENCE_FILE_BYTES_MAX {
        return Err(PackError::TooBig(name.to_owned()));
    }
    Ok(bytes)
}
