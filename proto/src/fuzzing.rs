//! The bodies of Muster's fuzz targets, one function per target, each
//! taking untrusted bytes and asserting what must hold for *any* input:
//! no panic, every limit enforced, and what decodes re-encodes to itself.
//!
//! `fuzz/fuzz_targets/*.rs` hand these to libFuzzer (`bash ops/fuzz.sh`);
//! `tests/tests/fuzz_corpus.rs` replays the checked-in corpus
//! (`fuzz/corpus/<target>/`) through them on stable Rust, in CI. Behind
//! the `fuzzing` feature: nothing here is part of the contract.

use crate::intake::{Incoming, IntakeMessage};
use crate::validate::{validate, Validated};
use crate::{checkpoint, cloudevents, codec, export, limits};
use muster_domain::{Date, Event, ReasonCode, Seq, Timeline};
use std::collections::HashMap;

/// A target: its name (its corpus directory's) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: [Target; 6] = [
    ("json_event", json_event),
    ("bincode_envelope", bincode_envelope),
    ("batch", batch),
    ("ledger_files", ledger_files),
    ("validator", validator),
    ("intake", intake),
];

/// A structured-mode CloudEvent: decoding never panics; what decodes
/// validates or is refused with a code, and re-encodes to JSON that
/// decodes to the same envelope, and to bincode that does too.
pub fn json_event(data: &[u8]) {
    let Ok(envelope) = cloudevents::decode_json(data) else { return };
    assert!(data.len() <= limits::PAYLOAD_BYTES_MAX, "a payload over the limit decoded");
    let json = cloudevents::encode_json(&envelope);
    assert_eq!(cloudevents::decode_json(&json).as_ref(), Ok(&envelope), "JSON round trip");
    let bincode = codec::encode_envelope(&envelope);
    assert_eq!(codec::decode_envelope(&bincode).as_ref(), Ok(&envelope), "bincode round trip");
    let _ = validate(&envelope);
}

/// A bincode envelope: decoding never panics or over-allocates; what
/// decodes re-encodes to bytes that decode to the same envelope.
///
/// Not asserted: that those are the bytes received. bincode 2.0.1 reads a
/// varint written longer than it need be (`252, 0, 0, 0, 0` for 0: found
/// by this target), so several byte strings decode to one envelope. That
/// is harmless here: a duplicate is the same *decoded* content, and a
/// stored entry's hash covers the bytes as stored.
pub fn bincode_envelope(data: &[u8]) {
    let Ok(envelope) = codec::decode_envelope(data) else { return };
    let again = codec::encode_envelope(&envelope);
    assert_eq!(codec::decode_envelope(&again).as_ref(), Ok(&envelope), "bincode round trip");
    let _ = validate(&envelope);
}

/// A batched-mode message: split within its limits, each event decoded
/// alone.
pub fn batch(data: &[u8]) {
    let Ok(events) = cloudevents::split_batch(data) else { return };
    assert!((1..=limits::BATCH_MESSAGE_EVENTS_MAX).contains(&events.len()));
    for event in events {
        json_event(event.get().as_bytes());
    }
}

/// An intake message as the ledger reads it: the first byte picks the
/// content type and whether the subject is the source's own; the rest is
/// the payload. Decoding never panics; a message is at least one and at
/// most `BATCH_MESSAGE_EVENTS_MAX` submissions; an event off its source's
/// subject is never decoded, and is keyless (a dead letter), so it can
/// take no source's key.
pub fn intake(data: &[u8]) {
    let Some((&choice, payload)) = data.split_first() else { return };
    let content_types =
        [Some(cloudevents::CONTENT_TYPE), Some(cloudevents::BATCH_CONTENT_TYPE), Some(codec::CONTENT_TYPE), None];
    let message = IntakeMessage {
        subject: "fuzz.intake.own",
        content_type: content_types[usize::from(choice) % content_types.len()],
        id: (choice & 0x10 != 0).then_some("header-id"),
        source: (choice & 0x20 != 0).then_some("header-source"),
        payload,
    };
    // Sources of an even length are the subject's own.
    let own = |_: &str, source: &str| source.len().is_multiple_of(2) || choice & 0x40 != 0;
    let events = crate::intake::events(&message, own);
    assert!((1..=limits::BATCH_MESSAGE_EVENTS_MAX).contains(&events.len()), "{} submissions", events.len());
    for event in events {
        match event {
            Incoming::Decoded(envelope) => assert!(own("", &envelope.source), "an event off its subject decoded"),
            Incoming::Undecodable { error, .. } if error.code == muster_domain::ReasonCode::SourceNotOfSubject => {
                assert!(error.id.is_none() && error.source.is_none(), "an event off its subject kept a key")
            }
            Incoming::Undecodable { .. } => {}
        }
    }
}

