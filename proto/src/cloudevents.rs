//! CloudEvents 1.0 structured-mode JSON: the contract for HR systems in
//! any language. `proto/schema/muster-event.schema.json` describes it.
//!
//! ```json
//! {"specversion":"1.0","id":"e-1","source":"hr/nanhu","type":"org.muster.staff.transferred.v1",
//!  "datacontenttype":"application/json","effectivedate":"2015-09-01",
//!  "orderref":"南湖公〔2015〕12号","data":{"staff":"S1","from":"U1","to":"U2"}}
//! ```
//!
//! Decoding is in two stages (raw JSON object, then typed) so that an
//! event whose `data` is wrong still yields its id and source for a
//! rejected receipt.

use crate::error::DecodeError;
use crate::limits::{BATCH_MESSAGE_EVENTS_MAX, PAYLOAD_BYTES_MAX};
use crate::wire::{Envelope, EventBody, WireDate};
use muster_domain::{Date, ReasonCode as R};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The content type of a structured-mode CloudEvent.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// The content type of CloudEvents' batched content mode: a JSON array of
/// structured-mode events, each decoded and answered (one receipt each)
/// as if it had come alone.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// Attributes accepted at the top level. `time`, `subject` and
/// `dataschema` are CloudEvents context, accepted and not stored: they are
/// not part of the event's content (two publishes differing only in `time`
/// are the same event).
const ATTRIBUTES: [&str; 12] = [
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "effectivedate",
    "orderref",
    "note",
    "data",
];

/// A JSON value in which no object repeats a key. Rationale: parsers
/// differ on which of two `"id"`s wins, and (source, id) is the
/// idempotency key, so a repeated key is rejected rather than guessed at.
struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if object.insert(key.clone(), value).is_some() {
                return Err(serde::de::Error::custom(format!("the key '{key}' appears twice in one object")));
            }
        }
        Ok(Value::Object(object))
    }
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, DecodeError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => {
            let kind = match other {
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
                Value::Null | Value::String(_) => unreachable!("matched above"),
            };
            // Name the type, never echo the value: a message must not grow
            // with the input.
            Err(DecodeError::new(R::InvalidField, format!("attribute '{key}' must be a string, not {kind}")))
        }
    }
}

fn required<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, DecodeError> {
    text(object, key)?.ok_or_else(|| DecodeError::new(R::MissingField, format!("attribute '{key}' is missing")))
}

fn data_error(type_name: &str, error: serde_json::Error) -> DecodeError {
    let message = error.to_string();
    let code = if message.starts_with("missing field") {
        R::MissingField
    } else if message.contains("is not a calendar day") {
        R::InvalidDate
    } else {
        R::InvalidField
    };
    DecodeError::new(code, format!("data of {type_name}: {}", crate::bounded(&message, 300)))
}

fn body<T: DeserializeOwned>(type_name: &str, data: Value, wrap: fn(T) -> EventBody) -> Result<EventBody, DecodeError> {
    serde_json::from_value(data).map(wrap).map_err(|e| data_error(type_name, e))
}

fn decode_body(type_name: &str, data: Value) -> Result<EventBody, DecodeError> {
    use EventBody as B;
    let i = EventBody::TYPES.iter().position(|t| *t == type_name).ok_or_else(|| {
        DecodeError::new(R::UnknownEventType, format!("unknown event type '{}'", crate::bounded(type_name, 100)))
    })?;
    match i {
        0 => body(type_name, data, B::UnitEstablished),
        1 => body(type_name, data, B::UnitRenamed),
        2 => body(type_name, data, B::UnitMoved),
        3 => body(type_name, data, B::UnitReclassified),
        4 => body(type_name, data, B::UnitQuotaSet),
        5 => body(type_name, data, B::UnitsMerged),
        6 => body(type_name, data, B::UnitSplit),
        7 => body(type_name, data, B::UnitDissolved),
        8 => body(type_name, data, B::StaffJoined),
        9 => body(type_name, data, B::StaffTransferred),
        10 => body(type_name, data, B::StaffSeconded),
        11 => body(type_name, data, B::SecondmentEnded),
        12 => body(type_name, data, B::StaffLeft),
        13 => body(type_name, data, B::EventRetracted),
        _ => unreachable!("TYPES has 14 entries"),
    }
}

