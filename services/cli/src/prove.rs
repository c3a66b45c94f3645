//! `prove`: the ledger's Merkle proofs, asked of the backend (a local
//! ledger or the query service) and verified here, against the roots of
//! checkpoints the auditor holds, with the RFC 9162 algorithms alone.

use crate::args::Witnessed;
use crate::backend::Backend;
use crate::output::{self, Format, Table};
use anyhow::{bail, Context, Result};
use muster_bus::service::Exit;
use muster_ledger::checkpoint::{public_key, SignedCheckpoint};
use muster_ledger::merkle::{self, Hash};
use muster_proto::answers::{ConsistencyProofOut, InclusionProofOut};
use muster_proto::hex::unhex;
use muster_proto::requests::{ConsistencyProofRequest, InclusionProofRequest};
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

pub(crate) fn prove(
    backend: &Backend,
    asked: Prove<'_>,
    key: Option<&str>,
    witnessed: &Witnessed,
    format: Format,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let key = key.map(public_key).transpose()?;
    if !witnessed.witnesses.is_empty() && matches!(asked, Prove::Inclusion { checkpoint: None, .. }) {
        return Err(crate::usage("--witness checks the cosignatures of a --checkpoint: give one"));
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
