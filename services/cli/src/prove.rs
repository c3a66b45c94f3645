//! `prove`: the ledger's Merkle proofs, asked of the backend (a local
//! ledger or the query service) and verified here, against the roots of
//! checkpoints the auditor holds, with the RFC 9162 algorithms alone.

use crate::args::Witnessed;
use crate::backend::Backend;
use crate::output::{self, Format, Table};
use anyhow::{bail, Context, Result};
use muster_bus::service::{Exit, Failure};
use muster_ledger::checkpoint::{public_key, SignedCheckpoint};
use muster_ledger::merkle::{self, Hash};
use muster_proto::answers::{ConsistencyProofOut, EvidenceEntriesOut, InclusionProofOut};
use muster_proto::hex::unhex;
use muster_proto::requests::{ConsistencyProofRequest, EvidenceEntriesRequest, InclusionProofRequest};
use muster_query::answer::QueryEndpoint;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// What `prove` was asked.
pub(crate) enum Prove<'a> {
    /// An entry (by event or seq) in a checkpoint's tree, or the head's.
    Inclusion { entry: InclusionProofRequest, checkpoint: Option<&'a Path> },
    /// One checkpoint's tree a prefix of another's.
    Consistency { from: &'a Path, to: &'a Path },
}

/// A checkpoint file, verified under `key` (and cosigned by the
/// witnesses required): its size and signed root.
fn signed_tree(path: &Path, key: &[u8; 32], witnessed: &Witnessed) -> Result<(u64, Hash)> {
    let bytes = muster_bus::service::read_input(path)?;
    crate::witness::require(&bytes, witnessed).with_context(|| format!("checking {}", path.display()))?;
    let checkpoint = SignedCheckpoint::parse(&bytes).with_context(|| format!("reading {}", path.display()))?;
    let vouched = checkpoint.verify(key).with_context(|| format!("checking {}", path.display()))?;
    match vouched.tree {
        Some((_, root)) => Ok((vouched.head.seq, root)),
        None => bail!("{} is a checkpoint of the first format (JSON): it signs no Merkle root", path.display()),
    }
}

fn hash(text: &str) -> Result<Hash> {
    unhex(text).with_context(|| format!("{text:?} is not a hash"))
}

fn hashes(texts: &[String]) -> Result<Vec<Hash>> {
    texts.iter().map(|t| hash(t)).collect()
}

/// What `prove` checks the proof against, and where it writes it.
pub(crate) struct Checked<'a> {
    /// The ledger's public key (hex).
    pub(crate) key: Option<&'a str>,
    /// The witnesses whose cosignatures the checkpoints need.
    pub(crate) witnessed: &'a Witnessed,
    /// The proof file to write (`--out`).
    pub(crate) file: Option<&'a Path>,
}

pub(crate) fn prove(
    backend: &Backend,
    asked: Prove<'_>,
    checked: Checked<'_>,
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let Checked { key, witnessed, file } = checked;
    let key = key.map(public_key).transpose()?;
    let unsigned = matches!(asked, Prove::Inclusion { checkpoint: None, .. });
    if unsigned && (!witnessed.witnesses.is_empty() || file.is_some()) {
        return Err(crate::usage("--witness and --out need the --checkpoint the proof leads to: give one"));
    }
    match asked {
        Prove::Inclusion { mut entry, checkpoint } => {
            let signed = match (checkpoint, &key) {
                (Some(path), Some(key)) => Some(signed_tree(path, key, witnessed)?),
                _ => None,
            };
            entry.tree_size = signed.map(|(size, _)| size);
            let proof: InclusionProofOut = backend.ask(QueryEndpoint::InclusionProof, &entry)?;
            let root = match signed {
                Some((_, root)) => root,
                None => hash(&proof.root)?,
            };
            let leaf = muster_ledger::entry_leaf(&hash(&proof.entry_hash)?);
            let verified =
                merkle::verify_inclusion(proof.seq - 1, proof.tree_size, &leaf, &hashes(&proof.hashes)?, &root);
            let what = match signed {
                Some(_) => "the root the checkpoint signs",
                None => "the root the ledger answered (no checkpoint given: unsigned)",
            };
            let mut pairs = vec![
                ("seq", proof.seq.to_string()),
                ("event", format!("{} {}", proof.source, proof.id)),
                ("entry_hash", proof.entry_hash.clone()),
                ("tree_size", proof.tree_size.to_string()),
                ("root", muster_ledger::hex(&root)),
                ("hashes", proof.hashes.len().to_string()),
            ];
            pairs.push(("verified", verdict(verified, what)));
            if let (Some(path), Ok(())) = (file, &verified) {
                let request = EvidenceEntriesRequest { seqs: vec![proof.seq], tree_size: proof.tree_size };
                let entry: EvidenceEntriesOut = backend.ask(QueryEndpoint::EvidenceEntries, &request)?;
                write_proof(path, &entry)?;
                pairs.push(("written", path.display().to_string()));
            }
            output::one(out, format, &proof, Table::kv(&pairs))?;
            Ok(exit(verified))
        }
        Prove::Consistency { from, to } => {
            let key = key.context("--from and --to need --public-key")?;
            let (old, new) = (signed_tree(from, &key, witnessed)?, signed_tree(to, &key, witnessed)?);
            let request = ConsistencyProofRequest { from_size: old.0, to_size: Some(new.0) };
            let proof: ConsistencyProofOut = backend.ask(QueryEndpoint::ConsistencyProof, &request)?;
            let verified = merkle::verify_consistency(old.0, new.0, &old.1, &new.1, &hashes(&proof.hashes)?);
            let pairs = [
                ("from_size", old.0.to_string()),
                ("from_root", muster_ledger::hex(&old.1)),
                ("to_size", new.0.to_string()),
                ("to_root", muster_ledger::hex(&new.1)),
                ("hashes", proof.hashes.len().to_string()),
                ("verified", verdict(verified, "both checkpoints' signed roots: one history, extended")),
            ];
            if let (Some(path), Ok(())) = (file, &verified) {
                write_proof(path, &proof)?;
            }
            output::one(out, format, &proof, Table::kv(&pairs))?;
            Ok(exit(verified))
        }
    }
}

