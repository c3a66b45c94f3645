//! The ledger's typed errors.

use std::fmt;

/// What went wrong in the ledger.
#[derive(Debug)]
pub struct LedgerError {
    kind: LedgerErrorKind,
}

/// The kinds of [`LedgerError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LedgerErrorKind {
    /// sled failed to read, write or flush. The batch in flight is not
    /// committed; the ledger must be reopened.
    Storage(sled::Error),
    /// An entry on disk fails its checks: the chain is broken at `seq`.
    Corrupt {
        /// The first bad sequence.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A previous commit failed after the in-memory timeline moved on:
    /// reopen the ledger to continue from what is on disk.
    Poisoned,
    /// A batch over [`muster_proto::limits::BATCH_EVENTS_MAX`].
    BatchTooLarge {
        /// Its size.
        events: usize,
    },
    /// The batch would take sequences past [`muster_domain::SEQ_MAX`], the
    /// most the in-memory timeline indexes. Nothing of it is written.
    Full {
        /// The sequence the ledger is at.
        last_seq: u64,
    },
    /// Another process holds the directory (sled's lock), a running
    /// `muster-ledger` or `muster-query` as a rule: nothing was opened.
    Held {
        /// The directory.
        path: std::path::PathBuf,
    },
}

impl LedgerError {
    /// The kind.
    pub fn kind(&self) -> &LedgerErrorKind {
        &self.kind
    }

    /// Whether another process holds the directory: ask that service
    /// instead (exit 7 in the binaries).
    pub fn is_held(&self) -> bool {
        matches!(self.kind, LedgerErrorKind::Held { .. })
    }

    pub(crate) fn corrupt(seq: u64, reason: impl Into<String>) -> LedgerError {
        LedgerError { kind: LedgerErrorKind::Corrupt { seq, reason: reason.into() } }
    }

    pub(crate) fn new(kind: LedgerErrorKind) -> LedgerError {
        LedgerError { kind }
    }
}

impl From<sled::Error> for LedgerError {
    fn from(error: sled::Error) -> LedgerError {
        LedgerError { kind: LedgerErrorKind::Storage(error) }
    }
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            LedgerErrorKind::Storage(e) => write!(f, "ledger storage error: {e}"),
            LedgerErrorKind::Corrupt { seq, reason } => write!(f, "ledger chain broken at seq {seq}: {reason}"),
            LedgerErrorKind::Poisoned => write!(f, "a commit failed earlier; reopen the ledger"),
            LedgerErrorKind::BatchTooLarge { events } => {
                write!(f, "a batch of {events} events is over the limit of {}", muster_proto::limits::BATCH_EVENTS_MAX)
            }
            LedgerErrorKind::Full { last_seq } => write!(
                f,
                "the ledger is full: at sequence {last_seq}, it cannot hold more than {} entries",
                muster_domain::SEQ_MAX
            ),
            LedgerErrorKind::Held { path } => write!(
                f,
                "the ledger at {} is in use by a running service (muster-ledger or muster-query): \
                 ask it with --nats-url instead",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LedgerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            LedgerErrorKind::Storage(e) => Some(e),
            _ => None,
        }
    }
}
