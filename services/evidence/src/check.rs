//! Checking a pack offline, with nothing but the ledger's public key:
//! every problem found is named, not only the first.

use crate::pack::{sha256_hex, Manifest, Pack};
use crate::{files, FORMAT, VERSION};
use muster_ledger::checkpoint::SignedCheckpoint;
use muster_ledger::{entry_leaf, export::check_entry_line, hex, merkle, unhex, Head};
use muster_proto::answers::{percent_of, AuditOut, ChangeOut, EventRefOut, MoveOut, ProvenEntryOut, StateOut};
use muster_proto::entry::{Outcome, StoredEntry, Submission};
use muster_proto::wire::EventBody;
use std::collections::BTreeMap;

/// What a pack that checks proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The log the checkpoint names.
    pub origin: String,
    /// The ledger state the audit was computed at (the checkpoint's).
    pub state: StateOut,
    /// Entries proven in the checkpoint's tree.
    pub entries: usize,
    /// Members whose every cited event was found, as cited.
    pub members: usize,
    /// Figures recomputed and found equal.
    pub figures: usize,
}

/// What is wrong with a pack: the first thing a third party asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemCode {
    /// A file the pack must hold is not there.
    Missing,
    /// A file is not what its name says (not JSON, not a checkpoint, not
    /// this format's version).
    Unreadable,
    /// A file's SHA-256 is not the manifest's: changed after packing.
    FileChanged,
    /// The checkpoint is not signed by the key given.
    Signature,
    /// The audit was not computed at the checkpoint's ledger state.
    NotUnderCheckpoint,
    /// The CSV or the report does not say what the audit's JSON says.
    DocumentDiffers,
    /// An entry's hash is not that of its content.
    EntryBroken,
    /// An entry's inclusion proof does not lead to the signed root.
    ProofFails,
    /// The audit cites an entry the pack does not hold.
    EventMissing,
    /// A cited event is not the one in the ledger at its seq.
    EventDiffers,
    /// A cited event does not concern the member it is cited for (another
    /// person, outside the audit's days, or rejected).
    EventUnrelated,
    /// A figure disagrees with the members or with the audit's arithmetic.
    FigureWrong,
}

impl ProblemCode {
    /// Its stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::Missing => "missing",
            ProblemCode::Unreadable => "unreadable",
            ProblemCode::FileChanged => "file_changed",
            ProblemCode::Signature => "signature",
            ProblemCode::NotUnderCheckpoint => "not_under_checkpoint",
            ProblemCode::DocumentDiffers => "document_differs",
            ProblemCode::EntryBroken => "entry_broken",
            ProblemCode::ProofFails => "proof_fails",
            ProblemCode::EventMissing => "event_missing",
            ProblemCode::EventDiffers => "event_differs",
            ProblemCode::EventUnrelated => "event_unrelated",
            ProblemCode::FigureWrong => "figure_wrong",
        }
    }
}

/// One thing that fails, in which file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind of failure.
    pub code: ProblemCode,
    /// The file it is in.
    pub file: &'static str,
    /// What exactly, naming the seq, member or figure.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]: {}", self.file, self.code.as_str(), self.what)
    }
}

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, code: ProblemCode, file: &'static str, what: impl Into<String>) {
        self.0.push(Problem { code, file, what: what.into() });
    }
}

/// Checks `pack` against the ledger's public key `trusted`; what it
/// proved, or every problem found.
pub fn verify(pack: &Pack, trusted: &[u8; 32]) -> Result<Verified, Vec<Problem>> {
    let mut problems = Problems(Vec::new());
    let Some(manifest) = manifest(pack, &mut problems) else { return Err(problems.0) };
    check_hashes(pack, &manifest, &mut problems);
    let checkpoint = checkpoint(pack, &manifest, trusted, &mut problems);
    let audit = read_json::<AuditOut>(pack, files::AUDIT_JSON, &mut problems);
    let (Some((head, root)), Some(audit)) = (checkpoint, audit) else { return Err(problems.0) };
    check_question(&audit, &manifest, head, &mut problems);
    check_documents(pack, &audit, &manifest.state, &mut problems);
    let entries = check_entries(pack, (head.seq, &root), &mut problems);
    let members = check_citations(&audit, &entries, &mut problems);
    let figures = check_figures(&audit, &mut problems);
    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    Ok(Verified { origin: manifest.origin, state: manifest.state, entries: entries.len(), members, figures })
}

