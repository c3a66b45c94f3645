//! One dispatcher for every query, whatever carried it (NATS or HTTP):
//! a JSON request in, a JSON answer or a typed error out.

use muster_domain::{Date, Seq, StaffId, UnitId};
use muster_ledger::Ledger;
use muster_proto::answers::*;
use muster_proto::entry::Receipt;
use muster_proto::entry::Submission;
use muster_proto::limits::{CORRECTION_EVENTS_MAX, SERIES_POINTS_MAX, UNIT_EVENTS_MAX};
use muster_proto::requests::*;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::validate::{date, internal, known_at, reported_at, require, Named};
pub use crate::validate::{parse, parse_utc_ms, QueryError, QueryErrorCode};

/// One endpoint of the query service: `<prefix>.query.<name>` over NATS,
/// `/v1/<name>` over HTTP. Each edge turns the name it was given into
/// this once ([`QueryEndpoint::named`], or `str::parse` for the error an
/// unknown name gets); past the edge nothing matches on strings. The micro
/// service, the HTTP API and its index at `/` are made from [`QueryEndpoint::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryEndpoint {
    /// Posted and working headcount of a unit on a day.
    Headcount,
    /// Every active unit on a day.
    Tree,
    /// The staff of a unit on a day.
    Roster,
    /// Every event that touched a staff member.
    History,
    /// The mergers and splits around a unit.
    Lineage,
    /// A unit's headcount between two days.
    Series,
    /// The front-line audit between two days.
    Audit,
    /// Every event that touched a unit.
    UnitEvents,
    /// A scope on a day as reported and as corrected, with the events
    /// between.
    Corrections,
    /// The ledger point a `known_at` resolves to.
    State,
    /// The latest signed checkpoints, checked; answered by the replica,
    /// which reads them from the bus, not by [`answer`].
    Checkpoints,
    /// An entry's inclusion in the Merkle tree of a size.
    InclusionProof,
    /// One tree size's consistency with a later one.
    ConsistencyProof,
    /// Entries with their inclusion proofs, for evidence packs.
    EvidenceEntries,
    /// The outcome of one event.
    Receipt,
    /// Re-walk the replica's hash chain.
    Verify,
    /// How far the replica is behind; answered by the replica, which
    /// knows the feed's position, not by [`answer`].
    Status,
}

impl QueryEndpoint {
    /// Every endpoint, in the order the index lists them.
    pub const ALL: [QueryEndpoint; 17] = [
        QueryEndpoint::Headcount,
        QueryEndpoint::Tree,
        QueryEndpoint::Roster,
        QueryEndpoint::History,
        QueryEndpoint::Lineage,
        QueryEndpoint::Series,
        QueryEndpoint::Audit,
        QueryEndpoint::UnitEvents,
        QueryEndpoint::Corrections,
        QueryEndpoint::State,
        QueryEndpoint::Checkpoints,
        QueryEndpoint::InclusionProof,
        QueryEndpoint::ConsistencyProof,
        QueryEndpoint::EvidenceEntries,
        QueryEndpoint::Receipt,
        QueryEndpoint::Verify,
        QueryEndpoint::Status,
    ];

    /// The endpoint called `text`, if any.
    pub fn named(text: &str) -> Option<QueryEndpoint> {
        QueryEndpoint::ALL.into_iter().find(|endpoint| endpoint.name() == text)
    }

    /// Its HTTP path: `/v1/<name>`, but for the proofs, `/v1/proof/<kind>`.
    pub fn path(self) -> String {
        match self {
            QueryEndpoint::InclusionProof => "/v1/proof/inclusion".to_owned(),
            QueryEndpoint::ConsistencyProof => "/v1/proof/consistency".to_owned(),
            QueryEndpoint::EvidenceEntries => "/v1/proof/entries".to_owned(),
            _ => format!("/v1/{}", self.name()),
        }
    }

