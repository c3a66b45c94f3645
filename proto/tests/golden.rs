//! Golden vectors: the bytes of the contract, pinned.
//!
//! The envelopes and entries built in this file are the source of truth.
//! The files under `proto/golden/` are what the codecs make of them today:
//!
//! - `events.jsonl`: one CloudEvents JSON line per envelope, exactly as
//!   [`cloudevents::encode_json`] writes it (one line per event type, and a
//!   second `units.merged`: one into a new target, one into an existing one);
//! - `events.bincode.hex`: [`codec::encode_envelope`] of each, lower-case
//!   hex, line for line;
//! - `entry.bincode.hex`: [`codec::encode_stored_entry`] of each example
//!   ledger entry (accepted, rejected with a conflict, an accepted
//!   retraction, an undecodable payload);
//! - `entry.json`: the same entries through serde JSON, to read.
//!
//! When a test here fails, a format changed. If the change is deliberate
//! (and [`codec::FORMAT_VERSION`] was bumped if the binary form changed),
//! regenerate the files and commit them, so that every format change is a
//! visible diff in review:
//!
//! ```text
//! MUSTER_BLESS=1 cargo test -p muster-proto --test golden
//! ```
//!
//! With `MUSTER_BLESS=1` the files are rewritten from the values below
//! before any comparison; the round-trip checks still run on what was
//! written.

use muster_domain::{Date, ReasonCode};
use muster_proto::cloudevents;
use muster_proto::codec;
use muster_proto::entry::{EntryBody, EntryRef, Outcome, StoredEntry, Submission, Undecodable};
use muster_proto::validate::validate;
use muster_proto::wire::*;
use std::path::PathBuf;
use std::sync::OnceLock;

const SOURCE: &str = "hr/nanhu";

