//! Gathering an evidence pack (`muster_evidence`) from the query API: the
//! audit at a signed checkpoint's size, and every entry it cites with its
//! inclusion proof under that checkpoint. Asked through `ask`, so the CLI
//! (local ledger or the query service over NATS) and the HTTP download
//! gather it the same way, from the same answers.

use crate::answer::QueryEndpoint;
use crate::validate::{internal, QueryError, QueryErrorCode};
use muster_evidence::{assemble, cited_seqs, Pack};
use muster_ledger::checkpoint::SignedCheckpoint;
use muster_ledger::hex;
use muster_proto::answers::CHECKPOINT_FORMAT_NOTE;
use muster_proto::answers::{AuditOut, CheckpointOut, EvidenceEntriesOut, ProvenEntryOut, StateOut};
use muster_proto::limits::{EVIDENCE_ENTRIES_PER_REQUEST_MAX, EVIDENCE_EVENTS_MAX};
use muster_proto::requests::{AuditRequest, EvidenceEntriesRequest, StateRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Asks one endpoint with a JSON body; its JSON answer.
pub type Ask<'a> = dyn FnMut(QueryEndpoint, Vec<u8>) -> Result<Vec<u8>, QueryError> + 'a;

fn bad(message: String) -> QueryError {
    QueryError::new(QueryErrorCode::BadRequest, message)
}

fn typed<A: DeserializeOwned>(
    ask: &mut Ask,
    endpoint: QueryEndpoint,
    request: &impl Serialize,
) -> Result<A, QueryError> {
    let answer = ask(endpoint, serde_json::to_vec(request).map_err(internal)?)?;
    serde_json::from_slice(&answer).map_err(|e| internal(format!("reading the {endpoint} answer: {e}")))
}

/// The checkpoint a pack is made under when none is named: the newest
/// C2SP checkpoint of `listed` (newest first, as `checkpoints` answers)
/// whose entry the answering replica has applied, with the same hash.
pub fn newest_applied(listed: Vec<CheckpointOut>) -> Option<CheckpointOut> {
    listed.into_iter().find(|c| c.format == CHECKPOINT_FORMAT_NOTE && c.matches_replica == Some(true))
}

/// The pack of the audit `request` asks, computed at the size of the
/// checkpoint `published` (a C2SP signed note as the ledger published
/// it). The audit's `known_at` is the checkpoint's: one given is refused.
/// A ledger whose entry at that size is not the checkpoint's is refused
/// (`internal`, naming both): it is not the ledger the checkpoint signs.
pub fn gather(ask: &mut Ask, mut request: AuditRequest, published: &str) -> Result<Pack, QueryError> {
    if request.known_at_seq.is_some() || request.known_at_time.is_some() {
        return Err(bad("an evidence pack is computed at its checkpoint's size: leave known_at out".into()));
    }
    let said = SignedCheckpoint::parse(published.as_bytes())
        .and_then(|c| c.said())
        .map_err(|e| bad(format!("the checkpoint: {e}")))?;
    let (Some((origin, root)), head) = (said.tree, said.head) else {
        return Err(bad("the checkpoint is of the first format (JSON): it signs no Merkle root".into()));
    };
    request.known_at_seq = Some(head.seq);
    let audit: AuditOut = typed(ask, QueryEndpoint::Audit, &request)?;
    let state: StateOut =
        typed(ask, QueryEndpoint::State, &StateRequest { known_at_seq: Some(head.seq), known_at_time: None })?;
    if state.hash != hex(&head.hash) {
        return Err(internal(format!(
            "this ledger's entry {} has hash {}, the checkpoint's {}: not the ledger it signs",
            head.seq,
            state.hash,
            hex(&head.hash)
        )));
    }
    let seqs = cited_seqs(&audit);
    if seqs.len() > EVIDENCE_EVENTS_MAX {
        return Err(bad(format!(
            "the audit cites {} events; a pack holds at most {EVIDENCE_EVENTS_MAX}: ask for a smaller scope or fewer days",
            seqs.len()
        )));
    }
    let entries = proven_entries(ask, &seqs, head.seq, &hex(&root))?;
    Ok(assemble(&audit, &state, published, (&origin, &root), &entries))
}

/// `seqs`, each proven in the tree of `size`, whose root must be `root`.
fn proven_entries(ask: &mut Ask, seqs: &[u64], size: u64, root: &str) -> Result<Vec<ProvenEntryOut>, QueryError> {
    let mut entries = Vec::with_capacity(seqs.len());
    while entries.len() < seqs.len() {
        let wanted = &seqs[entries.len()..];
        let asked = &wanted[..wanted.len().min(EVIDENCE_ENTRIES_PER_REQUEST_MAX)];
        let request = EvidenceEntriesRequest { seqs: asked.to_vec(), tree_size: size };
        let answer: EvidenceEntriesOut = typed(ask, QueryEndpoint::EvidenceEntries, &request)?;
        if answer.root != root {
            return Err(internal(format!(
                "the tree of {size} entries has root {}, the checkpoint's {root}",
                answer.root
            )));
        }
        let answered = answer.entries.len();
        if answered == 0 || answer.entries.iter().zip(asked).any(|(e, seq)| e.seq != *seq) {
            return Err(internal("evidence_entries answered other entries than were asked"));
        }
        entries.extend(answer.entries);
    }
    Ok(entries)
}
