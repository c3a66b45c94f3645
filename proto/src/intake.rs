//! An intake message as the ledger reads it: its events, decoded by the
//! message's content type, each bound to the source of the subject it
//! came on.
//!
//! Pure: no NATS here. The ledger service hands in the message's subject,
//! headers and payload; a crash-loop test replaying an intake stream, the
//! receipt lookups and the `intake` fuzz target call the very same
//! function, so what the ledger records for a message is decided in one
//! place.

use crate::{cloudevents, codec, wire::Envelope, DecodeError};
use muster_domain::ReasonCode;

/// The header that tells JSON from bincode payloads.
pub const CONTENT_TYPE_HEADER: &str = "Content-Type";
/// The event's source, set by publishers so that even an undecodable
/// payload can get a receipt under its key.
pub const SOURCE_HEADER: &str = "Muster-Source";
/// The event's id, likewise.
pub const ID_HEADER: &str = "Muster-Id";

/// One submission, as it arrived.
#[derive(Clone, Debug)]
pub enum Incoming {
    /// A decoded envelope.
    Decoded(Envelope),
    /// A payload that failed to decode.
    Undecodable {
        /// Why, with the id and source if they were readable.
        error: DecodeError,
        /// The content type it came with.
        content_type: String,
        /// The bytes.
        payload: Vec<u8>,
    },
}

impl Incoming {
    /// Decodes one CloudEvents JSON payload.
    pub fn json(payload: &[u8]) -> Incoming {
        match cloudevents::decode_json(payload) {
            Ok(envelope) => Incoming::Decoded(envelope),
            Err(error) => Incoming::Undecodable {
                error,
                content_type: cloudevents::CONTENT_TYPE.to_owned(),
                payload: payload.to_vec(),
            },
        }
    }

    /// Decodes one bincode envelope.
    pub fn bincode(payload: &[u8]) -> Incoming {
        match codec::decode_envelope(payload) {
            Ok(envelope) => Incoming::Decoded(envelope),
            Err(error) => {
                Incoming::Undecodable { error, content_type: codec::CONTENT_TYPE.to_owned(), payload: payload.to_vec() }
            }
        }
    }

    /// The source it names, decoded or read from its headers (empty: none).
    fn source(&self) -> &str {
        match self {
            Incoming::Decoded(envelope) => envelope.source.as_str(),
            Incoming::Undecodable { error, .. } => error.source.as_deref().unwrap_or_default(),
        }
    }
}

/// An intake message: what of a NATS message the ledger reads.
#[derive(Clone, Copy, Debug)]
pub struct IntakeMessage<'a> {
    /// The subject it came on (`<prefix>.intake.<source token>`).
    pub subject: &'a str,
    /// Its [`CONTENT_TYPE_HEADER`].
    pub content_type: Option<&'a str>,
    /// Its [`ID_HEADER`].
    pub id: Option<&'a str>,
    /// Its [`SOURCE_HEADER`].
    pub source: Option<&'a str>,
    /// Its bytes.
    pub payload: &'a [u8],
}

/// A message's events as the ledger sees them, by its content type: one
/// event, decoded or undecodable with the key its headers name; or a
/// batch's events, each decoded on its own (a batch that is not one is a
/// single undecodable submission, with no key). An event whose source is
/// not the one of the subject it came on (`subject_is_of(subject,
/// source)`, the subject scheme's own test) is taken as keyless: a dead
/// letter, `source_not_of_subject`.
///
/// Never empty: a message is at least one submission.
pub fn events(message: &IntakeMessage<'_>, subject_is_of: impl Fn(&str, &str) -> bool) -> Vec<Incoming> {
    let mut events = decode(message);
    // A batch's events share a source as a rule: its check is made once.
    let mut last_ok: Option<String> = None;
    for event in &mut events {
        bind_to_subject(event, message.subject, &subject_is_of, &mut last_ok);
    }
    debug_assert!(!events.is_empty(), "a message is at least one submission");
    events
}

/// Makes an event that claims a source other than its subject's keyless,
/// so that it is a dead letter: recorded under that source's key, it would
/// take the key from the source's own HR system. `last_ok` is the last
/// source found to be the subject's (a hash spared per event).
fn bind_to_subject(
    incoming: &mut Incoming,
    subject: &str,
    subject_is_of: &impl Fn(&str, &str) -> bool,
    last_ok: &mut Option<String>,
) {
    let source = incoming.source();
    if source.is_empty() || last_ok.as_deref() == Some(source) {
        return;
    }
    if subject_is_of(subject, source) {
        *last_ok = Some(source.to_owned());
        return;
    }
    let error = DecodeError {
        code: ReasonCode::SourceNotOfSubject,
        message: format!(
            "source {source:?} came on subject {subject}, which is not its own: an event is taken only on its source's intake subject"
        ),
        id: None,
        source: None,
    };
    let content_type = match incoming {
        Incoming::Undecodable { content_type, .. } => std::mem::take(content_type),
        Incoming::Decoded(_) => String::new(),
    };
    *incoming = Incoming::Undecodable { error, content_type, payload: Vec::new() };
}

/// The message's submissions by its content type, before the subject check.
fn decode(message: &IntakeMessage<'_>) -> Vec<Incoming> {
    let IntakeMessage { content_type, payload, .. } = *message;
    let undecodable = |error: DecodeError| Incoming::Undecodable {
        error,
        content_type: content_type.unwrap_or_default().to_owned(),
        payload: payload.to_vec(),
    };
    let mut incoming = match content_type {
        Some(cloudevents::CONTENT_TYPE) => Incoming::json(payload),
        Some(codec::CONTENT_TYPE) => Incoming::bincode(payload),
        Some(cloudevents::BATCH_CONTENT_TYPE) => {
            return match cloudevents::split_batch(payload) {
                Ok(events) => events.iter().enumerate().map(|(i, e)| batched(i, events.len(), e)).collect(),
                Err(error) => vec![undecodable(error)],
            };
        }
        other => undecodable(DecodeError {
            code: ReasonCode::UnsupportedContentType,
            message: format!(
                "content type {other:?} is none of {}, {} and {}",
                cloudevents::CONTENT_TYPE,
                cloudevents::BATCH_CONTENT_TYPE,
                codec::CONTENT_TYPE
            ),
            id: None,
            source: None,
        }),
    };
    // What the payload did not say, its headers may: then even an
    // undecodable event is recorded under its key and can be looked up.
    if let Incoming::Undecodable { error, .. } = &mut incoming {
        error.id = error.id.take().or_else(|| message.id.map(str::to_owned));
        error.source = error.source.take().or_else(|| message.source.map(str::to_owned));
    }
    vec![incoming]
}

/// Event `index` of a batch of `count`, decoded as if it had come alone
/// (its bytes are what a duplicate is compared with); a rejection says
/// where in the batch it was.
fn batched(index: usize, count: usize, event: &serde_json::value::RawValue) -> Incoming {
    let mut incoming = Incoming::json(event.get().as_bytes());
    if let Incoming::Undecodable { error, .. } = &mut incoming {
        error.message = format!("event {} of {count} in a batch: {}", index + 1, error.message);
    }
    incoming
}