fn manifest(pack: &Pack, problems: &mut Problems) -> Option<Manifest> {
    if !pack.files.contains_key(files::MANIFEST) {
        problems.add(ProblemCode::Missing, files::MANIFEST, "not in the pack");
        return None;
    }
    let manifest = read_json::<Manifest>(pack, files::MANIFEST, problems)?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        let found = format!("{} version {}", manifest.format, manifest.version);
        problems.add(
            ProblemCode::Unreadable,
            files::MANIFEST,
            format!("{found}: this build reads {FORMAT} version {VERSION}"),
        );
        return None;
    }
    Some(manifest)
}

/// `name` read as `T`; none when it is not there (`check_hashes` names
/// a missing file) or not a `T` (named here).
fn read_json<T: serde::de::DeserializeOwned>(pack: &Pack, name: &'static str, problems: &mut Problems) -> Option<T> {
    let bytes = pack.files.get(name)?;
    match serde_json::from_slice(bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            problems.add(ProblemCode::Unreadable, name, format!("not what it should hold: {e}"));
            None
        }
    }
}

/// Every file the manifest lists has its size and hash; every file a pack
/// holds is listed.
fn check_hashes(pack: &Pack, manifest: &Manifest, problems: &mut Problems) {
    for name in files::ALL.into_iter().filter(|name| *name != files::MANIFEST) {
        let listed = manifest.files.iter().find(|f| f.name == name);
        match (pack.files.get(name), listed) {
            (None, _) => problems.add(ProblemCode::Missing, name, "not in the pack"),
            (Some(_), None) => problems.add(ProblemCode::FileChanged, name, "not listed in the manifest"),
            (Some(bytes), Some(listed)) if sha256_hex(bytes) != listed.sha256 || bytes.len() as u64 != listed.bytes => {
                problems.add(ProblemCode::FileChanged, name, "its SHA-256 is not the manifest's: changed after packing")
            }
            (Some(_), Some(_)) => {}
        }
    }
}

/// The checkpoint, verified under `trusted`: its head and signed root.
fn checkpoint(
    pack: &Pack,
    manifest: &Manifest,
    trusted: &[u8; 32],
    problems: &mut Problems,
) -> Option<(Head, merkle::Hash)> {
    let file = files::CHECKPOINT;
    let bytes = pack.files.get(file)?;
    let signed = match SignedCheckpoint::parse(bytes) {
        Ok(signed) => signed,
        Err(e) => {
            problems.add(ProblemCode::Unreadable, file, e.to_string());
            return None;
        }
    };
    let vouched = match signed.verify(trusted) {
        Ok(vouched) => vouched,
        Err(e) => {
            problems.add(ProblemCode::Signature, file, format!("{e}: nothing in the pack can be trusted"));
            return None;
        }
    };
    let Some((origin, root)) = vouched.tree else {
        problems.add(ProblemCode::Unreadable, file, "a checkpoint of the first format (JSON) signs no Merkle root");
        return None;
    };
    let head = vouched.head;
    let state = &manifest.state;
    if origin != manifest.origin || hex(&root) != manifest.root {
        problems.add(ProblemCode::NotUnderCheckpoint, files::MANIFEST, "names another log or root than the checkpoint");
    }
    if state.seq != head.seq || state.hash != hex(&head.hash) {
        let what = format!("the state {} is not the checkpoint's entry {} {}", state.seq, head.seq, hex(&head.hash));
        problems.add(ProblemCode::NotUnderCheckpoint, files::MANIFEST, what);
    }
    Some((head, root))
}

fn check_question(audit: &AuditOut, manifest: &Manifest, head: Head, problems: &mut Problems) {
    if audit.known_at_seq != Some(head.seq) {
        let what = format!("computed at {:?}, not at the checkpoint's entry {}", audit.known_at_seq, head.seq);
        problems.add(ProblemCode::NotUnderCheckpoint, files::AUDIT_JSON, what);
    }
    if (&audit.scope, &audit.from, &audit.to) != (&manifest.scope, &manifest.from, &manifest.to) {
        problems.add(ProblemCode::DocumentDiffers, files::MANIFEST, "describes another question than audit.json");
    }
}

/// The CSV and the report are made again from the JSON: byte for byte.
fn check_documents(pack: &Pack, audit: &AuditOut, state: &StateOut, problems: &mut Problems) {
    let made = [
        (files::AUDIT_CSV, muster_report::moves_csv(audit)),
        (files::AUDIT_HTML, muster_web::audit_document(audit, state)),
    ];
    for (name, expected) in made {
        if pack.files.get(name).is_some_and(|bytes| bytes != expected.as_bytes()) {
            problems.add(ProblemCode::DocumentDiffers, name, "does not say what audit.json says");
        }
    }
}