    /// Its name: the last token of its subject, the last segment of its path.
    pub fn name(self) -> &'static str {
        match self {
            QueryEndpoint::Headcount => "headcount",
            QueryEndpoint::Tree => "tree",
            QueryEndpoint::Roster => "roster",
            QueryEndpoint::History => "history",
            QueryEndpoint::Lineage => "lineage",
            QueryEndpoint::Series => "series",
            QueryEndpoint::Audit => "audit",
            QueryEndpoint::UnitEvents => "unit_events",
            QueryEndpoint::Corrections => "corrections",
            QueryEndpoint::State => "state",
            QueryEndpoint::Checkpoints => "checkpoints",
            QueryEndpoint::InclusionProof => "inclusion_proof",
            QueryEndpoint::ConsistencyProof => "consistency_proof",
            QueryEndpoint::EvidenceEntries => "evidence_entries",
            QueryEndpoint::Receipt => "receipt",
            QueryEndpoint::Verify => "verify",
            QueryEndpoint::Status => "status",
        }
    }

    /// Every field (or query parameter) its request accepts.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            QueryEndpoint::Headcount => HeadcountRequest::FIELDS,
            QueryEndpoint::Tree => TreeRequest::FIELDS,
            QueryEndpoint::Roster => RosterRequest::FIELDS,
            QueryEndpoint::History => HistoryRequest::FIELDS,
            QueryEndpoint::Lineage => LineageRequest::FIELDS,
            QueryEndpoint::Series => SeriesRequest::FIELDS,
            QueryEndpoint::Audit => AuditRequest::FIELDS,
            QueryEndpoint::UnitEvents => UnitEventsRequest::FIELDS,
            QueryEndpoint::Corrections => CorrectionsRequest::FIELDS,
            QueryEndpoint::State => StateRequest::FIELDS,
            QueryEndpoint::Checkpoints => CheckpointsRequest::FIELDS,
            QueryEndpoint::InclusionProof => InclusionProofRequest::FIELDS,
            QueryEndpoint::ConsistencyProof => ConsistencyProofRequest::FIELDS,
            QueryEndpoint::EvidenceEntries => EvidenceEntriesRequest::FIELDS,
            QueryEndpoint::Receipt => ReceiptRequest::FIELDS,
            QueryEndpoint::Verify | QueryEndpoint::Status => EmptyRequest::FIELDS,
        }
    }

    /// What it answers, for people.
    pub fn about(self) -> &'static str {
        match self {
            QueryEndpoint::Headcount => "posted and working headcount of a unit on a day",
            QueryEndpoint::Tree => "every active unit on a day, with its counts",
            QueryEndpoint::Roster => "the staff of a unit on a day",
            QueryEndpoint::History => "every event that touched a staff member",
            QueryEndpoint::Lineage => "the mergers and splits a unit came from and went into",
            QueryEndpoint::Series => "a unit's headcount between two days",
            QueryEndpoint::Audit => "the front-line audit between two days (also audit.html, audit.csv, audit.xlsx)",
            QueryEndpoint::UnitEvents => "every event that touched a unit, retracted ones marked",
            QueryEndpoint::Corrections => {
                "a unit's subtree on a day as reported at one point and as corrected at a later one, with the events between"
            }
            QueryEndpoint::State => "the ledger point (seq, hash, time) a known_at resolves to, and the head",
            QueryEndpoint::Checkpoints => "the latest signed checkpoints, each verified and compared with this replica",
            QueryEndpoint::InclusionProof => {
                "an entry's inclusion in the Merkle tree of a size (a checkpoint's): by source and id, or seq"
            }
            QueryEndpoint::ConsistencyProof => "that the Merkle tree of one size (a checkpoint's) is a prefix of a later one",
            QueryEndpoint::EvidenceEntries => {
                "entries by seq, each with its predecessor's hash and its inclusion proof (for evidence packs)"
            }
            QueryEndpoint::Receipt => "the outcome of one event, by source and id",
            QueryEndpoint::Verify => "re-walk this replica's copy of the hash chain",
            QueryEndpoint::Status => "how far this replica is behind the ledger",
        }
    }
}

