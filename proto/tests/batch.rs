//! CloudEvents' batched content mode (`application/cloudevents-batch+json`):
//! a JSON array of structured-mode events, split into its events' texts so
//! that each is decoded, and answered, as if it had come alone.

use muster_domain::ReasonCode;
use muster_proto::cloudevents::{self, decode_json, encode_batch, split_batch};
use muster_proto::limits::{BATCH_MESSAGE_EVENTS_MAX, PAYLOAD_BYTES_MAX};

const GOLDEN: &str = include_str!("../golden/events.jsonl");

fn golden_lines() -> Vec<&'static [u8]> {
    GOLDEN.lines().map(str::as_bytes).collect()
}

fn refused(bytes: &[u8]) -> (ReasonCode, String) {
    let error = split_batch(bytes).expect_err("a batch that must be refused");
    assert_eq!((error.id.as_deref(), error.source.as_deref()), (None, None), "a whole batch names no event");
    (error.code, error.message)
}

#[test]
fn a_batch_of_the_golden_events_splits_into_the_same_events_in_order() {
    let lines = golden_lines();
    let batch = encode_batch(lines.iter().copied());
    let events = split_batch(&batch).unwrap();
    assert_eq!(events.len(), lines.len());
    for (event, line) in events.iter().zip(&lines) {
        assert_eq!(event.get().as_bytes(), *line, "the event's own bytes, untouched");
        assert_eq!(decode_json(event.get().as_bytes()), decode_json(line));
    }
}

#[test]
fn white_space_around_events_is_not_part_of_them() {
    let line = golden_lines()[0];
    let spaced = [b"[ \n".as_slice(), line, b" ,\r\n\t", line, b" ]\n"].concat();
    let events = split_batch(&spaced).unwrap();
    assert_eq!(events.iter().map(|e| e.get().as_bytes()).collect::<Vec<_>>(), vec![line, line]);
}

#[test]
fn an_element_that_is_not_an_event_is_split_out_and_rejected_on_its_own() {
    let line = golden_lines()[0];
    let broken_data = br#"{"specversion":"1.0","id":"x-1","source":"hr/x","type":"org.muster.staff.joined.v1","effectivedate":"2015-01-01","data":{"staff":"S1"}}"#;
    let batch = encode_batch([line, b"42".as_slice(), broken_data.as_slice(), b"{\"id\":1,\"id\":2}".as_slice()]);
    let events = split_batch(&batch).unwrap();
    assert_eq!(events.len(), 4);
    assert!(decode_json(events[0].get().as_bytes()).is_ok());
    assert_eq!(decode_json(events[1].get().as_bytes()).unwrap_err().code, ReasonCode::MalformedPayload);
    let missing = decode_json(events[2].get().as_bytes()).unwrap_err();
    assert_eq!(
        (missing.code, missing.source.as_deref(), missing.id.as_deref()),
        (ReasonCode::MissingField, Some("hr/x"), Some("x-1")),
        "a bad event in a batch still names its key, so it gets a rejected receipt"
    );
    assert_eq!(decode_json(events[3].get().as_bytes()).unwrap_err().code, ReasonCode::MalformedPayload);
}

#[test]
fn a_batch_that_is_not_a_json_array_of_events_is_refused_whole() {
    let line = std::str::from_utf8(golden_lines()[0]).unwrap();
    for bad in [
        String::new(),
        "[".into(),
        "[]".into(),
        " [ ] ".into(),
        line.into(),
        format!("[{line}"),
        format!("[{line},]"),
        format!("[{line}] [{line}]"),
        format!("[{line}]x"),
        format!("[{}]", &line[..line.len() - 1]),
        "{\"events\":[]}".into(),
        "null".into(),
    ] {
        let (code, message) = refused(bad.as_bytes());
        assert_eq!(code, ReasonCode::MalformedPayload, "{bad:?}: {message}");
    }
}

#[test]
fn limits_on_a_batch_are_its_bytes_and_its_events() {
    let smallest = b"{}".as_slice();
    let at_limit = encode_batch(std::iter::repeat_n(smallest, BATCH_MESSAGE_EVENTS_MAX));
    assert_eq!(split_batch(&at_limit).unwrap().len(), BATCH_MESSAGE_EVENTS_MAX);

    let over = encode_batch(std::iter::repeat_n(smallest, BATCH_MESSAGE_EVENTS_MAX + 1));
    let (code, message) = refused(&over);
    assert_eq!(code, ReasonCode::PayloadTooLarge, "{message}");
    assert!(message.contains(&BATCH_MESSAGE_EVENTS_MAX.to_string()), "{message}");

    // Counted before anything else is read: a huge count of tiny values is
    // refused for its count, not parsed to the end.
    let many = encode_batch(std::iter::repeat_n(b"0".as_slice(), 200_000));
    assert!(many.len() <= PAYLOAD_BYTES_MAX);
    assert_eq!(refused(&many).0, ReasonCode::PayloadTooLarge);

    let mut huge = b"[{\"note\":\"".to_vec();
    huge.resize(PAYLOAD_BYTES_MAX, b'x');
    huge.extend_from_slice(b"\"}]");
    let (code, message) = refused(&huge);
    assert_eq!(code, ReasonCode::PayloadTooLarge, "{message}");
}

#[test]
fn the_content_types_differ() {
    assert_ne!(cloudevents::BATCH_CONTENT_TYPE, cloudevents::CONTENT_TYPE);
    assert_eq!(cloudevents::BATCH_CONTENT_TYPE, "application/cloudevents-batch+json");
}