/// Every entry line: its content hashes to its hash, and its proof leads
/// to the signed root. The entries that check, by seq.
fn check_entries(
    pack: &Pack,
    (size, root): (u64, &merkle::Hash),
    problems: &mut Problems,
) -> BTreeMap<u64, StoredEntry> {
    let file = files::ENTRIES;
    let mut proven = BTreeMap::new();
    let Some(bytes) = pack.files.get(file) else { return proven };
    for (n, line) in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let entry: ProvenEntryOut = match serde_json::from_slice(line) {
            Ok(entry) => entry,
            Err(e) => {
                problems.add(ProblemCode::Unreadable, file, format!("line {}: {e}", n + 1));
                continue;
            }
        };
        match prove_entry(&entry, size, root) {
            Ok(stored) => {
                proven.insert(entry.seq, stored);
            }
            Err((code, what)) => problems.add(code, file, format!("entry {}: {what}", entry.seq)),
        }
    }
    proven
}

/// One proven entry checked offline: its line hashes onto `prev_hash` to
/// its chain hash, holds entry `seq`, and its leaf's audit path leads to
/// `root`, the root of the tree of `size` entries. The entry, or the code
/// and reason it fails with.
pub fn prove_entry(
    entry: &ProvenEntryOut,
    size: u64,
    root: &merkle::Hash,
) -> Result<StoredEntry, (ProblemCode, String)> {
    let broken = |what: &str| (ProblemCode::EntryBroken, what.to_owned());
    let prev = unhex::<32>(&entry.prev_hash).ok_or_else(|| broken("prev_hash is not 64 hex digits"))?;
    let stored = check_entry_line(entry.entry.as_bytes(), &prev).map_err(|why| broken(&why))?;
    if stored.body.seq != entry.seq {
        return Err(broken(&format!("the line holds entry {}", stored.body.seq)));
    }
    let hashes: Option<Vec<merkle::Hash>> = entry.hashes.iter().map(|h| unhex::<32>(h)).collect();
    let hashes = hashes.ok_or((ProblemCode::ProofFails, "a proof hash is not 64 hex digits".to_owned()))?;
    let leaf = entry_leaf(&stored.hash);
    merkle::verify_inclusion(entry.seq.wrapping_sub(1), size, &leaf, &hashes, root).map_err(|e| {
        (ProblemCode::ProofFails, format!("its inclusion proof does not lead to the checkpoint's root ({e})"))
    })?;
    Ok(stored)
}

/// Every event each member is cited with: in the pack, proven, as cited,
/// and about that member. The members whose every event checks.
fn check_citations(audit: &AuditOut, entries: &BTreeMap<u64, StoredEntry>, problems: &mut Problems) -> usize {
    let mut members = 0;
    for member in audit.moved_down.iter().chain(&audit.moved_up) {
        let before = problems.0.len();
        for cited in &member.events {
            check_citation(audit, member, cited, entries.get(&cited.seq), problems);
        }
        members += usize::from(problems.0.len() == before);
    }
    members
}

fn check_citation(
    audit: &AuditOut,
    member: &MoveOut,
    cited: &EventRefOut,
    entry: Option<&StoredEntry>,
    problems: &mut Problems,
) {
    let (file, staff, seq) = (files::AUDIT_JSON, &member.staff, cited.seq);
    let Some(entry) = entry else {
        let what = format!("{staff} is counted on entry {seq}, which the pack does not prove");
        return problems.add(ProblemCode::EventMissing, file, what);
    };
    if EventRefOut::of(entry).as_ref() != Some(cited) {
        let what = format!(
            "{staff} is counted on entry {seq} as {} {}, but the ledger's entry {seq} differs",
            cited.source, cited.id
        );
        return problems.add(ProblemCode::EventDiffers, file, what);
    }
    let Submission::Event(envelope) = &entry.body.submission else { return };
    let day = envelope.effective_date.0.to_string();
    let why = if !matches!(entry.body.outcome, Outcome::Accepted { .. }) {
        Some("was rejected".to_owned())
    } else if day <= audit.from || day > audit.to {
        Some(format!("took effect on {day}, outside {} to {}", audit.from, audit.to))
    } else if !concerns(&envelope.body, member) {
        Some(format!("is a {} that does not name {staff} or their unit", envelope.body.type_name()))
    } else {
        None
    };
    if let Some(why) = why {
        problems.add(ProblemCode::EventUnrelated, file, format!("{staff} is counted on entry {seq}, which {why}"));
    }
}