/// Decodes one structured-mode CloudEvent into an [`Envelope`]. Limits on
/// ids, names and lists are checked later, by [`crate::validate`].
pub fn decode_json(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    if bytes.len() > PAYLOAD_BYTES_MAX {
        return Err(DecodeError::new(
            R::PayloadTooLarge,
            format!("payload is {} bytes; the limit is {PAYLOAD_BYTES_MAX}", bytes.len()),
        ));
    }
    let StrictValue(value) = serde_json::from_slice(bytes)
        .map_err(|e| DecodeError::new(R::MalformedPayload, format!("not valid JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(DecodeError::new(R::MalformedPayload, "a CloudEvent must be a JSON object"));
    };
    let id = required(&object, "id")?.to_owned();
    let source = required(&object, "source")?.to_owned();
    decode_object(&mut object).map_err(|e| e.with_key(&id, &source))
}

/// Splits a batched-mode payload into its events' JSON texts, each to be
/// decoded by [`decode_json`] on its own (so one bad event is one rejected
/// receipt, not a lost batch). The batch as a whole is one JSON array of
/// 1 to [`BATCH_MESSAGE_EVENTS_MAX`] values in at most
/// [`PAYLOAD_BYTES_MAX`] bytes; anything else is an error for the whole
/// message, which names no event.
pub fn split_batch(bytes: &[u8]) -> Result<Vec<&RawValue>, DecodeError> {
    if bytes.len() > PAYLOAD_BYTES_MAX {
        return Err(DecodeError::new(
            R::PayloadTooLarge,
            format!("batch is {} bytes; the limit is {PAYLOAD_BYTES_MAX}", bytes.len()),
        ));
    }
    let too_many = std::cell::Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let events = serde::Deserializer::deserialize_seq(&mut deserializer, BatchVisitor { too_many: &too_many })
        .and_then(|events| deserializer.end().map(|()| events))
        .map_err(|e| {
            if too_many.get() {
                DecodeError::new(
                    R::PayloadTooLarge,
                    format!("more than {BATCH_MESSAGE_EVENTS_MAX} events in one batch"),
                )
            } else {
                DecodeError::new(R::MalformedPayload, format!("not a batch of CloudEvents (a JSON array): {e}"))
            }
        })?;
    if events.is_empty() {
        return Err(DecodeError::new(R::MalformedPayload, "an empty batch: it holds no event"));
    }
    Ok(events)
}

/// Collects the array's elements as raw JSON, refusing the element past
/// the limit before it is stored.
struct BatchVisitor<'a> {
    too_many: &'a std::cell::Cell<bool>,
}

impl<'de> serde::de::Visitor<'de> for BatchVisitor<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::new();
        while let Some(event) = seq.next_element::<&'de RawValue>()? {
            if events.len() == BATCH_MESSAGE_EVENTS_MAX {
                self.too_many.set(true);
                return Err(serde::de::Error::custom("too many events"));
            }
            events.push(event);
        }
        Ok(events)
    }
}

/// A batched-mode payload of the given structured-mode events (each one
/// JSON value), in order.
pub fn encode_batch<'a>(events: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut batch = vec![b'['];
    for event in events {
        if batch.len() > 1 {
            batch.push(b',');
        }
        batch.extend_from_slice(event);
    }
    batch.push(b']');
    batch
}

fn decode_object(object: &mut Map<String, Value>) -> Result<Envelope, DecodeError> {
    if let Some(unknown) = object.keys().find(|k| !ATTRIBUTES.contains(&k.as_str())) {
        return Err(DecodeError::new(R::InvalidField, format!("unknown attribute '{}'", crate::bounded(unknown, 64))));
    }
    for context in ["time", "subject", "dataschema"] {
        text(object, context)?;
    }
    let spec_version = required(object, "specversion")?;
    if spec_version != "1.0" {
        return Err(DecodeError::new(
            R::UnsupportedVersion,
            format!("specversion '{}' is not 1.0", crate::bounded(spec_version, 20)),
        ));
    }
    if let Some(content_type) = text(object, "datacontenttype")? {
        if content_type != "application/json" {
            return Err(DecodeError::new(
                R::InvalidField,
                format!("datacontenttype '{}' is not application/json", crate::bounded(content_type, 100)),
            ));
        }
    }
    let type_name = required(object, "type")?.to_owned();
    let date_text = required(object, "effectivedate")?;
    let effective_date =
        Date::parse(date_text).map_err(|e| DecodeError::new(R::InvalidDate, format!("effectivedate: {e}")))?;
    let order_ref = text(object, "orderref")?.map(str::to_owned);
    let note = text(object, "note")?.map(str::to_owned);
    let data = object.remove("data").ok_or_else(|| DecodeError::new(R::MissingField, "attribute 'data' is missing"))?;
    if !data.is_object() {
        return Err(DecodeError::new(R::InvalidField, "attribute 'data' must be a JSON object"));
    }
    Ok(Envelope {
        id: required(object, "id")?.to_owned(),
        source: required(object, "source")?.to_owned(),
        effective_date: WireDate(effective_date),
        order_ref,
        note,
        body: decode_body(&type_name, data)?,
    })
}

#[derive(Serialize)]
struct CloudEventOut<'a, T: Serialize> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    type_name: &'static str,
    datacontenttype: &'static str,
    effectivedate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    orderref: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    data: &'a T,
}

fn encode_with<T: Serialize>(envelope: &Envelope, data: &T) -> Vec<u8> {
    let out = CloudEventOut {
        specversion: "1.0",
        id: &envelope.id,
        source: &envelope.source,
        type_name: envelope.body.type_name(),
        datacontenttype: "application/json",
        effectivedate: envelope.effective_date.0.to_string(),
        orderref: envelope.order_ref.as_deref(),
        note: envelope.note.as_deref(),
        data,
    };
    serde_json::to_vec(&out).expect("an envelope always serializes")
}

/// Encodes an [`Envelope`] as one line of structured-mode CloudEvents JSON,
/// fields in a fixed order.
pub fn encode_json(envelope: &Envelope) -> Vec<u8> {
    use EventBody as B;
    match &envelope.body {
        B::UnitEstablished(d) => encode_with(envelope, d),
        B::UnitRenamed(d) => encode_with(envelope, d),
        B::UnitMoved(d) => encode_with(envelope, d),
        B::UnitReclassified(d) => encode_with(envelope, d),
        B::UnitQuotaSet(d) => encode_with(envelope, d),
        B::UnitsMerged(d) => encode_with(envelope, d),
        B::UnitSplit(d) => encode_with(envelope, d),
        B::UnitDissolved(d) => encode_with(envelope, d),
        B::StaffJoined(d) => encode_with(envelope, d),
        B::StaffTransferred(d) => encode_with(envelope, d),
        B::StaffSeconded(d) => encode_with(envelope, d),
        B::SecondmentEnded(d) => encode_with(envelope, d),
        B::StaffLeft(d) => encode_with(envelope, d),
        B::EventRetracted(d) => encode_with(envelope, d),
    }
}