impl std::fmt::Display for QueryEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An endpoint name as a request carried it: an unknown one is
/// `not_found`, as an unknown path is.
impl std::str::FromStr for QueryEndpoint {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<QueryEndpoint, QueryError> {
        QueryEndpoint::named(text)
            .ok_or_else(|| QueryError::new(QueryErrorCode::NotFound, format!("no endpoint '{text}'")))
    }
}

/// A query's answer, typed: what each endpoint returns. It is serialized
/// only where it leaves the process (the NATS and HTTP edges, the CLI),
/// as the bare JSON of the variant's value (`untagged`), so the wire is
/// the `muster_proto::answers` type and nothing more.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `headcount`.
    Headcount(HeadcountOut),
    /// `tree`: depth-first.
    Tree(Vec<TreeNodeOut>),
    /// `roster`.
    Roster(Vec<RosterEntryOut>),
    /// `history`.
    History(Vec<HistoryEntryOut>),
    /// `lineage`.
    Lineage(Vec<LineageEdgeOut>),
    /// `series`.
    Series(Vec<SeriesPointOut>),
    /// `audit`.
    Audit(Box<AuditOut>),
    /// `unit_events`: in timeline order.
    UnitEvents(Vec<UnitEventOut>),
    /// `corrections`.
    Corrections(Box<CorrectionsOut>),
    /// `state`.
    State(StateOut),
    /// `checkpoints`: newest first.
    Checkpoints(Vec<CheckpointOut>),
    /// `inclusion_proof`.
    InclusionProof(InclusionProofOut),
    /// `consistency_proof`.
    ConsistencyProof(ConsistencyProofOut),
    /// `evidence_entries`.
    EvidenceEntries(EvidenceEntriesOut),
    /// `receipt`.
    Receipt(Receipt),
    /// `verify`.
    Verify(VerifyAnswer),
    /// `status`.
    Status(StatusAnswer),
    /// Any of the ledger's answers asked with `"proof": true`: the answer
    /// and the state (tree size, root) it was computed at.
    Proven {
        /// The answer without `proof`.
        answer: Box<Answer>,
        /// …
        state: ProvenStateOut,
    },
}

impl Answer {
    /// As the JSON body of a reply.
    pub fn to_json(&self) -> Result<Vec<u8>, QueryError> {
        serde_json::to_vec(self).map_err(internal)
    }
}

/// D1, the first of every month after it up to D2 (at most 600 of them,
/// evenly thinned), and D2.
fn audit_days(from: Date, to: Date) -> Vec<Date> {
    let mut days = vec![from];
    let (mut year, mut month, _) = from.ymd();
    loop {
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        match Date::from_ymd(year, month, 1) {
            Ok(day) if day < to => days.push(day),
            _ => break,
        }
    }
    let step = days.len().div_ceil(600).max(1);
    let mut days: Vec<Date> = days.into_iter().step_by(step).collect();
    days.push(to);
    days
}

/// The part of a depth-first tree under `root` (inclusive).
fn subtree(tree: Vec<muster_domain::TreeNode>, root: &UnitId) -> Vec<muster_domain::TreeNode> {
    let Some(start) = tree.iter().position(|n| &n.unit == root) else { return Vec::new() };
    let depth = tree[start].depth;
    let end = tree[start + 1..].iter().position(|n| n.depth <= depth).map_or(tree.len(), |i| start + 1 + i);
    tree[start..end].to_vec()
}

/// Answers `endpoint` with `body` (JSON) from `ledger`. `status` is not
/// answered here: it needs the feed's position, which the caller has.
///
/// Each request is checked whole before anything is looked up: its
/// fields, then its values (dates, `known_at`), then that the units and
/// staff it names exist as known at its `known_at`.
pub fn answer(ledger: &Ledger, endpoint: QueryEndpoint, body: &[u8]) -> Result<Answer, QueryError> {
    let Some(asked) = proof_asked(body)? else { return answer_plainly(ledger, endpoint, body) };
    let answer = answer_plainly(ledger, endpoint, &asked.body)?;
    if !asked.proof {
        return Ok(answer);
    }
    // The same read of the ledger as the answer: the state is the one it
    // was computed at.
    let state = state(ledger, asked.known_at)?;
    let root = ledger.merkle_root(state.seq).map_err(internal)?.map_err(|e| internal(format!("{e:?}")))?;
    let state = ProvenStateOut { tree_size: state.seq, root: muster_ledger::hex(&root), state };
    Ok(Answer::Proven { answer: Box::new(answer), state })
}