fn date(text: &str) -> WireDate {
    WireDate(Date::parse(text).expect("golden dates are calendar days"))
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn envelope(id: &str, effective_date: &str, order_ref: Option<&str>, note: Option<&str>, body: EventBody) -> Envelope {
    Envelope {
        id: id.to_owned(),
        source: SOURCE.to_owned(),
        effective_date: date(effective_date),
        order_ref: order_ref.map(str::to_owned),
        note: note.map(str::to_owned),
        body,
    }
}

fn new_unit(unit: &str, name: &str, category: WireCategory, parent: Option<&str>) -> NewUnit {
    NewUnit { unit: unit.to_owned(), name: name.to_owned(), category, parent: parent.map(str::to_owned) }
}

fn staff_to(staff: &str, part: &str) -> StaffAllocation {
    StaffAllocation { staff: staff.to_owned(), part: part.to_owned() }
}

/// The Nanhu sub-bureau's 2015 reform, one event of each type, in the order
/// of `EventBody::TYPES`, then a merger into an existing unit.
fn golden_envelopes() -> Vec<Envelope> {
    use EventBody as B;
    use WireCategory::{FrontLine, Office};
    vec![
        envelope(
            "NH-2015-0001",
            "2015-01-05",
            Some("南湖公〔2015〕1号"),
            None,
            B::UnitEstablished(UnitEstablished {
                unit: "NH-SUP".into(),
                name: "南湖分局督察室".into(),
                category: Office,
                parent: some("NH"),
                quota: Some(12),
            }),
        ),
        envelope(
            "NH-2015-0002",
            "2015-02-01",
            None,
            None,
            B::UnitRenamed(UnitRenamed { unit: "NH-SUP".into(), name: "南湖分局警务督察大队".into() }),
        ),
        envelope(
            "NH-2015-0003",
            "2015-02-01",
            None,
            None,
            B::UnitMoved(UnitMoved { unit: "NH-SUP".into(), parent: some("NH-CMD") }),
        ),
        envelope(
            "NH-2015-0004",
            "2015-03-01",
            Some("南湖公〔2015〕8号"),
            Some("巡特警大队调整为一线执法单位"),
            B::UnitReclassified(UnitReclassified { unit: "NH-PATROL".into(), category: FrontLine }),
        ),
        envelope(
            "NH-2015-0005",
            "2015-03-01",
            None,
            None,
            B::UnitQuotaSet(UnitQuotaSet { unit: "NH-PATROL".into(), quota: 85 }),
        ),
        envelope(
            "NH-2015-0006",
            "2015-04-01",
            Some("南湖公〔2015〕12号"),
            Some("东栅、西栅派出所合并组建南湖中心派出所"),
            B::UnitsMerged(UnitsMerged {
                sources: vec!["NH-PS-DONG".into(), "NH-PS-XI".into()],
                target: None,
                new_target: Some(new_unit("NH-PS-CENTRAL", "南湖中心派出所", FrontLine, Some("NH"))),
            }),
        ),
        envelope(
            "NH-2015-0007",
            "2015-05-01",
            Some("南湖公〔2015〕15号"),
            None,
            B::UnitSplit(UnitSplit {
                source: "NH-ADMIN".into(),
                parts: vec![
                    new_unit("NH-ADMIN-DOC", "文秘科", Office, Some("NH")),
                    new_unit("NH-ADMIN-LOG", "警务保障科", Office, Some("NH")),
                ],
                posted: vec![
                    staff_to("S-0101", "NH-ADMIN-DOC"),
                    staff_to("S-0102", "NH-ADMIN-LOG"),
                    staff_to("S-0103", "NH-ADMIN-LOG"),
                ],
                seconded: vec![staff_to("S-0207", "NH-ADMIN-LOG")],
                children: vec![UnitAllocation { unit: "NH-ADMIN-ARCH".into(), part: "NH-ADMIN-DOC".into() }],
            }),
        ),
        envelope(
            "NH-2015-0008",
            "2015-06-01",
            None,
            Some("研究室职能并入指挥中心，人员已全部调出"),
            B::UnitDissolved(UnitDissolved { unit: "NH-RESEARCH".into() }),
        ),
        envelope(
            "NH-2015-0009",
            "2015-07-01",
            None,
            Some("2015年度公务员招录"),
            B::StaffJoined(StaffJoined { staff: "S-0311".into(), unit: "NH-PATROL".into() }),
        ),
        envelope(
            "NH-2015-0010",
            "2015-07-15",
            Some("南湖公人〔2015〕21号"),
            None,
            B::StaffTransferred(StaffTransferred {
                staff: "S-0102".into(),
                from: "NH-ADMIN-LOG".into(),
                to: "NH-PS-CENTRAL".into(),
            }),
        ),
        envelope(
            "NH-2015-0011",
            "2015-08-01",
            Some("南湖公人〔2015〕23号"),
            Some("借调督察大队参加专项督察\n为期五个月"),
            B::StaffSeconded(StaffSeconded {
                staff: "S-0101".into(),
                from: "NH-ADMIN-DOC".into(),
                to: "NH-SUP".into(),
                until: Some(date("2015-12-31")),
            }),
        ),
        envelope(
            "NH-2015-0012",
            "2015-11-16",
            None,
            Some("专项督察提前结束"),
            B::SecondmentEnded(SecondmentEnded { staff: "S-0101".into() }),
        ),
        envelope(
            "NH-2015-0013",
            "2015-12-01",
            None,
            None,
            B::StaffLeft(StaffLeft { staff: "S-0103".into(), reason: "退休".into() }),
        ),
        envelope(
            "NH-2015-0014",
            "2015-12-03",
            None,
            None,
            B::EventRetracted(EventRetracted {
                target: EventRef { source: SOURCE.into(), id: "NH-2015-0013".into() },
                reason: "录入错误：S-0103 延迟退休".into(),
            }),
        ),
        envelope(
            "NH-2016-0001",
            "2016-01-01",
            Some("南湖公〔2016〕2号"),
            Some("督察大队并入指挥中心"),
            B::UnitsMerged(UnitsMerged { sources: vec!["NH-SUP".into()], target: some("NH-CMD"), new_target: None }),
        ),
    ]
}

fn chain_hash_placeholder(tag: u8) -> [u8; 32] {
    // Not real SHA-256 chain hashes: proto does not depend on sha2, and the
    // chain is the ledger's to check. Recognisable bytes make the hash's
    // place in the layout easy to spot in the hex.
    [tag; 32]
}

/// A payload the codec cannot decode (an unknown event type), as the
/// ledger keeps it: verbatim.
const UNDECODABLE_PAYLOAD: &str = r#"{"specversion":"1.0","id":"NH-2015-0016","source":"hr/nanhu","type":"org.muster.staff.promoted.v1","effectivedate":"2015-12-10","data":{"staff":"S-0311"}}"#;
const UNDECODABLE_MESSAGE: &str = "unknown event type 'org.muster.staff.promoted.v1'";
const CONFLICT_MESSAGE: &str = "accepted event seq 37 (staff_seconded, effective 2015-08-01) would become invalid: \
staff S-0101 is not active on 2015-08-01 (left) [conflicts with hr/nanhu/NH-2015-0011]";

/// Four consecutive ledger entries: every `Submission` and `Outcome` variant.
fn golden_entries() -> Vec<StoredEntry> {
    let events = golden_envelopes();
    let entry = |seq: u64, recorded_at_ms: u64, submission: Submission, outcome: Outcome| StoredEntry {
        body: EntryBody { seq, recorded_at_ms, submission, outcome },
        hash: chain_hash_placeholder(seq as u8),
    };
    let backdated_leaving = envelope(
        "NH-2015-0015",
        "2015-07-20",
        None,
        Some("补录"),
        EventBody::StaffLeft(StaffLeft { staff: "S-0101".into(), reason: "辞职".into() }),
    );
    vec![
        entry(41, 1_436_947_200_123, Submission::Event(events[9].clone()), Outcome::Accepted { retracts: None }),
        entry(
            42,
            1_436_947_200_123,
            Submission::Event(backdated_leaving),
            Outcome::Rejected {
                code: ReasonCode::ConflictsWithLaterEvent.as_str().into(),
                message: CONFLICT_MESSAGE.into(),
                conflicts_with: vec![EntryRef { seq: 37, source: SOURCE.into(), id: "NH-2015-0011".into() }],
            },
        ),
        entry(43, 1_449_100_800_000, Submission::Event(events[13].clone()), Outcome::Accepted { retracts: Some(39) }),
        entry(
            44,
            1_449_705_600_500,
            Submission::Undecodable(Undecodable {
                id: "NH-2015-0016".into(),
                source: SOURCE.into(),
                content_type: cloudevents::CONTENT_TYPE.into(),
                payload: UNDECODABLE_PAYLOAD.as_bytes().to_vec(),
            }),
            Outcome::Rejected {
                code: ReasonCode::UnknownEventType.as_str().into(),
                message: UNDECODABLE_MESSAGE.into(),
                conflicts_with: vec![],
            },
        ),
    ]
}

// ---- rendering the golden files from the values above ----

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex line");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("golden hex is hex")).collect()
}

