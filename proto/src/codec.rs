//! The binary codec: bincode 2.0.1 behind one door, with a format version
//! byte first.
//!
//! Rationale (ops/adr/0001): bincode is unmaintained and 3.x is an empty
//! crate. Everything binary Muster writes goes through these functions, so
//! swapping the encoding is a change to this file and a new version byte;
//! readers dispatch on the byte.

use crate::entry::{EntryBody, StoredEntry};
use crate::error::DecodeError;
use crate::limits::PAYLOAD_BYTES_MAX;
use crate::wire::Envelope;
use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use muster_domain::ReasonCode as R;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The current binary format of envelopes. Bump on any change to a
/// serialized type of the wire.
pub const FORMAT_VERSION: u8 = 1;

/// The current binary format of ledger entries (their first byte). Bump on
/// any change to a serialized type of [`crate::entry`]. Rationale: apart
/// from [`FORMAT_VERSION`] so that a change to the ledger's disk format
/// does not turn away publishers' bincode envelopes, and the other way
/// round. Version 2 dropped the previous hash from the entry body.
pub const ENTRY_FORMAT_VERSION: u8 = 2;

/// The content type (NATS header) of a bincode envelope.
pub const CONTENT_TYPE: &str = "application/vnd.muster.envelope+bincode";

pub use crate::limits::ENTRY_BYTES_MAX;

type Config<const N: usize> = Configuration<LittleEndian, Varint, Limit<N>>;

fn config<const N: usize>() -> Config<N> {
    // The limit bounds every allocation while decoding untrusted bytes.
    bincode::config::standard().with_limit::<N>()
}

fn encode<T: Serialize, const N: usize>(value: &T, version: u8) -> Vec<u8> {
    let mut bytes = vec![version];
    let body = bincode::serde::encode_to_vec(value, config::<N>()).expect("Muster's types always encode");
    bytes.extend_from_slice(&body);
    bytes
}

fn decode<T: DeserializeOwned, const N: usize>(bytes: &[u8], what: &str, reads: u8) -> Result<T, DecodeError> {
    if bytes.len() > N {
        return Err(DecodeError::new(R::PayloadTooLarge, format!("{what} is {} bytes; the limit is {N}", bytes.len())));
    }
    let Some((&version, body)) = bytes.split_first() else {
        return Err(DecodeError::new(R::MalformedPayload, format!("{what} is empty")));
    };
    if version != reads {
        return Err(DecodeError::new(
            R::UnsupportedVersion,
            format!("{what} has format version {version}; this build reads {reads}"),
        ));
    }
    let (value, read) = bincode::serde::decode_from_slice(body, config::<N>()).map_err(|e| {
        DecodeError::new(R::MalformedPayload, crate::bounded(&format!("{what} is not valid: {e}"), 300))
    })?;
    if read != body.len() {
        return Err(DecodeError::new(R::MalformedPayload, format!("{what} has {} trailing bytes", body.len() - read)));
    }
    Ok(value)
}

/// An envelope as bytes: version byte, then bincode.
pub fn encode_envelope(envelope: &Envelope) -> Vec<u8> {
    encode::<_, PAYLOAD_BYTES_MAX>(envelope, FORMAT_VERSION)
}

/// Bytes back to an envelope; limits are checked by [`crate::validate`].
///
/// In two stages, like the JSON path: when the whole envelope does not
/// decode, its leading `id` and `source` are read on their own so the
/// rejection can still be recorded under the event's key.
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    decode::<Envelope, PAYLOAD_BYTES_MAX>(bytes, "bincode envelope", FORMAT_VERSION).map_err(|mut error| {
        if error.code == R::MalformedPayload {
            if error.message.contains("is not a calendar day") {
                error.code = R::InvalidDate;
            }
            let key = bytes.get(1..).and_then(|body| {
                bincode::serde::decode_from_slice::<(String, String), _>(body, config::<PAYLOAD_BYTES_MAX>()).ok()
            });
            if let Some(((id, source), _)) = key {
                error = error.with_key(&id, &source);
            }
        }
        error
    })
}

/// The canonical bytes of an entry body: what the hash chain covers.
pub fn encode_entry_body(body: &EntryBody) -> Vec<u8> {
    encode::<_, ENTRY_BYTES_MAX>(body, ENTRY_FORMAT_VERSION)
}

/// A stored entry as bytes.
pub fn encode_stored_entry(entry: &StoredEntry) -> Vec<u8> {
    encode::<_, ENTRY_BYTES_MAX>(entry, ENTRY_FORMAT_VERSION)
}

/// Bytes back to a stored entry.
pub fn decode_stored_entry(bytes: &[u8]) -> Result<StoredEntry, DecodeError> {
    decode::<_, ENTRY_BYTES_MAX>(bytes, "ledger entry", ENTRY_FORMAT_VERSION)
}

/// A stored entry's bytes split into the body's canonical bytes (what the
/// chain hash covers) and the 32 hash bytes after them, without decoding.
/// Rationale: bincode writes a struct's fields in order and a `[u8; 32]`
/// as its 32 bytes, so the stored form is `encode_entry_body` ‖ hash (the
/// golden tests pin this); checking the chain needs no re-encoding.
pub fn split_stored_entry(bytes: &[u8]) -> Option<(&[u8], [u8; 32])> {
    let (body, hash) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    Some((body, hash.try_into().ok()?))
}