/// A request's `proof` field, taken out of it.
struct ProofAsked {
    /// Whether it was `true`.
    proof: bool,
    /// The request without it.
    body: Vec<u8>,
    /// Its `known_at_seq` and `known_at_time`, as they were.
    known_at: StateRequest,
}

/// `None` when the request has no `proof` field (the common case, seen
/// without parsing it) or is not a JSON object (its endpoint says why).
fn proof_asked(body: &[u8]) -> Result<Option<ProofAsked>, QueryError> {
    if !body.windows(7).any(|w| w == b"\"proof\"") {
        return Ok(None);
    }
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(None);
    };
    let Some(proof) = fields.remove("proof") else { return Ok(None) };
    let proof = proof.as_bool().ok_or_else(|| QueryError::bad("proof must be true or false"))?;
    let known_at = StateRequest {
        known_at_seq: fields.get("known_at_seq").and_then(serde_json::Value::as_u64),
        known_at_time: fields.get("known_at_time").and_then(serde_json::Value::as_str).map(str::to_owned),
    };
    let body = serde_json::to_vec(&fields).map_err(internal)?;
    Ok(Some(ProofAsked { proof, body, known_at }))
}

fn answer_plainly(ledger: &Ledger, endpoint: QueryEndpoint, body: &[u8]) -> Result<Answer, QueryError> {
    use QueryEndpoint as E;
    Ok(match endpoint {
        E::Headcount => Answer::Headcount(headcount(ledger, parse(endpoint, body)?)?),
        E::Tree => Answer::Tree(tree(ledger, parse(endpoint, body)?)?),
        E::Roster => Answer::Roster(roster(ledger, parse(endpoint, body)?)?),
        E::History => Answer::History(history(ledger, parse(endpoint, body)?)?),
        E::Lineage => Answer::Lineage(lineage(ledger, parse(endpoint, body)?)?),
        E::Series => Answer::Series(series(ledger, parse(endpoint, body)?)?),
        E::Audit => Answer::Audit(Box::new(audit(ledger, parse(endpoint, body)?)?)),
        E::UnitEvents => Answer::UnitEvents(unit_events(ledger, parse(endpoint, body)?)?),
        E::Corrections => Answer::Corrections(Box::new(corrections(ledger, parse(endpoint, body)?)?)),
        E::State => Answer::State(state(ledger, parse(endpoint, body)?)?),
        E::InclusionProof => Answer::InclusionProof(crate::proofs::inclusion(ledger, parse(endpoint, body)?)?),
        E::ConsistencyProof => Answer::ConsistencyProof(crate::proofs::consistency(ledger, parse(endpoint, body)?)?),
        E::EvidenceEntries => Answer::EvidenceEntries(crate::proofs::entries(ledger, parse(endpoint, body)?)?),
        E::Receipt => Answer::Receipt(receipt(ledger, parse(endpoint, body)?)?),
        E::Verify => {
            let EmptyRequest {} = parse(endpoint, body)?;
            Answer::Verify(verify(ledger)?)
        }
        // A ledger alone does not know how far the feed is ahead of it,
        // nor what the ledger signed: asked of one, these are as unknown
        // as any other name.
        E::Status | E::Checkpoints => {
            return Err(QueryError::new(QueryErrorCode::NotFound, format!("no endpoint '{endpoint}'")))
        }
    })
}

