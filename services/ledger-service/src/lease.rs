//! The ledger lease: which of several ledger services of one deployment is
//! the active one (issue 7, failover).
//!
//! The lease is one key in a NATS key-value bucket (`<PREFIX>_LEASE`,
//! replicated like the streams) whose values expire `ttl` after they were
//! written (the bucket's `max_age`). The active ledger writes it again
//! every `ttl / 4`, each time only if it still holds the revision it wrote
//! last (JetStream's expected last subject sequence); a standby creates it
//! only when no value is there (expired, or released at a clean stop).
//! So at most one service can hold it, and one that stops renewing —
//! crashed, partitioned, paused — loses it within `ttl`.
//!
//! A holder counts the lease as its own only until `valid_for()` after
//! it sent its last successful write, a fifth of `ttl` short of the
//! server's expiry (which runs from the server's receipt of that write,
//! later still). Rationale: a paused process wakes up believing nothing;
//! it checks the time before every batch it publishes. The lease alone is
//! not the fence: the feed's `Nats-Expected-Last-Sequence` refuses any
//! block not written on the feed's tip, so even a holder wrong about its
//! lease cannot fork the chain.

use crate::ended::{SessionError, SessionResult};
use async_nats::jetstream::{self, kv};
use muster_bus::Topology;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// The key the lease is held under.
const LEASE_KEY: &str = "ledger";

/// This service's side of the lease.
pub struct Lease {
    store: kv::Store,
    instance: String,
    ttl: Duration,
    /// The revision this service last wrote, while it holds the lease.
    revision: Option<u64>,
    /// Until when this service may act as the holder.
    valid_until: Instant,
}

/// Why a lease operation failed: NATS did not answer (try again), or
/// another service holds the lease.
#[derive(Debug)]
pub enum LeaseError {
    /// Another service holds it (or took it over).
    Taken,
    /// NATS did not say: the connection, a timeout, an election.
    Nats(String),
    /// The bucket is not what this service was told (its expiry).
    Mismatch(String),
}

impl std::fmt::Display for LeaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaseError::Taken => f.write_str("another ledger service holds the lease"),
            LeaseError::Nats(e) => write!(f, "the lease bucket: {e}"),
            LeaseError::Mismatch(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for LeaseError {}

impl Lease {
    /// The lease of `topology`'s ledger, for the service named `instance`;
    /// makes the bucket if missing, with `replicas` copies.
    pub async fn open(
        js: &jetstream::Context,
        topology: &Topology,
        replicas: usize,
        ttl: Duration,
        instance: &str,
    ) -> Result<Lease, LeaseError> {
        let bucket = topology.lease_bucket();
        let store = match js.get_key_value(&bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.clone(),
                    description: "Which ledger service is active (muster-ledger --failover)".into(),
                    history: 1,
                    max_age: ttl,
                    max_value_size: 1024,
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| LeaseError::Nats(format!("creating bucket {bucket}: {e}")))?,
        };
        let status = store.status().await.map_err(|e| LeaseError::Nats(e.to_string()))?;
        if status.max_age() != ttl {
            // Every service of a deployment must agree on how long a
            // silent holder keeps it.
            return Err(LeaseError::Mismatch(format!(
                "bucket {bucket} expires the lease after {:?}, this service was told {ttl:?}",
                status.max_age()
            )));
        }
        Ok(Lease { store, instance: instance.to_owned(), ttl, revision: None, valid_until: Instant::now() })
    }

    /// The lease's value: the holder's instance name, as text.
    fn value(&self) -> Vec<u8> {
        self.instance.as_bytes().to_vec()
    }

    /// How long after a successful write this service acts as holder.
    fn valid_for(&self) -> Duration {
        self.ttl - self.ttl / 5
    }

    /// How often the holder writes the lease again.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 4
    }

    /// Takes the lease if nobody holds it (renews it if this service
    /// does): `Ok(true)` when it is now this service's.
    pub async fn try_acquire(&mut self) -> Result<bool, LeaseError> {
        if self.revision.is_some() {
            match self.renew().await {
                Ok(()) => return Ok(true),
                Err(LeaseError::Taken) => {}
                Err(e) => return Err(e),
            }
        }
        let sent = Instant::now();
        match self.store.create(LEASE_KEY, self.value().into()).await {
            Ok(revision) => {
                (self.revision, self.valid_until) = (Some(revision), sent + self.valid_for());
                Ok(true)
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(LeaseError::Nats(e.to_string())),
        }
    }

    /// Writes the lease again on the revision this service holds.
    pub async fn renew(&mut self) -> Result<(), LeaseError> {
        let Some(revision) = self.revision else { return Err(LeaseError::Taken) };
        let sent = Instant::now();
        match self.store.update(LEASE_KEY, self.value().into(), revision).await {
            Ok(revision) => {
                (self.revision, self.valid_until) = (Some(revision), sent + self.valid_for());
                Ok(())
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.revision = None;
                Err(LeaseError::Taken)
            }
            Err(e) => Err(LeaseError::Nats(e.to_string())),
        }
    }

    /// Whether this service may act as the holder now.
    pub fn held(&self) -> bool {
        self.revision.is_some() && Instant::now() < self.valid_until
    }

    /// Until when this service may act as the holder.
    pub fn valid_until(&self) -> Instant {
        self.valid_until
    }

    /// Gives the lease up (at a clean stop), so a standby takes over at
    /// once rather than after `ttl`. Only the revision this service holds
    /// is deleted.
    pub async fn release(&mut self) {
        if let Some(revision) = self.revision.take() {
            if let Err(error) = self.store.delete_expect_revision(LEASE_KEY, Some(revision)).await {
                tracing::warn!(%error, "could not release the lease; it expires by itself");
            }
        }
    }
}