fn lines(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().map(|line| line + "\n").collect()
}

fn render_events_json() -> String {
    lines(golden_envelopes().iter().map(|e| String::from_utf8(cloudevents::encode_json(e)).expect("JSON is UTF-8")))
}

fn render_events_hex() -> String {
    lines(golden_envelopes().iter().map(|e| hex(&codec::encode_envelope(e))))
}

fn render_entries_hex() -> String {
    lines(golden_entries().iter().map(|e| hex(&codec::encode_stored_entry(e))))
}

/// Pretty JSON, with arrays of numbers (hashes, payload bytes) kept on one
/// line so the file stays readable.
fn render_entries_json() -> String {
    let pretty = serde_json::to_string_pretty(&golden_entries()).expect("entries serialize");
    let is_number = |line: &str| line.trim().trim_end_matches(',').parse::<u64>().is_ok();
    let lines: Vec<&str> = pretty.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.ends_with('[') && lines.get(i).is_some_and(|next| is_number(next)) {
            let mut numbers = Vec::new();
            while is_number(lines[i]) {
                numbers.push(lines[i].trim().trim_end_matches(','));
                i += 1;
            }
            out.push_str(&format!("{line}{}{}\n", numbers.join(", "), lines[i].trim()));
            i += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

// ---- the golden files, blessed or read ----

struct Golden {
    events_json: String,
    events_hex: String,
    entries_hex: String,
    entries_json: String,
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

const FILES: [&str; 4] = ["events.jsonl", "events.bincode.hex", "entry.bincode.hex", "entry.json"];

/// Reads the golden files once; with `MUSTER_BLESS=1`, writes them first.
/// Rationale: tests run in parallel, so the one write happens here, before
/// any test reads.
fn golden() -> &'static Golden {
    static GOLDEN: OnceLock<Golden> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let dir = golden_dir();
        if std::env::var("MUSTER_BLESS").as_deref() == Ok("1") {
            std::fs::create_dir_all(&dir).expect("create proto/golden");
            let rendered = [render_events_json(), render_events_hex(), render_entries_hex(), render_entries_json()];
            for (name, text) in FILES.iter().zip(rendered) {
                std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write golden/{name}: {e}"));
            }
        }
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("read golden/{name}: {e} (MUSTER_BLESS=1 writes the golden files)"))
        };
        Golden {
            events_json: read(FILES[0]),
            events_hex: read(FILES[1]),
            entries_hex: read(FILES[2]),
            entries_json: read(FILES[3]),
        }
    })
}

/// Compares line by line, so a failure names the first line that moved.
fn assert_same_text(name: &str, actual: &str, golden: &str) {
    for (i, (a, g)) in actual.lines().zip(golden.lines()).enumerate() {
        assert_eq!(
            a,
            g,
            "golden/{name} line {} differs; if the format change is deliberate, run with MUSTER_BLESS=1",
            i + 1
        );
    }
    assert_eq!(
        actual.lines().count(),
        golden.lines().count(),
        "golden/{name} has a different number of lines; if deliberate, run with MUSTER_BLESS=1"
    );
    assert_eq!(actual, golden, "golden/{name} differs (line endings?); run with MUSTER_BLESS=1 if deliberate");
}

