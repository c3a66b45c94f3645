//! Muster's query service: a read replica of the ledger built from the
//! ledger feed, answering over NATS and HTTP. See [`service`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod answer;
pub mod evidence;
pub mod http;
mod proofs;
pub mod replica;
pub mod service;
mod validate;
mod workbench;