/// `headcount`: a unit on a day.
pub fn headcount(ledger: &Ledger, r: HeadcountRequest) -> Result<HeadcountOut, QueryError> {
    let timeline = ledger.timeline();
    let (day, k) = (date("date", &r.date)?, known_at(ledger, &r.known_at())?);
    let unit = UnitId::from(r.unit);
    require(timeline, Named::Unit, "unit", unit.as_str(), k)?;
    Ok(HeadcountOut::new(&timeline.headcount(&unit, day, k, r.rollup), k))
}

/// `tree`: every active unit on a day, depth-first.
pub fn tree(ledger: &Ledger, r: TreeRequest) -> Result<Vec<TreeNodeOut>, QueryError> {
    let (day, k) = (date("date", &r.date)?, known_at(ledger, &r.known_at())?);
    Ok(ledger.timeline().tree(day, k).iter().map(Into::into).collect())
}

/// `roster`: the staff of a unit on a day, each with the event that put
/// them there.
pub fn roster(ledger: &Ledger, r: RosterRequest) -> Result<Vec<RosterEntryOut>, QueryError> {
    let timeline = ledger.timeline();
    let (day, k) = (date("date", &r.date)?, known_at(ledger, &r.known_at())?);
    let unit = UnitId::from(r.unit);
    require(timeline, Named::Unit, "unit", unit.as_str(), k)?;
    let roster = timeline.roster(&unit, day, k);
    let trace = trace(ledger, k, roster.iter().filter_map(|r| timeline.staff_since(&r.staff, day, k)))?;
    Ok(roster.iter().map(|r| RosterEntryOut::new(r, day, &trace)).collect())
}

/// `history`: every event that touched a staff member.
pub fn history(ledger: &Ledger, r: HistoryRequest) -> Result<Vec<HistoryEntryOut>, QueryError> {
    let timeline = ledger.timeline();
    let k = known_at(ledger, &r.known_at())?;
    let staff = StaffId::from(r.staff);
    require(timeline, Named::Staff, "staff", staff.as_str(), k)?;
    let history = timeline.staff_history(&staff, k);
    let trace = trace(ledger, k, history.iter().map(|h| h.seq))?;
    Ok(history.iter().map(|h| HistoryEntryOut::new(h, &trace)).collect())
}

/// `lineage`: the mergers and splits a unit came from and went into.
pub fn lineage(ledger: &Ledger, r: LineageRequest) -> Result<Vec<LineageEdgeOut>, QueryError> {
    let timeline = ledger.timeline();
    let k = known_at(ledger, &r.known_at())?;
    let unit = UnitId::from(r.unit);
    require(timeline, Named::Unit, "unit", unit.as_str(), k)?;
    Ok(timeline.lineage(&unit, k).iter().map(Into::into).collect())
}

/// `receipt`: the outcome of one event; no event under that (source, id)
/// is `not_found`, never an empty answer.
pub fn receipt(ledger: &Ledger, r: ReceiptRequest) -> Result<Receipt, QueryError> {
    match ledger.receipt(&r.source, &r.id).map_err(internal)? {
        Some(receipt) => Ok(receipt),
        None => Err(QueryError::new(QueryErrorCode::NotFound, format!("no event {}/{} was recorded", r.source, r.id))),
    }
}

/// `verify`: a broken chain is an answer (where it breaks), not an error;
/// only a failure to read is.
pub fn verify(ledger: &Ledger) -> Result<VerifyAnswer, QueryError> {
    match ledger.verify() {
        Ok(report) => Ok(VerifyAnswer::whole(report.entries, muster_ledger::hex(&report.head_hash))),
        Err(e) => match e.kind() {
            muster_ledger::LedgerErrorKind::Corrupt { seq, reason } => {
                Ok(VerifyAnswer::broken(ledger.head().seq, *seq, reason.clone()))
            }
            _ => Err(internal(e)),
        },
    }
}