fn verdict(verified: Result<(), merkle::ProofError>, what: &str) -> String {
    match verified {
        Ok(()) => format!("yes, against {what}"),
        Err(e) => format!("NO ({e:?}), against {what}"),
    }
}

fn exit(verified: Result<(), merkle::ProofError>) -> ExitCode {
    match verified {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => Exit::ChainBroken.into(),
    }
}

/// A proof file, as `verify --proof-file` reads it back.
fn write_proof(path: &Path, proof: &impl serde::Serialize) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(proof)?;
    bytes.push(b'\n');
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The checkpoints a proof file is checked against (`verify --proof-file`).
pub(crate) struct Signed<'a> {
    /// The checkpoint the proof leads to …
    pub(crate) to: &'a Path,
    /// … and, for a consistency proof, the older one.
    pub(crate) from: Option<&'a Path>,
    /// The ledger's public key (hex).
    pub(crate) key: &'a str,
    /// The witnesses whose cosignatures they need.
    pub(crate) witnessed: &'a Witnessed,
}

/// `verify --proof-file FILE`: offline, with the checkpoints and the key alone.
/// An entry's proof shows the entry (its content hashed onto the hash
/// before it) is entry `seq` of the signed tree; a consistency proof that
/// the older signed tree is a prefix of the newer. Failing is exit 8.
pub(crate) fn verify_file(file: &Path, signed: Signed<'_>, format: Format, out: &mut impl Write) -> Result<ExitCode> {
    let key = public_key(signed.key)?;
    let bytes = muster_bus::service::read_input(file)?;
    let bad = |why: String| Failure::new(Exit::BadInput, format!("{}: {why}", file.display()));
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    let (size, root) = signed_tree(signed.to, &key, signed.witnessed)?;
    if value.get("entries").is_some() {
        let proof: EvidenceEntriesOut = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        return verify_entries(&proof, (size, root), format, out);
    }
    let proof: ConsistencyProofOut = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    let from = signed
        .from
        .ok_or_else(|| crate::usage("a consistency proof is checked from the older checkpoint: give --from"))?;
    let old = signed_tree(from, &key, signed.witnessed)?;
    if (proof.from_size, proof.to_size) != (old.0, size) {
        let sizes = format!("{} → {}", proof.from_size, proof.to_size);
        let why = format!("{}: a proof of sizes {sizes}, the checkpoints' are {} → {size}", file.display(), old.0);
        return Err(Failure::new(Exit::ChainBroken, why).into());
    }
    let verified = merkle::verify_consistency(old.0, size, &old.1, &root, &hashes(&proof.hashes)?);
    let pairs = [
        ("from_size", old.0.to_string()),
        ("to_size", size.to_string()),
        ("hashes", proof.hashes.len().to_string()),
        ("verified", verdict(verified, "both checkpoints' signed roots: one history, extended")),
    ];
    output::one(out, format, &proof, Table::kv(&pairs))?;
    Ok(exit(verified))
}

/// Each entry of an entry proof file, proven in the signed tree.
fn verify_entries(
    proof: &EvidenceEntriesOut,
    (size, root): (u64, Hash),
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let mut rows = Vec::new();
    let mut failed = None;
    for entry in &proof.entries {
        match muster_evidence::prove_entry(entry, size, &root) {
            Ok(stored) => {
                let (source, id) = stored.body.submission.key();
                rows.push(("seq", entry.seq.to_string()));
                rows.push(("event", format!("{source} {id}")));
                rows.push(("entry_hash", muster_ledger::hex(&stored.hash)));
            }
            Err((code, why)) => {
                failed = Some(format!("entry {}: {} ({why})", entry.seq, code.as_str()));
            }
        }
    }
    if proof.entries.is_empty() {
        failed = Some("the file proves no entry".into());
    }
    if proof.tree_size != size {
        failed = Some(format!("the proof is in the tree of {} entries; the checkpoint signs {size}", proof.tree_size));
    }
    rows.push(("tree_size", size.to_string()));
    rows.push((
        "verified",
        failed.clone().map_or("yes, against the root the checkpoint signs".into(), |why| format!("NO: {why}")),
    ));
    output::one(out, format, proof, Table::kv(&rows))?;
    Ok(if failed.is_some() { Exit::ChainBroken.into() } else { ExitCode::SUCCESS })
}
