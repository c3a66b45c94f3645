//! `witness` (follow a ledger's checkpoints, cosign each one proven to
//! extend the last, alarm on a fork) and the auditor's side: checkpoints
//! required to carry the cosignatures of N named witnesses.

use crate::args::Witnessed;
use crate::backend::Backend;
use crate::output::Format;
use crate::usage;
use anyhow::{Context, Result};
use muster_bus::service::{Exit, Failure};
use muster_ledger::checkpoint::{cosigners, parse_cosigner_vkey, public_key, SignedCheckpoint, Signer};
use muster_ledger::merkle::Hash;
use muster_ledger::witness::{Accepted, Judged, Witness};
use muster_proto::answers::{CheckpointOut, ConsistencyProofOut, CHECKPOINT_FORMAT_NOTE};
use muster_proto::limits::{WITNESS_CHECKPOINTS_PER_POLL, WITNESS_JUDGED_REMEMBERED};
use muster_proto::note::Note;
use muster_proto::requests::{CheckpointsRequest, ConsistencyProofRequest};
use muster_proto::witness::{WitnessAlarm, WitnessState, ALARM_FORK};
use muster_query::answer::QueryEndpoint;
use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// What `witness` was asked.
pub(crate) struct Options<'a> {
    pub(crate) name: &'a str,
    pub(crate) signing_key: &'a Path,
    pub(crate) public_key: &'a str,
    pub(crate) state: &'a Path,
    pub(crate) interval: Duration,
    pub(crate) once: bool,
}

/// A key name in a signed note: no `+`, no white space (c2sp.org/signed-note).
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(usage(format!("--name {name:?}: a witness's name has no '+' and no white space")));
    }
    Ok(())
}