/// The instance name of the ledger service that holds `topology`'s lease
/// now, if any (for operators and tests).
pub async fn holder(js: &jetstream::Context, topology: &Topology) -> Result<Option<String>, LeaseError> {
    let store = js.get_key_value(topology.lease_bucket()).await.map_err(|e| LeaseError::Nats(e.to_string()))?;
    match store.get(LEASE_KEY).await.map_err(|e| LeaseError::Nats(e.to_string()))? {
        Some(value) => Ok(Some(String::from_utf8_lossy(&value).into_owned())),
        None => Ok(None),
    }
}

/// The lease as the active service holds it: renewed in the background,
/// checked before anything is published.
#[derive(Clone)]
pub(crate) struct Holding {
    valid_until: Arc<Mutex<Instant>>,
    pub(crate) lost: watch::Receiver<bool>,
}

impl Holding {
    /// Demoted once the lease is lost, or past the time this service may
    /// count it as its own.
    fn check(&self) -> SessionResult<()> {
        if *self.lost.borrow() {
            return Err(SessionError::Demoted("the lease is lost: another ledger service took it over".into()));
        }
        if Instant::now() >= *self.valid_until.lock().expect("lease lock") {
            return Err(SessionError::Demoted("the lease ran out before it could be renewed".into()));
        }
        Ok(())
    }

    /// [`Holding::check`] with failover on (`Some`); without it there is
    /// no lease to hold and everything may go ahead.
    pub(crate) fn check_if_any(holding: Option<&Holding>) -> SessionResult<()> {
        holding.map_or(Ok(()), Holding::check)
    }
}

/// The renewal task of a held lease.
pub(crate) struct Renewing {
    pub(crate) holding: Holding,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Lease>,
}

impl Renewing {
    pub(crate) fn start(mut lease: Lease) -> Renewing {
        let valid_until = Arc::new(Mutex::new(lease.valid_until()));
        let (lose, lost) = watch::channel(false);
        let (stop, mut stopping) = oneshot::channel();
        let holding = Holding { valid_until: valid_until.clone(), lost };
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopping => break,
                    _ = tokio::time::sleep(lease.renew_every()) => {}
                }
                match lease.renew().await {
                    Ok(()) => *valid_until.lock().expect("lease lock") = lease.valid_until(),
                    Err(LeaseError::Taken) => {
                        tracing::warn!("the lease was taken over by another ledger service");
                        let _ = lose.send(true);
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not renew the lease");
                        if !lease.held() {
                            let _ = lose.send(true);
                            break;
                        }
                    }
                }
            }
            lease
        });
        Renewing { holding, stop, task }
    }

    /// Stops renewing; gives the lease back.
    pub(crate) async fn stop(self) -> Lease {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(lease) => lease,
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
    }
}
