//! Why publishing stopped: [`PublishError`] and its kinds, and the helper
//! that makes one from a failure and its context. Rationale: one small
//! type every part of the publisher returns, read apart from the loop.

/// Why publishing stopped: its kind, for code (an exit status, a test),
/// and a message for people.
#[derive(Debug)]
pub struct PublishError {
    /// What kind of failure.
    pub kind: PublishErrorKind,
    /// What happened, with the subject or the answer involved.
    pub message: String,
}

/// The kinds of [`PublishError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishErrorKind {
    /// JetStream says no stream takes the intake subject: no ledger service
    /// ever ran under this prefix (or the prefix is wrong).
    NoIntakeStream,
    /// A message over the server's payload limit.
    TooLarge,
    /// NATS refused a subscription or a flush, or the receipts stopped.
    Connection,
    /// The ledger answered a lookup with something that is not a receipt.
    BadAnswer,
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PublishError {}

pub(crate) fn error(kind: PublishErrorKind, context: &str, e: impl std::fmt::Display) -> PublishError {
    PublishError { kind, message: format!("{context}: {e}") }
}