/// Follows the checkpoints the query service lists until a fork (exit 9)
/// or, with `once`, after one look.
pub(crate) fn run(backend: &Backend, o: Options<'_>, format: Format, out: &mut impl Write) -> Result<ExitCode> {
    let Backend::Remote { topology, .. } = backend else {
        return Err(usage("witness follows the query service's checkpoints: give --nats-url"));
    };
    check_name(o.name)?;
    let signer = Signer::from_file(o.signing_key)?;
    let witness = Witness::new(o.name, signer, &topology.checkpoint_origin(), public_key(o.public_key)?);
    let mut last = load(&witness, o.state)?;
    let mut judged = VecDeque::new();
    announce(&witness, last.as_ref(), format, out)?;
    loop {
        match look(backend, &witness, &mut last, &mut judged, o.state) {
            Ok(cosigned) => report(&cosigned, format, out)?,
            Err(Looked::Fork(alarm)) => return raise(backend, &alarm),
            Err(Looked::Failed(e)) if o.once => return Err(e),
            Err(Looked::Failed(e)) => tracing::warn!(error = format!("{e:#}"), "could not look at the checkpoints"),
        }
        if o.once {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(o.interval);
    }
}

/// Why a look ended early.
enum Looked {
    Fork(Box<WitnessAlarm>),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Looked {
    fn from(e: anyhow::Error) -> Looked {
        Looked::Failed(e)
    }
}

/// Judges every checkpoint listed not judged yet, oldest first; returns
/// the ones cosigned (each remembered in the state file before it is
/// published).
fn look(
    backend: &Backend,
    witness: &Witness,
    last: &mut Option<Accepted>,
    judged: &mut VecDeque<String>,
    state: &Path,
) -> Result<Vec<Accepted>, Looked> {
    let request = CheckpointsRequest { limit: Some(WITNESS_CHECKPOINTS_PER_POLL) };
    let listed: Vec<CheckpointOut> = backend.ask(QueryEndpoint::Checkpoints, &request)?;
    let mut cosigned = Vec::new();
    for published in listed.into_iter().rev().filter(|c| c.format == CHECKPOINT_FORMAT_NOTE).map(|c| c.published) {
        if judged.contains(&published) {
            continue;
        }
        let Some(judgement) = judge(backend, witness, last.as_ref(), &published)? else { continue };
        match judgement {
            (Judged::Cosigned(accepted), _) => {
                save(state, witness, &accepted)?;
                // Only once published is it the last: if publishing fails,
                // the next look cosigns it again and publishes that.
                let subject = backend.topology().witness_cosigned_subject();
                backend.publish(subject, accepted.note.encode().into_bytes())?;
                *last = Some(accepted.clone());
                cosigned.push(accepted);
            }
            (Judged::Seen, _) => {}
            (Judged::Refused(reason), _) => tracing::warn!(reason, "not the ledger's checkpoint: ignored"),
            (Judged::Fork(reason), proof) => {
                let accepted = last.as_ref().map(|a| a.note.encode()).unwrap_or_default();
                return Err(Looked::Fork(Box::new(WitnessAlarm {
                    code: ALARM_FORK.into(),
                    witness: witness.name().into(),
                    origin: witness.origin().into(),
                    reason,
                    accepted,
                    conflicting: published,
                    proof: proof.iter().map(|h| muster_ledger::hex(h)).collect(),
                })));
            }
            (Judged::NeedsProof { .. }, _) => unreachable!("judge asks for the proof"),
        }
        if judged.len() == WITNESS_JUDGED_REMEMBERED {
            judged.pop_front();
        }
        judged.push_back(published);
    }
    Ok(cosigned)
}

/// Judges one published checkpoint, asking for the consistency proof it
/// needs; `None` when the query service cannot give it yet (a replica
/// behind, a size past its tree): judged again at the next look.
fn judge(
    backend: &Backend,
    witness: &Witness,
    last: Option<&Accepted>,
    published: &str,
) -> Result<Option<(Judged, Vec<Hash>)>> {
    let note = match Note::parse(published.as_bytes()) {
        Ok(note) => note,
        Err(e) => return Ok(Some((Judged::Refused(e.to_string()), Vec::new()))),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (from, to) = match witness.judge(last, &note, None, now) {
        Judged::NeedsProof { from, to } => (from, to),
        judged => return Ok(Some((judged, Vec::new()))),
    };
    let request = ConsistencyProofRequest { from_size: from, to_size: Some(to) };
    let proof: ConsistencyProofOut = match backend.ask(QueryEndpoint::ConsistencyProof, &request) {
        Ok(proof) => proof,
        Err(e) if Exit::of(e.chain()) == Exit::BadInput => {
            tracing::warn!(from, to, error = format!("{e:#}"), "no consistency proof yet: judged at the next look");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let hashes: Vec<Hash> = proof.hashes.iter().filter_map(|h| muster_proto::hex::unhex(h)).collect();
    if hashes.len() != proof.hashes.len() {
        return Ok(Some((Judged::Fork("the consistency proof given holds a hash that is not one".into()), hashes)));
    }
    Ok(Some((witness.judge(last, &note, Some(&hashes), now), hashes)))
}

/// Logs the alarm at error, publishes it, and ends with exit 9.
fn raise(backend: &Backend, alarm: &WitnessAlarm) -> Result<ExitCode> {
    tracing::error!(
        origin = alarm.origin,
        reason = alarm.reason,
        accepted = alarm.accepted,
        conflicting = alarm.conflicting,
        "FORK: the ledger signed two histories that do not extend each other"
    );
    let subject = backend.topology().witness_alarm_subject();
    if let Err(e) = backend.publish(subject, muster_proto::witness::encode_alarm(alarm)) {
        tracing::error!(error = format!("{e:#}"), "the alarm could not be published");
    }
    let message = format!(
        "fork of {}: {}\naccepted:\n{}conflicting:\n{}",
        alarm.origin, alarm.reason, alarm.accepted, alarm.conflicting
    );
    Err(Failure::new(Exit::Forked, message).into())
}

/// Who is witnessing what, from where: its verifier key is what auditors
/// are given to require its cosignature.
fn announce(witness: &Witness, last: Option<&Accepted>, format: Format, out: &mut impl Write) -> Result<()> {
    let (vkey, origin, accepted) = (witness.vkey(), witness.origin(), last.map(|a| a.size));
    tracing::info!(vkey, origin, accepted, "witnessing");
    match format {
        Format::Json => {
            writeln!(out, "{}", serde_json::json!({"witness": vkey, "origin": origin, "accepted": accepted}))?
        }
        Format::Csv => {
            writeln!(out, "witness,{vkey},{origin},{}", accepted.map(|n| n.to_string()).unwrap_or_default())?
        }
        Format::Table => {
            let from = accepted.map_or("none yet (the first seen is the start)".into(), |n| format!("size {n}"));
            writeln!(
                out,
                "witness   {vkey}
of        {origin}
accepted  {from}"
            )?
        }
    }
    out.flush()?;
    Ok(())
}

fn report(cosigned: &[Accepted], format: Format, out: &mut impl Write) -> Result<()> {
    for a in cosigned {
        let root = muster_ledger::hex(&a.root);
        match format {
            Format::Json => writeln!(out, "{}", serde_json::json!({"cosigned": a.size, "root": root}))?,
            Format::Csv => writeln!(out, "cosigned,{},{root}", a.size)?,
            Format::Table => writeln!(out, "cosigned  size {:<10} root {root}", a.size)?,
        }
    }
    out.flush()?;
    Ok(())
}

/// The last checkpoint accepted, from the state file (none on a first run).
fn load(witness: &Witness, path: &Path) -> Result<Option<Accepted>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(state = %path.display(), "no state yet: the first checkpoint seen is the start");
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let bad = |why: String| Failure::new(Exit::BadInput, format!("the witness state {}: {why}", path.display()));
    let state = muster_proto::witness::decode_state(&bytes).map_err(bad)?;
    let note = Note::parse(state.checkpoint.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let accepted = witness.resume(note).map_err(bad)?;
    if state.origin != witness.origin()
        || state.size != accepted.size
        || state.root != muster_ledger::hex(&accepted.root)
    {
        return Err(bad("its origin, size or root is not its checkpoint's".into()).into());
    }
    Ok(Some(accepted))
}

/// Replaces the state file atomically and durably: written beside it,
/// synced, renamed over it, the directory synced. A cosignature is
/// published only after this, so a witness never forgets what it signed.
fn save(path: &Path, witness: &Witness, accepted: &Accepted) -> Result<()> {
    let state = WitnessState {
        origin: witness.origin().into(),
        size: accepted.size,
        root: muster_ledger::hex(&accepted.root),
        checkpoint: accepted.note.encode(),
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(&muster_proto::witness::encode_state(&state))?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Checks that `checkpoint` (as read from a file) carries valid
/// cosignatures of as many of the named witnesses as required; nothing
/// when none are named.
pub(crate) fn require(checkpoint: &[u8], witnessed: &Witnessed) -> Result<()> {
    if witnessed.witnesses.is_empty() {
        return Ok(());
    }
    let named = witnessed
        .witnesses
        .iter()
        .map(|vkey| parse_cosigner_vkey(vkey).map_err(|e| usage(format!("--witness: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let required = witnessed.required.unwrap_or(named.len());
    if required > named.len() {
        return Err(usage(format!("--witnesses {required}: only {} witnesses are named", named.len())));
    }
    let note = match SignedCheckpoint::parse(checkpoint)? {
        SignedCheckpoint::Note(note) => note,
        SignedCheckpoint::Json(_) => {
            return Err(Failure::new(
                Exit::ChainBroken,
                "a checkpoint of the first format (JSON) carries no cosignatures",
            )
            .into())
        }
    };
    let found = cosigners(&note, &named);
    if found < required {
        let message = format!("the checkpoint is cosigned by {found} of the witnesses named; {required} are required");
        return Err(Failure::new(Exit::ChainBroken, message).into());
    }
    Ok(())
}