/// Whether `event` can be one behind `member`'s move: it names them, or
/// (a reclassification) the unit they went to. A merger names units, not
/// people: whether the member was in one of them needs the timeline.
fn concerns(event: &EventBody, member: &MoveOut) -> bool {
    let staff = member.staff.as_str();
    match event {
        EventBody::StaffJoined(e) => e.staff == staff,
        EventBody::StaffTransferred(e) => e.staff == staff,
        EventBody::StaffSeconded(e) => e.staff == staff,
        EventBody::SecondmentEnded(e) => e.staff == staff,
        EventBody::StaffLeft(e) => e.staff == staff,
        EventBody::UnitSplit(e) => e.posted.iter().chain(&e.seconded).any(|a| a.staff == staff),
        EventBody::UnitReclassified(e) => e.unit == member.to_unit,
        EventBody::UnitsMerged(_) => true,
        _ => false,
    }
}

/// The figures that follow from the member lists and from each other,
/// recomputed; how many were.
fn check_figures(a: &AuditOut, problems: &mut Problems) -> usize {
    let expected = expected_figures(a);
    for (name, stated, recomputed) in &expected {
        if stated != recomputed {
            let what = format!("{name} is {stated}, but the audit's own members and figures make it {recomputed}");
            problems.add(ProblemCode::FigureWrong, files::AUDIT_JSON, what);
        }
    }
    expected.len()
}

type Figure = (&'static str, String, String);

fn expected_figures(a: &AuditOut) -> Vec<Figure> {
    let (from, to) = (&a.strength_from, &a.strength_to);
    let real = |m: &&MoveOut| m.cause != "reclassified";
    let count = |moves: &[MoveOut], cause: &str| moves.iter().filter(|m| m.cause == cause).count() as u32;
    let at_front = a.moved_down.iter().filter(real).filter(|m| !m.paper_move).count() as u32;
    let paper: Vec<&str> = a.moved_down.iter().filter(|m| m.paper_move).map(|m| m.staff.as_str()).collect();
    let share = percent_of(f64::from(at_front), from.office_posted);
    let r = &a.reconciliation;
    let f = |name, stated: &dyn std::fmt::Debug, recomputed: &dyn std::fmt::Debug| {
        (name, format!("{stated:?}"), format!("{recomputed:?}"))
    };
    let mut figures = vec![
        f("office_posted", &a.office_posted, &ChangeOut::new(from.office_posted, to.office_posted)),
        f("office_working", &a.office_working, &ChangeOut::new(from.office_working, to.office_working)),
        f("front_posted", &a.front_posted, &ChangeOut::new(from.front_posted, to.front_posted)),
        f("front_working", &a.front_working, &ChangeOut::new(from.front_working, to.front_working)),
        f("moved_down_real", &a.moved_down_real, &(a.moved_down.iter().filter(real).count() as u32)),
        f("moved_down_at_front", &a.moved_down_at_front, &at_front),
        f("moved_down_share", &a.moved_down_share, &share),
        f("paper_moves", &a.paper_moves, &paper),
        f("reconciliation.office_posted_from", &r.office_posted_from, &from.office_posted),
        f("reconciliation.office_posted_to", &r.office_posted_to, &to.office_posted),
        f("reconciliation.moved_down_transferred", &r.moved_down_transferred, &count(&a.moved_down, "transferred")),
        f("reconciliation.moved_down_restructured", &r.moved_down_restructured, &count(&a.moved_down, "restructured")),
        f("reconciliation.moved_down_reclassified", &r.moved_down_reclassified, &count(&a.moved_down, "reclassified")),
        f("reconciliation.moved_up_transferred", &r.moved_up_transferred, &count(&a.moved_up, "transferred")),
        f("reconciliation.moved_up_restructured", &r.moved_up_restructured, &count(&a.moved_up, "restructured")),
        f("reconciliation.moved_up_reclassified", &r.moved_up_reclassified, &count(&a.moved_up, "reclassified")),
        f("reconciliation.balances", &r.balances, &r.holds()),
    ];
    if let (Some(first), Some(last)) = (a.strength_series.first(), a.strength_series.last()) {
        figures.push(f("strength_series (first day)", &(&first.date, &first.strength), &(&a.from, from)));
        figures.push(f("strength_series (last day)", &(&last.date, &last.strength), &(&a.to, to)));
    }
    figures
}
