//! How a session ends, and the errors that end it: typed, so that each
//! caller decides by kind (a new session, standing by, stopping) and
//! nothing is found again by downcasting.

use anyhow::Context;
use muster_ledger::LedgerError;
use tokio::sync::watch;

/// Why a session cannot go on.
#[derive(Debug)]
pub(crate) enum SessionError {
    /// NATS's trouble (a restart, a lost connection, a refused publish): a
    /// new session may succeed.
    Interrupted(anyhow::Error),
    /// With `--failover`: this service may no longer act as the active
    /// ledger (the lease lost or expired, or another's blocks on the feed
    /// past this ledger's head); it stands by again.
    Demoted(String),
    /// No new session can mend it: the ledger's own error (it must be
    /// reopened), or a ledger that is not the feed's.
    Fatal(anyhow::Error),
}

pub(crate) type SessionResult<T> = Result<T, SessionError>;

impl From<anyhow::Error> for SessionError {
    fn from(error: anyhow::Error) -> SessionError {
        SessionError::Interrupted(error)
    }
}

impl From<LedgerError> for SessionError {
    fn from(error: LedgerError) -> SessionError {
        SessionError::Fatal(error.into())
    }
}

impl SessionError {
    pub(crate) fn fatal(message: String) -> SessionError {
        SessionError::Fatal(anyhow::Error::msg(message))
    }
}

/// How a session, or the active ledger's life, ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// Asked to stop, everything fetched committed and published.
    Stopped,
    /// By NATS: another session may follow.
    Interrupted(anyhow::Error),
    /// No longer the active ledger (`--failover`).
    Demoted(String),
    /// For good.
    Fatal(anyhow::Error),
}

impl From<SessionResult<()>> for Ended {
    fn from(result: SessionResult<()>) -> Ended {
        match result {
            Ok(()) => Ended::Stopped,
            Err(SessionError::Interrupted(error)) => Ended::Interrupted(error),
            Err(SessionError::Demoted(why)) => Ended::Demoted(why),
            Err(SessionError::Fatal(error)) => Ended::Fatal(error),
        }
    }
}

impl Ended {
    /// As the service's result: only a stop is a success.
    pub(crate) fn into_result(self) -> anyhow::Result<()> {
        match self {
            Ended::Stopped => Ok(()),
            Ended::Interrupted(error) | Ended::Fatal(error) => Err(error),
            Ended::Demoted(why) => Err(anyhow::Error::msg(why)),
        }
    }
}

/// A task's result; a task that panicked interrupts the session.
pub(crate) fn joined(
    result: Result<SessionResult<()>, tokio::task::JoinError>,
    task: &'static str,
) -> SessionResult<()> {
    result.context(task).map_err(SessionError::Interrupted).and_then(|ended| ended)
}

/// Completes once `flag` is true (or its sender is gone). Rationale: a
/// `wait_for` guard is not `Send`, and `select!` keeps its output
/// across the awaits of the other branches.
pub(crate) async fn until_set(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}