/// What an auditor or a replica reads from a file or the bus: a stored
/// entry (bincode), an export line, a checkpoint. Decoding never panics;
/// what decodes re-encodes to itself.
pub fn ledger_files(data: &[u8]) {
    if let Ok(entry) = codec::decode_stored_entry(data) {
        let again = codec::encode_stored_entry(&entry);
        assert_eq!(codec::decode_stored_entry(&again).as_ref(), Ok(&entry), "stored entry round trip");
    }
    for version in export::VERSIONS_READ {
        if let Ok(entry) = export::read_entry_line(data, version) {
            let line = export::entry_line_of(&entry, version);
            assert_eq!(export::read_entry_line(&line[..line.len() - 1], version).as_ref(), Ok(&entry));
        }
    }
    let _ = export::check_header(data);
    if let Ok(checkpoint) = checkpoint::decode(data) {
        assert_eq!(checkpoint::decode(&checkpoint::encode(&checkpoint)).as_ref(), Ok(&checkpoint));
    }
}

/// The validator over arbitrary event sequences: the bytes become a
/// sequence of events over a few units and staff members on days that
/// go back and forth (so backdating, conflicts, mergers of merged units
/// and retractions all happen), each decoded, validated and decided by
/// a full timeline and by a decisions-only one (the ledger service's),
/// which must agree; nothing may panic, and no headcount may go negative.
pub fn validator(data: &[u8]) {
    let mut full = Timeline::new();
    let mut lean = Timeline::for_decisions();
    let mut recorded: HashMap<String, Seq> = HashMap::new();
    let mut bytes = Bytes(data);
    let mut seq: Seq = 0;
    // A bureau to start from (so the bytes spend themselves on moves, not
    // on naming units that do not exist), then the fuzzer's events.
    let mut prelude = prelude().into_iter();
    while let Some(json) = prelude.next().or_else(|| next_event(&mut bytes, seq + 1)) {
        seq += 1;
        let envelope = cloudevents::decode_json(json.as_bytes())
            .unwrap_or_else(|e| panic!("a generated event must decode: {e}\n{json}"));
        recorded.insert(envelope.id.clone(), seq);
        let (date, event): (Date, Event) = match validate(&envelope) {
            Ok(Validated::Event { date, event }) => (date, event),
            Ok(Validated::Retraction { date, target_id, reason, .. }) => match recorded.get(&target_id) {
                Some(&target) if target != seq => (date, Event::EventRetracted { target, reason }),
                _ => continue,
            },
            Err(error) => {
                assert_ne!(error.code, ReasonCode::MalformedPayload, "{json}");
                continue;
            }
        };
        let a = full.decide(seq, date, &event).map(|decision| full.apply(decision)).map_err(|r| r.code);
        let b = lean.decide(seq, date, &event).map(|decision| lean.apply(decision)).map_err(|r| r.code);
        assert_eq!(a, b, "decisions-only timeline decided event {seq} differently: {json}");
    }
    // Every unit's headcount on every day an event named: never negative
    // (the count index asserts it), and the tree answers.
    for day in 0..8u16 {
        let _ = full.tree(day_of(day * 40), None);
    }
}

/// The fuzzer's bytes, read a little at a time; zeros when they run out
/// within an event, none once they ran out before one.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        first
    }
}

const UNITS: u8 = 8;
const STAFF: u8 = 16;

fn day_of(offset: u16) -> Date {
    let mut date = Date::parse("2015-01-01").expect("a day");
    for _ in 0..offset {
        date = date.next().expect("a later day");
    }
    date
}

