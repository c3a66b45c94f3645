//! The committing side of a session: each decoded commit recorded and
//! flushed (`Ledger::commit_batch`), its last message acknowledged, and
//! what it did handed to the outbox.

use crate::ended::SessionResult;
use crate::intake::Commit;
use crate::lease::Holding;
use crate::outbox::ToPublish;
use muster_ledger::Ledger;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use tokio::sync::mpsc;
use tracing::Instrument;

/// The ledger (shared with the lookups, which read it between commits)
/// and, with `--failover`, the lease every commit is fenced on.
pub(crate) struct Committer {
    ledger: Arc<RwLock<Ledger>>,
    holding: Option<Holding>,
}

impl Committer {
    pub(crate) fn new(ledger: Arc<RwLock<Ledger>>, holding: Option<Holding>) -> Committer {
        Committer { ledger, holding }
    }

    /// Commits, hands the receipts and feed to the outbox, then lets go of
    /// sled's pages. False when the outbox has stopped (its error is
    /// reported when it is joined).
    pub(crate) async fn commit(&mut self, commit: Commit, to_outbox: &mpsc::Sender<ToPublish>) -> SessionResult<bool> {
        // With failover, every commit is fenced on the lease (and every
        // feed block on the feed's tip).
        Holding::check_if_any(self.holding.as_ref())?;
        // A span per batch; `instrument`, not `enter`, so it stays right
        // across the awaits below.
        let span =
            tracing::info_span!("intake_batch", messages = commit.messages.len(), events = commit.incoming.len());
        let published = self.record(commit).instrument(span).await?;
        if to_outbox.send(published).await.is_err() {
            return Ok(false);
        }
        // Off the path to this batch's receipts (the outbox has them).
        let ledger = &self.ledger;
        tokio::task::block_in_place(|| ledger.write().expect("ledger lock").release_pages())?;
        Ok(true)
    }

    /// 1. Commit and flush; 2. ack. Receipts and feed are the outbox's.
    async fn record(&mut self, commit: Commit) -> SessionResult<ToPublish> {
        let started = Instant::now();
        let Commit { messages, incoming, origin, cursor } = commit;
        // Blocking IO: off the async workers' backs.
        let committed =
            tokio::task::block_in_place(|| self.ledger.write().expect("ledger lock").commit_batch(incoming, cursor))?;
        let commit_ms = started.elapsed().as_millis() as u64;
        // The last message's ack stands for all. A lost ack means a
        // redelivery, which is passed over or is a duplicate.
        if let Some(last) = messages.last() {
            if let Err(error) = last.ack().await {
                tracing::warn!(%error, "ack failed; the batch will be redelivered as duplicates");
            }
        }
        tracing::info!(
            messages = messages.len(),
            events = committed.receipts.len(),
            head_seq = committed.head.seq,
            commit_ms,
            "batch committed; receipts and feed to the outbox"
        );
        Ok(ToPublish { committed, messages: messages.into_iter().map(|m| m.message).collect(), origin })
    }
}
