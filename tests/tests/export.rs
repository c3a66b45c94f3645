//! The ledger export an auditor checks offline: written from a real ledger
//! on disk, checked with no ledger at all, and every kind of tampering —
//! a flipped bit anywhere, a changed value, a deleted, repeated or
//! swapped entry — named by the first sequence it breaks.

use muster_ledger::export::{verify_export, write_export, ExportError};
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::wire::Envelope;
use std::path::Path;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/examples/events.jsonl");

/// A ledger of the example events (63, one rejected) and its export.
fn exported(dir: &Path) -> (Ledger, Vec<u8>) {
    let mut ledger = Ledger::open(&LedgerConfig::new(dir)).unwrap();
    let events: Vec<Incoming> =
        std::fs::read_to_string(EXAMPLE).unwrap().lines().map(|l| Incoming::json(l.as_bytes())).collect();
    for (i, batch) in events.chunks(20).enumerate() {
        ledger.submit_batch(batch.to_vec(), 1_700_000_000_000 + i as u64).unwrap();
    }
    let mut file = Vec::new();
    let written = write_export(&ledger, &mut file).unwrap();
    assert_eq!((written.entries, written.head_hash), (63, ledger.verify().unwrap().head_hash));
    (ledger, file)
}

fn check(file: &[u8]) -> Result<muster_ledger::VerifyReport, ExportError> {
    verify_export(&mut std::io::Cursor::new(file))
}

/// The first bad sequence a broken export is refused at.
fn first_bad(file: &[u8]) -> u64 {
    match check(file) {
        Err(ExportError::Broken { seq, .. }) => seq,
        other => panic!("not refused as a broken chain: {other:?}"),
    }
}

fn lines(file: &[u8]) -> Vec<Vec<u8>> {
    file.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

#[test]
fn an_export_checks_offline_to_the_ledgers_own_head() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, file) = exported(dir.path());
    let report = check(&file).unwrap();
    assert_eq!((report.entries, report.head_hash), (63, ledger.verify().unwrap().head_hash));
    assert_eq!(lines(&file).len(), 64, "a header and one line per entry");
}

#[test]
fn a_flipped_bit_anywhere_is_named_by_the_entry_it_is_in() {
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = exported(dir.path());
    // The sequence each byte belongs to (0: the header); a line's newline
    // belongs to the line it ends.
    let mut owner = Vec::with_capacity(file.len());
    for (seq, line) in lines(&file).iter().enumerate() {
        owner.extend(std::iter::repeat_n(seq as u64, line.len()));
    }
    // Every 7th byte and every bit of it in turn: a third of the bytes.
    let mut flips = 0;
    for position in (0..file.len()).step_by(7) {
        let mut tampered = file.clone();
        tampered[position] ^= 1 << (position % 8);
        match (owner[position], check(&tampered)) {
            (0, Err(ExportError::NotAnExport(_))) => {}
            (seq, Err(ExportError::Broken { seq: named, reason })) => {
                assert_eq!(named, seq, "a bit flipped at byte {position} is in entry {seq}: {reason}")
            }
            (seq, other) => panic!("a bit flipped at byte {position} (entry {seq}) was not caught: {other:?}"),
        }
        flips += 1;
    }
    assert!(flips > 1000, "{flips} flips");
}

#[test]
fn changed_deleted_repeated_and_swapped_entries_are_named_by_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = exported(dir.path());
    let lines = lines(&file);
    let joined = |lines: &[Vec<u8>]| lines.concat();
    let text = |seq: usize| String::from_utf8(lines[seq].clone()).unwrap();

    // A value changed to another valid one: the JSON is canonical, the hash is not.
    let (seq, from) = (1..lines.len()).find_map(|s| text(s).contains("NH-PS1").then_some((s, "NH-PS1"))).unwrap();
    let mut changed = lines.clone();
    changed[seq] = text(seq).replacen(from, "NH-PS2", 1).into_bytes();
    assert_eq!(first_bad(&joined(&changed)), seq as u64, "a unit id changed in entry {seq}");

    // The time an entry was recorded, moved by a millisecond.
    let mut retimed = lines.clone();
    let original = text(40);
    let at = original.find("\"recorded_at_ms\":").unwrap() + "\"recorded_at_ms\":".len();
    let digit = original.as_bytes()[at + 12];
    let mut bytes = original.clone().into_bytes();
    bytes[at + 12] = if digit == b'9' { b'8' } else { digit + 1 };
    retimed[40] = bytes;
    assert_eq!(first_bad(&joined(&retimed)), 40);

    let mut deleted = lines.clone();
    deleted.remove(30);
    assert_eq!(first_bad(&joined(&deleted)), 30, "a deleted entry");

    let mut repeated = lines.clone();
    repeated.insert(31, lines[30].clone());
    assert_eq!(first_bad(&joined(&repeated)), 31, "an entry twice");

    let mut swapped = lines.clone();
    swapped.swap(12, 13);
    assert_eq!(first_bad(&joined(&swapped)), 12, "two entries swapped");

    let mut cut = lines.clone();
    let half = cut[50].len() / 2;
    cut[50].truncate(half);
    assert_eq!(first_bad(&joined(&cut)), 50, "a line cut short");

    // A whole entry replaced by another ledger's entry 5 with the same seq.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = Ledger::open(&LedgerConfig::new(other_dir.path())).unwrap();
    let events: Vec<Incoming> =
        std::fs::read_to_string(EXAMPLE).unwrap().lines().take(5).map(|l| Incoming::json(l.as_bytes())).collect();
    other.submit_batch(events, 1).unwrap();
    let mut theirs = Vec::new();
    write_export(&other, &mut theirs).unwrap();
    let mut grafted = lines.clone();
    grafted[5] = self::lines(&theirs)[5].clone();
    assert_eq!(first_bad(&joined(&grafted)), 5, "an entry from another ledger");

    // What a lone export cannot tell: entries cut off its end. The
    // shorter chain is whole (a signed checkpoint of the head tells).
    let shortened = joined(&lines[..40]);
    assert_eq!(check(&shortened).unwrap().entries, 39);
}