/// Every unit established (a tree: U0 at the root) and most staff joined,
/// on the first day.
fn prelude() -> Vec<String> {
    let event = |n: u8, ty: &str, data: String| {
        format!(
            r#"{{"specversion":"1.0","id":"p{n}","source":"hr/fuzz","type":"org.muster.{ty}.v1","effectivedate":"2015-01-01","data":{data}}}"#
        )
    };
    let mut events = Vec::new();
    for unit in 0..UNITS {
        let parent = if unit == 0 { "null".to_owned() } else { format!("\"U{}\"", (unit - 1) / 2) };
        let category = if unit % 3 == 2 { "front_line" } else { "office" };
        let data = format!(r#"{{"unit":"U{unit}","name":"N","category":"{category}","parent":{parent}}}"#);
        events.push(event(unit, "unit.established", data));
    }
    for staff in 0..STAFF - 4 {
        let data = format!(r#"{{"staff":"S{staff}","unit":"U{}"}}"#, staff % UNITS);
        events.push(event(UNITS + staff, "staff.joined", data));
    }
    events
}

/// One generated CloudEvent (valid JSON; its content may be anything the
/// validator must judge), or `None` when the bytes are spent.
fn next_event(bytes: &mut Bytes<'_>, n: Seq) -> Option<String> {
    if bytes.0.is_empty() {
        return None;
    }
    let kind = bytes.byte() % 14;
    let date = day_of(bytes.byte().into());
    let u = |b: u8| format!("\"U{}\"", b % UNITS);
    let s = |b: u8| format!("\"S{}\"", b % STAFF);
    let (a, b, c, d) = (bytes.byte(), bytes.byte(), bytes.byte(), bytes.byte());
    let category = if c % 2 == 0 { "office" } else { "front_line" };
    let parent = if b % 3 == 0 { "null".to_owned() } else { u(b) };
    let (ty, data) = match kind {
        0 => {
            ("unit.established", format!(r#"{{"unit":{},"name":"N","category":"{category}","parent":{parent}}}"#, u(a)))
        }
        1 => ("unit.renamed", format!(r#"{{"unit":{},"name":"R{d}"}}"#, u(a))),
        2 => ("unit.moved", format!(r#"{{"unit":{},"parent":{parent}}}"#, u(a))),
        3 => ("unit.reclassified", format!(r#"{{"unit":{},"category":"{category}"}}"#, u(a))),
        4 => ("unit.quota_set", format!(r#"{{"unit":{},"quota":{d}}}"#, u(a))),
        5 if d % 2 == 0 => {
            ("units.merged", format!(r#"{{"sources":[{},{}],"target":{},"new_target":null}}"#, u(a), u(b), u(c)))
        }
        5 => (
            "units.merged",
            format!(
                r#"{{"sources":[{}],"target":null,"new_target":{{"unit":"M{n}","name":"M","category":"{category}","parent":{parent}}}}}"#,
                u(a)
            ),
        ),
        6 => (
            "unit.split",
            format!(
                r#"{{"source":{},"parts":[{{"unit":"P{n}a","name":"P","category":"office"}},{{"unit":"P{n}b","name":"P","category":"{category}"}}],"posted":[{{"staff":{},"part":"P{n}a"}},{{"staff":{},"part":"P{n}b"}}],"seconded":[],"children":[{{"unit":{},"part":"P{n}b"}}]}}"#,
                u(a),
                s(b),
                s(c),
                u(d)
            ),
        ),
        7 => ("unit.dissolved", format!(r#"{{"unit":{}}}"#, u(a))),
        8 => ("staff.joined", format!(r#"{{"staff":{},"unit":{}}}"#, s(a), u(b))),
        9 => ("staff.transferred", format!(r#"{{"staff":{},"from":{},"to":{}}}"#, s(a), u(b), u(c))),
        10 => {
            let until = if d % 2 == 0 { "null".to_owned() } else { format!("\"{}\"", day_of(d.into())) };
            ("staff.seconded", format!(r#"{{"staff":{},"from":{},"to":{},"until":{until}}}"#, s(a), u(b), u(c)))
        }
        11 => ("staff.secondment_ended", format!(r#"{{"staff":{}}}"#, s(a))),
        12 => ("staff.left", format!(r#"{{"staff":{},"reason":"R"}}"#, s(a))),
        _ => (
            "event.retracted",
            format!(r#"{{"target":{{"source":"hr/fuzz","id":"e{}"}},"reason":"R"}}"#, u64::from(a) % n.max(1) + 1),
        ),
    };
    Some(format!(
        r#"{{"specversion":"1.0","id":"e{n}","source":"hr/fuzz","type":"org.muster.{ty}.v1","effectivedate":"{date}","data":{data}}}"#
    ))
}
