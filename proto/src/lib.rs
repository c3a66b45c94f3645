//! Muster's contract: the only place wire and disk types are defined.
//!
//! - [`wire`]: the event [`wire::Envelope`] and its bodies.
//! - [`cloudevents`]: CloudEvents 1.0 structured-mode JSON, for HR systems
//!   in any language (schema: `proto/schema/muster-event.schema.json`).
//! - [`codec`]: bincode 2.0.1 behind one module, format version byte first.
//! - [`validate`]: wire → domain types, enforcing [`limits`].
//! - [`entry`]: ledger entries and receipts.
//! - [`export`]: the ledger export (JSON Lines) an auditor checks offline.
//! - [`checkpoint`]: a signed checkpoint of the chain head.
//! - Reason codes: [`muster_domain::ReasonCode`], documented in
//!   `proto/REASON_CODES.md`.
//!
//! ```
//! let line = br#"{"specversion":"1.0","id":"e-1","source":"hr","type":"org.muster.staff.joined.v1",
//!   "effectivedate":"2015-09-01","data":{"staff":"S1","unit":"U1"}}"#;
//! let envelope = muster_proto::cloudevents::decode_json(line).unwrap();
//! let bytes = muster_proto::codec::encode_envelope(&envelope);
//! assert_eq!(bytes[0], muster_proto::codec::FORMAT_VERSION);
//! assert_eq!(muster_proto::codec::decode_envelope(&bytes).unwrap(), envelope);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod answers;
pub mod checkpoint;
pub mod cloudevents;
pub mod codec;
pub mod disk;
pub mod entry;
mod error;
pub mod export;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod hex;
pub mod intake;
pub mod limits;
pub mod note;
pub mod requests;
pub mod validate;
pub mod wire;
pub mod witness;

pub use error::{bounded, DecodeError};
pub use muster_domain::ReasonCode;