// ---- the checks ----

#[test]
fn the_golden_files_are_what_the_codecs_write_today() {
    let golden = golden();
    assert_same_text(FILES[0], &render_events_json(), &golden.events_json);
    assert_same_text(FILES[1], &render_events_hex(), &golden.events_hex);
    assert_same_text(FILES[2], &render_entries_hex(), &golden.entries_hex);
    assert_same_text(FILES[3], &render_entries_json(), &golden.entries_json);
}

#[test]
fn every_json_line_decodes_re_encodes_byte_for_byte_and_matches_its_bincode() {
    let golden = golden();
    let envelopes = golden_envelopes();
    let json_lines: Vec<&str> = golden.events_json.lines().collect();
    let hex_lines: Vec<&str> = golden.events_hex.lines().collect();
    assert_eq!(json_lines.len(), envelopes.len());
    assert_eq!(hex_lines.len(), envelopes.len());
    for ((line, hex_line), expected) in json_lines.iter().zip(&hex_lines).zip(&envelopes) {
        let decoded = cloudevents::decode_json(line.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{line}"));
        assert_eq!(&decoded, expected, "{line}");
        assert_eq!(String::from_utf8(cloudevents::encode_json(&decoded)).unwrap(), *line);
        assert_eq!(hex(&codec::encode_envelope(&decoded)), *hex_line, "bincode of {line}");
    }
}

#[test]
fn every_bincode_line_decodes_to_the_same_envelope_as_its_json_line() {
    let golden = golden();
    for (hex_line, json_line) in golden.events_hex.lines().zip(golden.events_json.lines()) {
        let bytes = unhex(hex_line);
        let from_bincode = codec::decode_envelope(&bytes).unwrap_or_else(|e| panic!("{e}\n{hex_line}"));
        let from_json = cloudevents::decode_json(json_line.as_bytes()).unwrap();
        assert_eq!(from_bincode, from_json, "{json_line}");
        assert_eq!(codec::encode_envelope(&from_bincode), bytes);
    }
}

#[test]
fn entry_vectors_match_the_entry_codec() {
    let golden = golden();
    let entries = golden_entries();
    let hex_lines: Vec<&str> = golden.entries_hex.lines().collect();
    assert_eq!(hex_lines.len(), entries.len());
    for (hex_line, entry) in hex_lines.iter().zip(&entries) {
        let bytes = unhex(hex_line);
        assert_eq!(codec::encode_stored_entry(entry), bytes, "entry seq {}", entry.body.seq);
        assert_eq!(&codec::decode_stored_entry(&bytes).unwrap(), entry);
        // A stored entry is the body's canonical bytes (what the chain
        // hashes) followed by the 32 hash bytes.
        let (body_bytes, hash) = codec::split_stored_entry(&bytes).unwrap();
        assert_eq!(codec::encode_entry_body(&entry.body), body_bytes, "entry seq {}", entry.body.seq);
        assert_eq!(hash, entry.hash);
    }
    let from_json: Vec<StoredEntry> = serde_json::from_str(&golden.entries_json).expect("entry.json parses");
    assert_eq!(from_json, entries);
}

#[test]
fn every_binary_vector_starts_with_the_format_version() {
    let golden = golden();
    for hex_line in golden.events_hex.lines() {
        assert_eq!(unhex(&hex_line[..2])[0], codec::FORMAT_VERSION, "{hex_line}");
    }
    for hex_line in golden.entries_hex.lines() {
        assert_eq!(unhex(&hex_line[..2])[0], codec::ENTRY_FORMAT_VERSION, "{hex_line}");
    }
}

#[test]
fn golden_events_cover_every_type_and_both_merge_targets() {
    let envelopes = golden_envelopes();
    let types: Vec<&str> = envelopes.iter().map(|e| e.body.type_name()).collect();
    assert_eq!(types[..14], EventBody::TYPES, "one line per type, in variant order");
    let merges: Vec<&UnitsMerged> = envelopes
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::UnitsMerged(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(merges.iter().any(|m| m.new_target.is_some()), "a merger into a new target");
    assert!(merges.iter().any(|m| m.target.is_some()), "a merger into an existing target");
}

#[test]
fn golden_events_pass_the_second_decoding_stage() {
    for envelope in golden_envelopes() {
        validate(&envelope).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_undecodable_example_is_what_the_codec_says_of_its_payload() {
    let error = cloudevents::decode_json(UNDECODABLE_PAYLOAD.as_bytes()).unwrap_err();
    assert_eq!(error.code, ReasonCode::UnknownEventType);
    assert_eq!(error.message, UNDECODABLE_MESSAGE);
    assert_eq!((error.source.as_deref(), error.id.as_deref()), (Some(SOURCE), Some("NH-2015-0016")));
}
