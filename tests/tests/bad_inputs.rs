//! The bad-input catalog: one table of malformed and invalid inputs, each
//! published over a real nats-server to the real ledger service as an HR
//! system in any language would (raw JetStream publishes with headers, no
//! Muster library), each asserting its exact outcome — the reason code, and
//! whether it is recorded as a rejection, answered without being recorded,
//! turned into a dead letter, or refused before it leaves the client — and,
//! at the end, that none of them changed anything else: the ledger holds
//! the setting's events and the recorded rejections, nothing more, and
//! answers every question exactly as a ledger of the setting alone does.

use async_nats::jetstream;
use muster_domain::Date;
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::cloudevents::{self, encode_batch};
use muster_proto::entry::{Outcome as EntryOutcome, Receipt, ReceiptStatus};
use muster_proto::{codec, limits};
use muster_publisher::{Outcome, Outgoing, Publisher, PublisherConfig};
use muster_tests::stack::Stack;
use std::time::Duration;

const SOURCE: &str = "hr/catalog";

/// A CloudEvent of `SOURCE`.
fn ce(id: &str, ty: &str, date: &str, data: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"{SOURCE}","type":"org.muster.{ty}.v1","effectivedate":"{date}","data":{data}}}"#
    )
}

/// The setting every case is published against: a bureau with an office,
/// two front-line units (one dissolved), four staff (one left, one whose
/// joining was retracted, one seconded).
fn setting() -> Vec<String> {
    let unit = |id, unit, category, parent: &str| {
        let parent = if parent.is_empty() { "null".to_owned() } else { format!("\"{parent}\"") };
        ce(
            id,
            "unit.established",
            "2015-01-01",
            &format!(r#"{{"unit":"{unit}","name":"Unit {unit}","category":"{category}","parent":{parent}}}"#),
        )
    };
    vec![
        unit("b01", "HQ", "office", ""),
        unit("b02", "U1", "office", "HQ"),
        unit("b03", "F1", "front_line", "HQ"),
        unit("b04", "F2", "front_line", "HQ"),
        ce("b05", "staff.joined", "2015-01-05", r#"{"staff":"S1","unit":"U1"}"#),
        ce("b06", "staff.joined", "2015-01-05", r#"{"staff":"S2","unit":"U1"}"#),
        ce("b07", "staff.joined", "2015-01-05", r#"{"staff":"S3","unit":"F1"}"#),
        ce("b08", "staff.seconded", "2015-02-01", r#"{"staff":"S2","from":"U1","to":"F1","until":"2015-12-31"}"#),
        ce("b09", "staff.transferred", "2015-03-01", r#"{"staff":"S1","from":"U1","to":"F1"}"#),
        ce("b10", "staff.left", "2015-06-01", r#"{"staff":"S3","reason":"retired"}"#),
        ce("b11", "staff.joined", "2015-01-05", r#"{"staff":"S4","unit":"U1"}"#),
        ce(
            "b12",
            "event.retracted",
            "2015-07-01",
            r#"{"target":{"source":"hr/catalog","id":"b11"},"reason":"keyed in twice"}"#,
        ),
        ce("b13", "unit.dissolved", "2015-09-01", r#"{"unit":"F2"}"#),
    ]
}

/// How a case is sent.
#[derive(Clone, Copy)]
enum Send {
    /// With `Content-Type` and the `Muster-Source`/`Muster-Id` headers
    /// naming (SOURCE, the case's id), as `muster-publish` does.
    Keyed(&'static str),
    /// With `Content-Type` only: nothing outside the payload names it.
    Unkeyed(&'static str),
    /// With the key headers and no `Content-Type` at all.
    NoContentType,
}

/// What must come of it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// A rejected receipt with this code, recorded as the next entry.
    Recorded(&'static str),
    /// A rejected receipt with this code and no sequence: the key cannot
    /// key the ledger's index, so nothing is stored.
    Unrecorded(&'static str),
    /// No key anywhere: a dead letter with this code, nothing recorded.
    DeadLetter(&'static str),
    /// Refused by the client before it is sent (error text contains this).
    Refused(&'static str),
}

struct Case {
    /// Its event id (what the key headers carry for `Keyed` sends).
    id: &'static str,
    /// What it is, for the failure message.
    what: &'static str,
    send: Send,
    payload: Vec<u8>,
    expect: Expect,
}

const JSON: Send = Send::Keyed(cloudevents::CONTENT_TYPE);
const BINCODE: Send = Send::Keyed(codec::CONTENT_TYPE);
const BATCH: Send = Send::Unkeyed(cloudevents::BATCH_CONTENT_TYPE);

fn case(id: &'static str, what: &'static str, send: Send, payload: impl Into<Vec<u8>>, expect: Expect) -> Case {
    Case { id, what, send, payload: payload.into(), expect }
}

/// The table. Ids are `c-…`; each case is judged against the setting and
/// the cases before it (all rejected, so against the setting alone).
fn catalog() -> Vec<Case> {
    use Expect::*;
    let joined = |id: &str, data: &str| ce(id, "staff.joined", "2015-02-01", data);
    let long = |n: usize| "x".repeat(n);
    let split = |id: &str, parent: &str, posted: &str| {
        ce(
            id,
            "unit.split",
            "2015-04-01",
            &format!(
                r#"{{"source":"U1","parts":[{{"unit":"P-{id}","name":"Part","category":"office","parent":"{parent}"}}],"posted":{posted},"seconded":[],"children":[]}}"#
            ),
        )
    };
    let retract = |id: &str, target: &str| {
        ce(
            id,
            "event.retracted",
            "2015-08-01",
            &format!(r#"{{"target":{{"source":"{SOURCE}","id":"{target}"}},"reason":"wrong"}}"#),
        )
    };
    let mut bincode_garbage = vec![codec::FORMAT_VERSION];
    bincode_garbage.extend_from_slice(&[0xff; 16]);
    let just_over_a_mebibyte = {
        let mut text = ce("c-over-1mib", "staff.left", "2015-04-01", r#"{"staff":"S1","reason":"NOTE"}"#);
        let padding = limits::PAYLOAD_BYTES_MAX + 1 - (text.len() - 4);
        text = text.replace("NOTE", &long(padding));
        assert_eq!(text.len(), limits::PAYLOAD_BYTES_MAX + 1);
        text
    };
    let e = joined("c-batch-e", r#"{"staff":"S9","unit":"U1"}"#);
    // Leaked: a case's id is `&'static str` like the literals around it.
    let long_id: &'static str = Box::leak(format!("c-long-id-{}", long(120)).into_boxed_str());
    let sixty_five_sources = (0..65).map(|i| format!("\"M{i}\"")).collect::<Vec<_>>().join(",");
    vec![
        // ---- the bytes: JSON, content types, bincode, sizes ----
        case(
            "c-broken-json",
            "broken JSON",
            JSON,
            r#"{"specversion":"1.0","id":"c-broken-json","#,
            Recorded("malformed_payload"),
        ),
        case("c-not-object", "a JSON array where an event belongs", JSON, "[1,2,3]", Recorded("malformed_payload")),
        case("c-empty", "an empty payload", JSON, "", Recorded("malformed_payload")),
        case("c-not-utf8", "bytes that are not UTF-8", JSON, vec![0xff, 0xfe, b'{'], Recorded("malformed_payload")),
        case(
            "c-repeated-key",
            "the same key twice in one object",
            JSON,
            r#"{"specversion":"1.0","id":"c-repeated-key","id":"other","source":"hr/catalog","type":"org.muster.staff.joined.v1","effectivedate":"2015-02-01","data":{"staff":"S9","unit":"U1"}}"#,
            Recorded("malformed_payload"),
        ),
        case(
            "c-text-plain",
            "content type text/plain",
            Send::Keyed("text/plain"),
            "hello",
            Recorded("unsupported_content_type"),
        ),
        case(
            "c-no-content-type",
            "no content type at all",
            Send::NoContentType,
            joined("c-no-content-type", r#"{"staff":"S9","unit":"U1"}"#),
            Recorded("unsupported_content_type"),
        ),
        case(
            "c-bincode-version",
            "bincode with an unknown format version",
            BINCODE,
            vec![7, 7, 7],
            Recorded("unsupported_version"),
        ),
        case(
            "c-bincode-garbage",
            "bincode that does not decode",
            BINCODE,
            bincode_garbage,
            Recorded("malformed_payload"),
        ),
        case("c-over-1mib", "an event of 1 MiB + 1 byte", JSON, just_over_a_mebibyte, Recorded("payload_too_large")),
        case("c-10mb", "a 10 MB payload", JSON, vec![b' '; 10 * 1024 * 1024], Refused("max payload")),
        case(
            "",
            "no id anywhere",
            Send::Unkeyed(cloudevents::CONTENT_TYPE),
            r#"{"specversion":"1.0","source":"hr/catalog"}"#,
            DeadLetter("missing_field"),
        ),
        case(
            "",
            "garbage with no key",
            Send::Unkeyed(cloudevents::CONTENT_TYPE),
            "garbage",
            DeadLetter("malformed_payload"),
        ),
        // ---- CloudEvents attributes ----
        case(
            "c-specversion",
            "specversion 0.3",
            JSON,
            ce("c-specversion", "staff.joined", "2015-02-01", r#"{"staff":"S9","unit":"U1"}"#)
                .replace("\"1.0\"", "\"0.3\""),
            Recorded("unsupported_version"),
        ),
        case(
            "c-unknown-type",
            "an unknown event type",
            JSON,
            ce("c-unknown-type", "staff.promoted", "2015-02-01", r#"{"staff":"S1"}"#),
            Recorded("unknown_event_type"),
        ),
        case(
            "c-unknown-attribute",
            "an attribute CloudEvents and Muster do not know",
            JSON,
            joined("c-unknown-attribute", r#"{"staff":"S9","unit":"U1"}"#)
                .replace("\"data\"", "\"priority\":1,\"data\""),
            Recorded("invalid_field"),
        ),
        case(
            "c-datacontenttype",
            "datacontenttype text/xml",
            JSON,
            joined("c-datacontenttype", r#"{"staff":"S9","unit":"U1"}"#)
                .replace("\"data\"", "\"datacontenttype\":\"text/xml\",\"data\""),
            Recorded("invalid_field"),
        ),
        case(
            "c-no-date",
            "no effectivedate",
            JSON,
            joined("c-no-date", r#"{"staff":"S9","unit":"U1"}"#).replace("\"effectivedate\":\"2015-02-01\",", ""),
            Recorded("missing_field"),
        ),
        case(
            "c-no-data",
            "no data",
            JSON,
            joined("c-no-data", "{}").replace(",\"data\":{}", ""),
            Recorded("missing_field"),
        ),
        case(
            "c-data-not-object",
            "data that is a string",
            JSON,
            joined("c-data-not-object", "\"S9\""),
            Recorded("invalid_field"),
        ),
        case(
            "c-id-number",
            "an id that is a number",
            JSON,
            joined("c-id-number", r#"{"staff":"S9","unit":"U1"}"#).replace("\"id\":\"c-id-number\"", "\"id\":42"),
            Recorded("invalid_field"),
        ),
        // ---- data fields: missing, extra, wrong types ----
        case(
            "c-missing-unit",
            "staff.joined without its unit",
            JSON,
            joined("c-missing-unit", r#"{"staff":"S9"}"#),
            Recorded("missing_field"),
        ),
        case(
            "c-extra-field",
            "a data field no event type has",
            JSON,
            joined("c-extra-field", r#"{"staff":"S9","unit":"U1","grade":3}"#),
            Recorded("invalid_field"),
        ),
        case(
            "c-quota-string",
            "a quota written as a string",
            JSON,
            ce("c-quota-string", "unit.quota_set", "2015-02-01", r#"{"unit":"U1","quota":"12"}"#),
            Recorded("invalid_field"),
        ),
        case(
            "c-quota-fraction",
            "a quota with a fraction",
            JSON,
            ce("c-quota-fraction", "unit.quota_set", "2015-02-01", r#"{"unit":"U1","quota":12.5}"#),
            Recorded("invalid_field"),
        ),
        case(
            "c-quota-negative",
            "a negative quota",
            JSON,
            ce("c-quota-negative", "unit.quota_set", "2015-02-01", r#"{"unit":"U1","quota":-1}"#),
            Recorded("invalid_field"),
        ),
        case(
            "c-category",
            "a category that is neither office nor front_line",
            JSON,
            ce("c-category", "unit.reclassified", "2015-02-01", r#"{"unit":"U1","category":"reserve"}"#),
            Recorded("invalid_field"),
        ),
        case(
            "c-blank-reason",
            "a blank reason",
            JSON,
            ce("c-blank-reason", "staff.left", "2015-04-01", r#"{"staff":"S1","reason":"  "}"#),
            Recorded("invalid_field"),
        ),
        case(
            "c-control-char",
            "a control character in a name",
            JSON,
            ce("c-control-char", "unit.renamed", "2015-04-01", r#"{"unit":"U1","name":"Bad\u0007name"}"#),
            Recorded("invalid_field"),
        ),
        case(
            "c-space-in-unit-id",
            "white space in a unit id",
            JSON,
            joined("c-space-in-unit-id", r#"{"staff":"S9","unit":"U 1"}"#),
            Recorded("invalid_field"),
        ),
        // ---- dates ----
        case(
            "c-feb-29",
            "2015-02-29, a day that does not exist",
            JSON,
            ce("c-feb-29", "staff.joined", "2015-02-29", r#"{"staff":"S9","unit":"U1"}"#),
            Recorded("invalid_date"),
        ),
        case(
            "c-1899",
            "a date before 1900-01-01",
            JSON,
            ce("c-1899", "staff.joined", "1899-12-31", r#"{"staff":"S9","unit":"U1"}"#),
            Recorded("invalid_date"),
        ),
        case(
            "c-2200",
            "a date after 2199-12-31",
            JSON,
            ce("c-2200", "staff.joined", "2200-01-01", r#"{"staff":"S9","unit":"U1"}"#),
            Recorded("invalid_date"),
        ),
        case(
            "c-date-time",
            "a date with a time",
            JSON,
            ce("c-date-time", "staff.joined", "2015-02-01T08:00:00Z", r#"{"staff":"S9","unit":"U1"}"#),
            Recorded("invalid_date"),
        ),
        case(
            "c-bad-until",
            "an until that is not a date",
            JSON,
            ce("c-bad-until", "staff.seconded", "2015-04-01", r#"{"staff":"S1","from":"F1","to":"U1","until":"soon"}"#),
            Recorded("invalid_date"),
        ),
        // ---- sizes of fields and lists ----
        case(
            "c-long-unit-id",
            "a unit id of 129 bytes",
            JSON,
            joined("c-long-unit-id", &format!(r#"{{"staff":"S9","unit":"{}"}}"#, long(129))),
            Recorded("field_too_long"),
        ),
        case(
            "c-long-name",
            "a unit name of 201 bytes",
            JSON,
            ce("c-long-name", "unit.renamed", "2015-04-01", &format!(r#"{{"unit":"U1","name":"{}"}}"#, long(201))),
            Recorded("field_too_long"),
        ),
        case(
            "c-long-note",
            "a note of 2,001 bytes",
            JSON,
            joined("c-long-note", r#"{"staff":"S9","unit":"U1"}"#)
                .replace("\"data\"", &format!("\"note\":\"{}\",\"data\"", long(2001))),
            Recorded("field_too_long"),
        ),
        case(
            "c-65-sources",
            "a merger of 65 units",
            JSON,
            ce(
                "c-65-sources",
                "units.merged",
                "2015-04-01",
                &format!(r#"{{"sources":[{sixty_five_sources}],"target":"F1","new_target":null}}"#),
            ),
            Recorded("field_too_long"),
        ),
        case(
            long_id,
            "an event id of 130 bytes",
            JSON,
            joined(long_id, r#"{"staff":"S9","unit":"U1"}"#),
            Unrecorded("field_too_long"),
        ),
        case(
            "c id with spaces",
            "an event id with white space",
            JSON,
            joined("c id with spaces", r#"{"staff":"S9","unit":"U1"}"#),
            Unrecorded("invalid_field"),
        ),
        // ---- batched mode ----
        case(
            "c-elsewhere",
            "an event of another source, on this source's subject",
            JSON,
            joined("c-elsewhere", r#"{"staff":"S9","unit":"U1"}"#).replace(SOURCE, "hr/elsewhere"),
            DeadLetter("source_not_of_subject"),
        ),
        case("", "a batch that is not a JSON array", BATCH, e.clone(), DeadLetter("malformed_payload")),
        case("", "a batch cut short", BATCH, format!("[{e},"), DeadLetter("malformed_payload")),
        case("", "an empty batch", BATCH, "[]", DeadLetter("malformed_payload")),
        case(
            "",
            "a batch of 1,025 events",
            BATCH,
            encode_batch(std::iter::repeat_n(e.as_bytes(), 1025)),
            DeadLetter("payload_too_large"),
        ),
        // ---- every domain reason code, against the setting ----
        case(
            "b05",
            "a known id with other content",
            JSON,
            ce("b05", "staff.joined", "2015-01-05", r#"{"staff":"S1","unit":"F1"}"#),
            Recorded("duplicate_id_different_content"),
        ),
        case(
            "c-unit-unknown",
            "a unit never established",
            JSON,
            joined("c-unit-unknown", r#"{"staff":"S9","unit":"NOPE"}"#),
            Recorded("unit_unknown"),
        ),
        case(
            "c-unit-not-active",
            "a unit already dissolved",
            JSON,
            ce("c-unit-not-active", "staff.joined", "2015-10-01", r#"{"staff":"S9","unit":"F2"}"#),
            Recorded("unit_not_active"),
        ),
        case(
            "c-unit-id-used",
            "a unit id used before",
            JSON,
            ce(
                "c-unit-id-used",
                "unit.established",
                "2015-04-01",
                r#"{"unit":"U1","name":"Again","category":"office"}"#,
            ),
            Recorded("unit_id_already_used"),
        ),
        case(
            "c-duplicate-unit",
            "the same unit twice among merger sources",
            JSON,
            ce(
                "c-duplicate-unit",
                "units.merged",
                "2015-04-01",
                r#"{"sources":["U1","U1"],"target":"F1","new_target":null}"#,
            ),
            Recorded("duplicate_unit_in_event"),
        ),
        case(
            "c-cycle",
            "a unit moved under its own child",
            JSON,
            ce("c-cycle", "unit.moved", "2015-04-01", r#"{"unit":"HQ","parent":"U1"}"#),
            Recorded("unit_cycle"),
        ),
        case(
            "c-category-unchanged",
            "a reclassification to the same category",
            JSON,
            ce("c-category-unchanged", "unit.reclassified", "2015-04-01", r#"{"unit":"U1","category":"office"}"#),
            Recorded("category_unchanged"),
        ),
        case(
            "c-merge-inside",
            "a merger into a unit below its source",
            JSON,
            ce("c-merge-inside", "units.merged", "2015-04-01", r#"{"sources":["HQ"],"target":"F1","new_target":null}"#),
            Recorded("merge_target_inside_sources"),
        ),
        case(
            "c-split-inside",
            "a split part under the unit split",
            JSON,
            split("c-split-inside", "U1", r#"[{"staff":"S2","part":"P-c-split-inside"}]"#),
            Recorded("split_part_inside_source"),
        ),
        case(
            "c-split-incomplete",
            "a split that leaves a member out",
            JSON,
            split("c-split-incomplete", "HQ", "[]"),
            Recorded("split_allocation_incomplete"),
        ),
        case(
            "c-split-extra",
            "a split that allocates a member not there",
            JSON,
            split(
                "c-split-extra",
                "HQ",
                r#"[{"staff":"S2","part":"P-c-split-extra"},{"staff":"S1","part":"P-c-split-extra"}]"#,
            ),
            Recorded("split_allocation_extra"),
        ),
        case(
            "c-split-unknown-part",
            "a split that allocates to a unit not its part",
            JSON,
            split("c-split-unknown-part", "HQ", r#"[{"staff":"S2","part":"F1"}]"#),
            Recorded("split_allocation_unknown_part"),
        ),
        case(
            "c-not-empty",
            "a unit dissolved with staff in it",
            JSON,
            ce("c-not-empty", "unit.dissolved", "2015-04-01", r#"{"unit":"U1"}"#),
            Recorded("unit_not_empty"),
        ),
        case(
            "c-staff-unknown",
            "a staff member who never joined",
            JSON,
            ce("c-staff-unknown", "staff.transferred", "2015-04-01", r#"{"staff":"S99","from":"U1","to":"F1"}"#),
            Recorded("staff_unknown"),
        ),
        case(
            "c-already-active",
            "a member joining twice",
            JSON,
            ce("c-already-active", "staff.joined", "2015-04-01", r#"{"staff":"S1","unit":"U1"}"#),
            Recorded("staff_already_active"),
        ),
        case(
            "c-not-active",
            "a member moved after leaving",
            JSON,
            ce("c-not-active", "staff.transferred", "2015-07-01", r#"{"staff":"S3","from":"F1","to":"U1"}"#),
            Recorded("staff_not_active"),
        ),
        case(
            "c-not-in-unit",
            "a transfer from a unit the member is not in",
            JSON,
            ce("c-not-in-unit", "staff.transferred", "2015-04-01", r#"{"staff":"S1","from":"U1","to":"F1"}"#),
            Recorded("staff_not_in_unit"),
        ),
        case(
            "c-same-unit",
            "a transfer to the member's own unit",
            JSON,
            ce("c-same-unit", "staff.transferred", "2015-04-01", r#"{"staff":"S1","from":"F1","to":"F1"}"#),
            Recorded("same_unit"),
        ),
        case(
            "c-already-seconded",
            "a second secondment at once",
            JSON,
            ce("c-already-seconded", "staff.seconded", "2015-04-01", r#"{"staff":"S2","from":"U1","to":"F1"}"#),
            Recorded("already_seconded"),
        ),
        case(
            "c-not-seconded",
            "ending a secondment that is not there",
            JSON,
            ce("c-not-seconded", "staff.secondment_ended", "2015-04-01", r#"{"staff":"S1"}"#),
            Recorded("not_seconded"),
        ),
        case(
            "c-until-before",
            "a secondment ending before it starts",
            JSON,
            ce(
                "c-until-before",
                "staff.seconded",
                "2015-04-01",
                r#"{"staff":"S1","from":"F1","to":"U1","until":"2015-03-31"}"#,
            ),
            Recorded("until_before_effective_date"),
        ),
        case(
            "c-retract-unknown",
            "retracting an event never recorded",
            JSON,
            retract("c-retract-unknown", "nope"),
            Recorded("retraction_target_unknown"),
        ),
        case(
            "c-retract-rejected",
            "retracting a rejected event",
            JSON,
            retract("c-retract-rejected", "c-unit-unknown"),
            Recorded("retraction_target_rejected"),
        ),
        case(
            "c-retract-retraction",
            "retracting a retraction",
            JSON,
            retract("c-retract-retraction", "b12"),
            Recorded("retraction_target_is_retraction"),
        ),
        case(
            "c-retract-again",
            "retracting an event already retracted",
            JSON,
            retract("c-retract-again", "b11"),
            Recorded("already_retracted"),
        ),
        case(
            "c-conflict",
            "a backdated departure before a later transfer",
            JSON,
            ce("c-conflict", "staff.left", "2015-02-15", r#"{"staff":"S1","reason":"resigned"}"#),
            Recorded("conflicts_with_later_event"),
        ),
    ]
}

/// The bus as an HR system and an operator see it.
struct Bus {
    js: jetstream::Context,
    receipts: async_nats::Subscriber,
    topology: muster_bus::Topology,
}

impl Bus {
    async fn send(&self, case: &Case) -> Result<(), String> {
        let mut headers = async_nats::HeaderMap::new();
        match case.send {
            Send::Keyed(content_type) => {
                headers.insert(muster_bus::CONTENT_TYPE_HEADER, content_type);
                headers.insert(muster_bus::SOURCE_HEADER, SOURCE);
                headers.insert(muster_bus::ID_HEADER, case.id);
            }
            Send::Unkeyed(content_type) => headers.insert(muster_bus::CONTENT_TYPE_HEADER, content_type),
            Send::NoContentType => {
                headers.insert(muster_bus::SOURCE_HEADER, SOURCE);
                headers.insert(muster_bus::ID_HEADER, case.id);
            }
        }
        let subject = self.topology.intake_subject(SOURCE);
        let ack = self.js.publish_with_headers(subject, headers, case.payload.clone().into()).await;
        ack.map_err(|e| e.to_string())?.await.map(drop).map_err(|e| e.to_string())
    }

    /// The next receipts message: exactly one receipt.
    async fn receipt(&mut self) -> Receipt {
        let message = tokio::time::timeout(Duration::from_secs(20), futures_util::StreamExt::next(&mut self.receipts))
            .await
            .expect("a receipt within 20 s")
            .expect("subscription open");
        let mut receipts: Vec<Receipt> = serde_json::from_slice(&message.payload).expect("receipts");
        assert_eq!(receipts.len(), 1, "one event, one receipt: {receipts:?}");
        receipts.pop().unwrap()
    }
}

/// A ledger of the setting alone, built in process, to compare with.
fn setting_alone(dir: &std::path::Path) -> Ledger {
    let mut ledger = Ledger::open(&LedgerConfig::new(dir)).unwrap();
    let receipts = ledger.submit_batch(setting().iter().map(|e| Incoming::json(e.as_bytes())).collect(), 1).unwrap();
    assert!(receipts.iter().all(|r| r.status == ReceiptStatus::Accepted), "{receipts:?}");
    ledger
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_exact_rejection_and_changes_nothing_else() {
    let catalog = catalog();
    assert!(catalog.len() >= 30, "the catalog holds {} cases", catalog.len());
    let covered: std::collections::BTreeSet<&str> = catalog
        .iter()
        .filter_map(|c| match c.expect {
            Expect::Recorded(code) | Expect::Unrecorded(code) | Expect::DeadLetter(code) => Some(code),
            Expect::Refused(_) => None,
        })
        .collect();
    for code in muster_domain::ReasonCode::ALL {
        assert!(covered.contains(code.as_str()), "no case in the catalog yields `{code}`");
    }
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let client = stack.client().await;
    let topology = stack.topology();

    // The setting, through the publisher library: all accepted.
    let setting_events: Vec<Outgoing> = setting()
        .into_iter()
        .map(|e| muster_publisher::input::from_json_line(1, e.as_bytes(), muster_publisher::input::Encoding::Json))
        .collect::<Result<_, _>>()
        .expect("the setting decodes");
    let config = PublisherConfig { receipt_wait: Duration::from_secs(5), ..PublisherConfig::default() };
    let outcomes = Publisher::new(client.clone(), topology.clone(), config).publish_all(setting_events, |_| {}).await;
    for outcome in outcomes.expect("the setting is published") {
        assert!(matches!(&outcome, Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted), "{outcome:?}");
    }
    let setting_len = setting().len() as u64;

    let receipts = client.subscribe(format!("{}.receipts.>", topology.prefix)).await.unwrap();
    client.flush().await.unwrap();
    let mut bus = Bus { js: jetstream::new(client.clone()), receipts, topology };
    let mut head = setting_len;
    let mut letters = 0;
    let mut recorded = Vec::new();
    for case in &catalog {
        let what = format!("{} ({:?})", case.what, case.id);
        let sent = bus.send(case).await;
        match case.expect {
            Expect::Refused(text) => {
                let error = sent.expect_err(&format!("{what}: must be refused before it is sent"));
                assert!(error.contains(text), "{what}: {error}");
                continue;
            }
            _ => sent.unwrap_or_else(|e| panic!("{what}: publishing: {e}")),
        }
        match case.expect {
            Expect::Recorded(code) | Expect::Unrecorded(code) => {
                let receipt = bus.receipt().await;
                let seq = if matches!(case.expect, Expect::Recorded(_)) { Some(head + 1) } else { None };
                assert_eq!(
                    (receipt.id.as_str(), receipt.status, receipt.code.as_deref(), receipt.seq, receipt.duplicate),
                    (case.id, ReceiptStatus::Rejected, Some(code), seq, false),
                    "{what}: {:?}",
                    receipt.message
                );
                assert!(!receipt.message.as_deref().unwrap_or_default().is_empty(), "{what}: a message for people");
                if let Some(seq) = seq {
                    head = seq;
                    recorded.push((seq, code));
                }
            }
            Expect::DeadLetter(code) => {
                letters += 1;
                let letter = stack.dead_letters(letters).await.pop().expect("a dead letter");
                assert_eq!(letter.code, code, "{what}: {}", letter.message);
                assert_eq!(letter.payload_bytes, case.payload.len() as u64, "{what}");
            }
            Expect::Refused(_) => unreachable!(),
        }
    }
    // Nothing more came than the table says.
    assert_eq!(stack.dead_letters(letters).await.len() as u64, letters, "dead letters");
    let stray =
        tokio::time::timeout(Duration::from_millis(300), futures_util::StreamExt::next(&mut bus.receipts)).await;
    assert!(stray.is_err(), "a receipt nobody expected: {stray:?}");
    ledger.stop().await;

    // The ledger holds the setting and the recorded rejections, nothing else …
    let ledger = muster_tests::open_ledger(&stack.ledger_dir());
    assert_eq!(ledger.head().seq, setting_len + recorded.len() as u64);
    for (seq, code) in &recorded {
        let entry = ledger.entry(*seq).unwrap().expect("recorded");
        assert!(
            matches!(&entry.body.outcome, EntryOutcome::Rejected { code: c, .. } if c.as_str() == *code),
            "entry {seq}: {:?}",
            entry.body.outcome
        );
    }
    assert_eq!(ledger.verify().expect("the chain verifies").entries, ledger.head().seq);
    // … and answers exactly as a ledger of the setting alone.
    let dir = tempfile::tempdir().unwrap();
    let alone = setting_alone(dir.path());
    for day in
        ["2015-01-01", "2015-01-05", "2015-02-01", "2015-03-01", "2015-06-01", "2015-07-01", "2015-10-01", "2016-01-01"]
    {
        let day = Date::parse(day).unwrap();
        assert_eq!(ledger.timeline().tree(day, None), alone.timeline().tree(day, None), "the tree on {day}");
    }
    let audit = |l: &Ledger| {
        format!(
            "{:?}",
            l.timeline().audit(Date::parse("2015-01-01").unwrap(), Date::parse("2016-01-01").unwrap(), None, None)
        )
    };
    assert_eq!(audit(&ledger), audit(&alone), "the front-line audit");
}