/// `series`: a unit's headcount on every day it changed between two days.
pub fn series(ledger: &Ledger, r: SeriesRequest) -> Result<Vec<SeriesPointOut>, QueryError> {
    let timeline = ledger.timeline();
    let k = known_at(ledger, &r.known_at())?;
    let (from, to) = (date("from", &r.from)?, date("to", &r.to)?);
    if to < from {
        return Err(QueryError::bad(format!("to {to} is before from {from}")));
    }
    let unit = UnitId::from(r.unit);
    require(timeline, Named::Unit, "unit", unit.as_str(), k)?;
    let points = timeline.series(&unit, from, to, k, r.rollup);
    if points.len() > SERIES_POINTS_MAX {
        return Err(QueryError::bad(format!("{} points is over the limit of {SERIES_POINTS_MAX}", points.len())));
    }
    Ok(points.iter().map(Into::into).collect())
}

/// `audit`: the front-line audit between two days, over the whole ledger
/// or one unit's subtree.
pub fn audit(ledger: &Ledger, r: AuditRequest) -> Result<AuditOut, QueryError> {
    let timeline = ledger.timeline();
    let k = known_at(ledger, &r.known_at())?;
    let (from, to) = (date("from", &r.from)?, date("to", &r.to)?);
    if to <= from {
        return Err(QueryError::bad(format!("to {to} must be after from {from}")));
    }
    let scope = r.scope.map(UnitId::from);
    if let Some(scope) = &scope {
        require(timeline, Named::Unit, "scope", scope.as_str(), k)?;
    }
    let audit = timeline.audit(from, to, scope.as_ref(), k);
    let series: Vec<(Date, muster_domain::Strength)> =
        audit_days(from, to).into_iter().map(|d| (d, timeline.strength_on(d, scope.as_ref(), k))).collect();
    let in_scope = |date: Date| {
        let tree = timeline.tree(date, k);
        match &scope {
            None => tree,
            Some(root) => subtree(tree, root),
        }
    };
    let moves = audit.moved_down.iter().chain(&audit.moved_up);
    let trace = trace(ledger, k, moves.flat_map(|m| m.events.iter().copied()))?;
    Ok(AuditOut::new(&audit, &trace, &series, &in_scope(from), &in_scope(to)))
}

/// The trace of an answer naming the events at `seqs`: each read from the
/// ledger (checked against the chain) once, in one pass over the blocks.
fn trace(ledger: &Ledger, known_at: Option<Seq>, seqs: impl Iterator<Item = Seq>) -> Result<Trace<'_>, QueryError> {
    let seqs: Vec<Seq> = seqs.collect::<std::collections::BTreeSet<Seq>>().into_iter().collect();
    let entries = ledger.entries_at(&seqs).map_err(internal)?;
    let events = entries.iter().filter_map(EventRefOut::of).map(|e| (e.seq, e)).collect();
    Ok(Trace { timeline: ledger.timeline(), known_at, events })
}

/// `state`: the ledger point `known_at` resolves to (none: the head).
pub fn state(ledger: &Ledger, r: StateRequest) -> Result<StateOut, QueryError> {
    let k = known_at(ledger, &r.known_at())?;
    state_at(ledger, k.unwrap_or(ledger.head().seq))
}

/// Entry `seq` as a ledger point, read from the chain (checked); 0 is the
/// empty ledger.
fn state_at(ledger: &Ledger, seq: Seq) -> Result<StateOut, QueryError> {
    let head_seq = ledger.head().seq;
    if seq == 0 {
        return Ok(StateOut { seq, hash: String::new(), recorded_at: None, head_seq });
    }
    let entry = ledger.entry(seq).map_err(internal)?.ok_or_else(|| internal(format!("entry {seq} is missing")))?;
    Ok(StateOut {
        seq,
        hash: muster_ledger::hex(&entry.hash),
        recorded_at: Some(utc_ms_text(entry.body.recorded_at_ms)),
        head_seq,
    })
}