#[test]
fn what_is_not_an_export_is_refused_as_such() {
    for bad in [&b""[..], b"{}\n", b"{\"format\":\"muster-ledger-export\",\"version\":3}\n", b"hello\n"] {
        assert!(matches!(check(bad), Err(ExportError::NotAnExport(_))), "{:?}", String::from_utf8_lossy(bad));
    }
    let header = muster_proto::export::header_line();
    assert_eq!(check(&header).unwrap().entries, 0, "an empty ledger's export");
}

/// Version 2 writes what every other JSON of Muster writes: snake_case
/// tags, hex hashes, and the event as the CloudEvent it was.
#[test]
fn an_export_uses_the_json_conventions_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = exported(dir.path());
    let lines = lines(&file);
    assert_eq!(lines[0], b"{\"format\":\"muster-ledger-export\",\"version\":2}\n");
    let first: serde_json::Value = serde_json::from_slice(&lines[1]).unwrap();
    assert_eq!(first["submission"]["kind"], "event");
    assert_eq!(first["submission"]["event"]["id"], "nanhu-0001");
    assert_eq!(first["submission"]["event"]["type"], "org.muster.unit.established.v1");
    assert_eq!(first["outcome"]["status"], "accepted");
    let hash = first["hash"].as_str().expect("a hex hash");
    assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{hash}");
    let text = String::from_utf8(lines[1].clone()).unwrap();
    assert!(text.contains("\"event\":{\"specversion\":\"1.0\",\"id\":\"nanhu-0001\""), "in CloudEvents order: {text}");
    let rejected = lines.iter().skip(1).map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap());
    let rejected: Vec<_> = rejected.filter(|l| l["outcome"]["status"] == "rejected").collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["outcome"]["code"], "staff_not_in_unit");
    for tag in ["\"Event\"", "\"Accepted\"", "\"Rejected\"", "\"UnitEstablished\""] {
        assert!(!file.windows(tag.len()).any(|w| w == tag.as_bytes()), "{tag} in a version 2 export");
    }
}

/// An export written before version 2 (the serde form of the stored
/// entry, as 2dff5c6 wrote it: `tests/fixtures/export-v1.jsonl`, the
/// example events at `exported`'s fixed times) still verifies — each line
/// byte for byte as version 1 renders it — and tampering with it is still
/// named by its sequence. Frozen: version 1 never changes, so a change
/// that would leave old exports unreadable fails here.
#[test]
fn a_version_1_export_still_verifies() {
    let v1 = std::fs::read(V1_FIXTURE).expect("the version 1 fixture");
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = exported(dir.path());
    let report = check(&v1).unwrap();
    assert_eq!((report.entries, report.head_hash), (63, ledger.verify().unwrap().head_hash));
    let text = String::from_utf8(v1).unwrap();
    assert!(text.starts_with("{\"format\":\"muster-ledger-export\",\"version\":1}\n"));
    assert!(text.contains("{\"Event\":") && text.contains("\"hash\":["), "the version 1 form");
    let tampered = text.replacen("NH-PS1", "NH-PS2", 1).into_bytes();
    assert!(matches!(check(&tampered), Err(ExportError::Broken { .. })));
}

const V1_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/export-v1.jsonl");

/// What JSON cannot carry as a CloudEvent — a payload that did not decode,
/// an event sent as bincode — is exported as hex and verifies.
#[test]
fn undecodable_and_bincode_submissions_export_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&LedgerConfig::new(dir.path())).unwrap();
    let line = std::fs::read_to_string(EXAMPLE).unwrap().lines().next().unwrap().to_owned();
    let envelope = muster_proto::cloudevents::decode_json(line.as_bytes()).unwrap();
    let broken =
        br#"{"specversion":"1.0","id":"bad-1","source":"hr/nanhu","type":"org.muster.unit.established.v1","data":7}"#;
    // As bincode it fits the payload limit; as JSON (each control
    // character six bytes) it would not: exported as its bincode.
    let too_big_for_json = muster_proto::wire::Envelope { note: Some("\u{1}".repeat(200_000)), ..envelope.clone() };
    let submissions = vec![
        Incoming::bincode(&muster_proto::codec::encode_envelope(&envelope)),
        Incoming::bincode(&muster_proto::codec::encode_envelope(&Envelope { id: "big-1".into(), ..too_big_for_json })),
        Incoming::json(broken),
        Incoming::Undecodable {
            error: muster_proto::DecodeError {
                code: muster_proto::ReasonCode::MalformedPayload,
                message: "not JSON".into(),
                id: Some("raw-1".into()),
                source: Some("hr/nanhu".into()),
            },
            content_type: "application/octet-stream".into(),
            payload: vec![0, 159, 146, 150, 255],
        },
    ];
    ledger.submit_batch(submissions, 1).unwrap();
    let mut file = Vec::new();
    write_export(&ledger, &mut file).unwrap();
    let kinds: Vec<String> = lines(&file)[1..]
        .iter()
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap()["submission"]["kind"].to_string())
        .collect();
    assert_eq!(kinds, ["\"event\"", "\"event_bincode\"", "\"undecodable\"", "\"undecodable\""]);
    assert!(String::from_utf8_lossy(&file).contains("\"payload_hex\":\"009f9296ff\""));
    assert_eq!(check(&file).unwrap().entries, 4);
}