/// `unit_events`: every event that touched a unit, in timeline order.
pub fn unit_events(ledger: &Ledger, r: UnitEventsRequest) -> Result<Vec<UnitEventOut>, QueryError> {
    let timeline = ledger.timeline();
    let k = known_at(ledger, &r.known_at())?;
    let unit = UnitId::from(r.unit);
    require(timeline, Named::Unit, "unit", unit.as_str(), k)?;
    let events = timeline.unit_events(&unit, k);
    if events.len() > UNIT_EVENTS_MAX {
        return Err(QueryError::bad(format!(
            "{unit} has {} events, over the limit of {UNIT_EVENTS_MAX} an answer lists: ask as known at an earlier known_at_seq",
            events.len()
        )));
    }
    let mut described = described(ledger, events.iter().map(|e| e.seq))?;
    events
        .iter()
        .map(|e| {
            let (event, summary) = described.remove(&e.seq).ok_or_else(|| not_an_event(e.seq))?;
            Ok(UnitEventOut { event, summary, retracted_by: e.retracted_by })
        })
        .collect()
}

/// `corrections`: a scope on a day as reported (`reported_at_*`) and as
/// corrected (`known_at_*`, default the head), with the events between.
pub fn corrections(ledger: &Ledger, r: CorrectionsRequest) -> Result<CorrectionsOut, QueryError> {
    let timeline = ledger.timeline();
    let day = date("date", &r.date)?;
    let reported = reported_at(ledger, r.reported_at_seq, &r.reported_at_time)?;
    let corrected = known_at(ledger, &r.known_at())?.unwrap_or(ledger.head().seq);
    if reported >= corrected {
        return Err(QueryError::bad(format!(
            "reported at seq {reported} must be before corrected at seq {corrected} (known_at, default the head)"
        )));
    }
    let unit = UnitId::from(r.unit);
    require(timeline, Named::Unit, "unit", unit.as_str(), Some(corrected))?;
    let found = timeline.corrections(&unit, day, reported, Some(corrected));
    if found.events.len() > CORRECTION_EVENTS_MAX {
        return Err(QueryError::bad(format!(
            "{} events between seq {reported} and seq {corrected}, over the limit of {CORRECTION_EVENTS_MAX}: ask over a shorter span",
            found.events.len()
        )));
    }
    let seqs = found.events.iter().flat_map(|e| std::iter::once(e.seq).chain(e.retracts));
    let described = described(ledger, seqs)?;
    let event = |seq: Seq| described.get(&seq).cloned().ok_or_else(|| not_an_event(seq));
    let events = found
        .events
        .iter()
        .map(|e| {
            let (event_ref, summary) = event(e.seq)?;
            let retracts = e.retracts.map(|t| event(t).map(|(target, _)| target)).transpose()?;
            let units = e.units.iter().map(|u| u.to_string()).collect();
            Ok(CorrectionEventOut { event: event_ref, summary, retracts, units })
        })
        .collect::<Result<_, QueryError>>()?;
    Ok(CorrectionsOut {
        unit: unit.to_string(),
        date: day.to_string(),
        reported: state_at(ledger, reported)?,
        corrected: state_at(ledger, corrected)?,
        units: found.units.iter().map(Into::into).collect(),
        events,
    })
}

/// The events at `seqs`, read from the ledger (checked against the chain)
/// in one pass, each with its summary.
fn described(
    ledger: &Ledger,
    seqs: impl Iterator<Item = Seq>,
) -> Result<BTreeMap<Seq, (EventRefOut, String)>, QueryError> {
    let seqs: Vec<Seq> = seqs.collect::<std::collections::BTreeSet<Seq>>().into_iter().collect();
    let entries = ledger.entries_at(&seqs).map_err(internal)?;
    let described = entries.iter().filter_map(|entry| {
        let Submission::Event(envelope) = &entry.body.submission else { return None };
        Some((entry.body.seq, (EventRefOut::of(entry)?, envelope.body.summary())))
    });
    Ok(described.collect())
}

/// The timeline names an entry that holds no event: the chain and the
/// timeline disagree, which is the replica's fault, not the question's.
fn not_an_event(seq: Seq) -> QueryError {
    internal(format!("entry {seq}, which the timeline names, holds no event"))
}
