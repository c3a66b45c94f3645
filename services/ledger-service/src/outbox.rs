//! The publishing side of a session: each committed batch's receipts,
//! dead letters and feed blocks, and signed checkpoints of the head — in
//! commit order, while the next batch commits. And, at a session's start,
//! whatever was committed but never reached the feed.

use crate::args::Args;
use crate::ended::{SessionError, SessionResult};
use crate::lease::Holding;
use anyhow::Context;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use muster_bus::{FeedTip, Topology};
use muster_ledger::checkpoint::Signer;
use muster_ledger::{receipt_of, Committed, FeedBlock, Head, Ledger};
use muster_proto::entry::{DeadLetter, Receipt};
use muster_proto::limits;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One committed batch, for the outbox: what the ledger did, and the
/// intake messages behind it (a dead letter quotes its message).
pub(crate) struct ToPublish {
    pub(crate) committed: Committed,
    pub(crate) messages: Vec<async_nats::Message>,
    /// For each receipt, the index of its message.
    pub(crate) origin: Vec<u32>,
}

/// Signs the head: with the last head signed and when.
struct Signing {
    signer: Signer,
    /// The checkpoints' origin and key name (`muster/<prefix>`).
    origin: String,
    last_seq: u64,
    last_at: Instant,
    every: u64,
}

/// The publishing side: receipts, dead letters, the feed and checkpoints.
pub(crate) struct Outbox {
    signing: Option<Signing>,
    pub(crate) client: async_nats::Client,
    js: jetstream::Context,
    /// For the requests that set a session up (streams, consumers, the
    /// feed's tip, the lease): a short timeout
    /// (`limits::SESSION_SETUP_TIMEOUT_MS`).
    pub(crate) setup: jetstream::Context,
    pub(crate) topology: Topology,
    /// Where the feed ends (after `catch_up`, what this service published).
    feed: FeedTip,
    /// This service's name, on every feed message it writes.
    pub(crate) instance: String,
    /// With `--failover`, while active: the lease, checked before anything
    /// is published.
    pub(crate) holding: Option<Holding>,
}

impl Outbox {
    /// The outbox of a service with `args`, connected by `client`.
    pub(crate) fn new(args: &Args, client: async_nats::Client, instance: String) -> anyhow::Result<Outbox> {
        let signing = match &args.signing_key {
            Some(path) => {
                let signer = Signer::from_file(path)?;
                tracing::info!(public_key = %signer.public_key(), "signing checkpoints");
                let origin = Topology::new(&args.common.prefix).checkpoint_origin();
                Some(Signing {
                    signer,
                    origin,
                    last_seq: 0,
                    last_at: Instant::now(),
                    every: args.checkpoint_every.max(1),
                })
            }
            None => None,
        };
        let setup_timeout = Duration::from_millis(limits::SESSION_SETUP_TIMEOUT_MS);
        Ok(Outbox {
            signing,
            js: jetstream::new(client.clone()),
            setup: jetstream::ContextBuilder::new().timeout(setup_timeout).build(client.clone()),
            client,
            topology: Topology::new(&args.common.prefix),
            feed: FeedTip::default(),
            instance,
            holding: None,
        })
    }

    /// Publishes each committed batch's receipts, then its feed blocks, in
    /// commit order, until the committer drops its end of the queue.
    pub(crate) async fn run(mut self, batches: mpsc::Receiver<ToPublish>) -> (Outbox, SessionResult<()>) {
        let result = self.publish_all(batches).await;
        (self, result)
    }

    async fn publish_all(&mut self, mut batches: mpsc::Receiver<ToPublish>) -> SessionResult<()> {
        let mut last_head: Option<(Head, [u8; 32])> = None;
        let interval = Duration::from_secs(limits::CHECKPOINT_INTERVAL_SECS);
        loop {
            // Quiet after new entries: their checkpoint after the interval,
            // not only with the next batch.
            let unsigned = matches!((&self.signing, last_head), (Some(s), Some((head, _))) if head.seq > s.last_seq);
            let batch = tokio::select! {
                batch = batches.recv() => batch,
                _ = tokio::time::sleep(interval), if unsigned => {
                    let (head, root) = last_head.expect("unsigned entries");
                    self.checkpoint(head, root, true).await?;
                    continue;
                }
            };
            let Some(ToPublish { committed, messages, origin }) = batch else { break };
            let started = Instant::now();
            let message_of = |i: usize| messages.get(*origin.get(i)? as usize);
            self.publish_receipts(&committed.receipts, message_of).await?;
            self.publish_feed(committed.blocks).await?;
            self.checkpoint(committed.head, committed.tree_root, false).await?;
            last_head = Some((committed.head, committed.tree_root));
            tracing::info!(
                events = committed.receipts.len(),
                feed_seq = self.feed.ledger_seq,
                publish_ms = started.elapsed().as_millis() as u64,
                "receipts and feed published"
            );
        }
        Ok(())
    }

    /// Signs and publishes `head` (with `root`, the Merkle root at its
    /// size) when due: `checkpoint_every` entries, or a minute, since the
    /// last one (or `now`), and only once it is on the feed, so a
    /// checkpoint never vouches for what a replica cannot get. A C2SP
    /// signed note; its signer's verifier key rides in a header, for
    /// readers to see which key signed (trust is given out of band).
    pub(crate) async fn checkpoint(&mut self, head: Head, root: [u8; 32], now: bool) -> SessionResult<()> {
        self.check_lease()?;
        let Some(signing) = &mut self.signing else { return Ok(()) };
        let due = head.seq >= signing.last_seq + signing.every
            || signing.last_at.elapsed() >= Duration::from_secs(limits::CHECKPOINT_INTERVAL_SECS)
            || now;
        if head.seq == signing.last_seq || !due {
            return Ok(());
        }
        if head.seq > self.feed.ledger_seq {
            bail_interrupted(format!("checkpoint of entry {} before it is on the feed", head.seq))?;
        }
        let note = signing.signer.sign_tree_head(&signing.origin, head, &root);
        (signing.last_seq, signing.last_at) = (head.seq, Instant::now());
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Content-Type", "text/plain; charset=utf-8");
        headers.insert(muster_bus::CHECKPOINT_SIGNER_HEADER, signing.signer.note_vkey(&signing.origin).as_str());
        self.js
            .publish_with_headers(self.topology.checkpoints_subject(), headers, note.encode().into())
            .await
            .context("publishing a checkpoint")?
            .await
            .with_context(|| format!("checkpoint of entry {} not stored by JetStream", head.seq))?;
        tracing::info!(seq = head.seq, "checkpoint signed and published");
        Ok(())
    }

    /// Publishes receipts, per source in submission order, as JSON arrays
    /// of at most `RECEIPTS_MESSAGE_BYTES_MAX`; a message with no usable
    /// key gets a dead letter instead (`message_of` finds the intake
    /// message of receipt `i`). Core NATS: the ledger keeps every outcome,
    /// and a missed message is made good by a lookup.
    async fn publish_receipts<'m>(
        &self,
        receipts: &[Receipt],
        message_of: impl Fn(usize) -> Option<&'m async_nats::Message>,
    ) -> SessionResult<()> {
        self.check_lease()?;
        let mut letters: Vec<PublishAckFuture> = Vec::new();
        let mut arrays = ReceiptArrays::default();
        for (i, receipt) in receipts.iter().enumerate() {
            if receipt.source.is_empty() || receipt.id.is_empty() {
                let message = message_of(i).context("a receipt without a key and without its message")?;
                letters.push(self.dead_letter(message, receipt).await?);
                continue;
            }
            if let Some(full) = arrays.push(receipt) {
                self.send_receipts(&receipt.source, full).await?;
            }
        }
        for (source, array) in arrays.by_source {
            if !array.is_empty() {
                self.send_receipts(source, array).await?;
            }
        }
        self.client.flush().await.context("sending receipts")?;
        for letter in letters {
            letter.await.context("dead letter not stored by JetStream")?;
        }
        Ok(())
    }

    async fn send_receipts(&self, source: &str, mut array: Vec<u8>) -> SessionResult<()> {
        array.push(b']');
        let subject = self.topology.receipts_subject(source);
        Ok(self.client.publish(subject, array.into()).await.context("sending receipts")?)
    }

    async fn dead_letter(&self, message: &async_nats::Message, receipt: &Receipt) -> SessionResult<PublishAckFuture> {
        let start = &message.payload[..message.payload.len().min(limits::DEAD_LETTER_QUOTE_BYTES)];
        let content_type = message.headers.as_ref().and_then(|h| h.get(muster_bus::CONTENT_TYPE_HEADER));
        let letter = DeadLetter {
            code: receipt.code.clone().unwrap_or_default(),
            message: receipt.message.clone().unwrap_or_default(),
            subject: message.subject.to_string(),
            intake_seq: None,
            content_type: content_type.map(|v| v.as_str().to_owned()),
            payload_bytes: message.payload.len() as u64,
            payload_start: String::from_utf8_lossy(start).into_owned(),
        };
        tracing::warn!(code = %letter.code, subject = %letter.subject, "dead letter: no usable event id");
        let json = serde_json::to_vec(&letter).expect("a dead letter encodes");
        Ok(self.js.publish(self.topology.deadletter_subject(), json.into()).await.context("a dead letter")?)
    }

    /// With `--failover`: whether this service may still publish as the
    /// active ledger (demoted if not). Checked before every batch's
    /// receipts, feed blocks and checkpoint.
    fn check_lease(&self) -> SessionResult<()> {
        Holding::check_if_any(self.holding.as_ref())
    }

    /// Publishes stored blocks, each fenced on the feed message before it.
    async fn publish_feed(&mut self, blocks: Vec<FeedBlock>) -> SessionResult<()> {
        self.check_lease()?;
        let mut acks = Vec::with_capacity(blocks.len());
        let mut tip = self.feed;
        for block in blocks {
            if block.first_seq != tip.ledger_seq + 1 {
                bail_interrupted(format!("block {} after entry {}", block.first_seq, tip.ledger_seq))?;
            }
            let message = PublishMessage::build()
                .payload(block.bytes.into())
                .message_id(block.first_seq.to_string())
                .expected_last_sequence(tip.message_seq)
                .header(muster_bus::FIRST_SEQ_HEADER, block.first_seq.to_string().as_str())
                .header(muster_bus::SEQ_HEADER, block.last_seq.to_string().as_str())
                .header(muster_bus::WRITER_HEADER, self.instance.as_str());
            tip = FeedTip { message_seq: tip.message_seq + 1, ledger_seq: block.last_seq };
            let ack = self.js.send_publish(self.topology.feed_subject(), message).await.context("a feed block")?;
            acks.push((tip, ack));
        }
        for (expected, ack) in acks {
            let ack =
                ack.await.with_context(|| format!("feed block ending at entry {} refused", expected.ledger_seq))?;
            if ack.sequence != expected.message_seq {
                bail_interrupted(format!(
                    "feed message {} for the block ending at entry {}: the feed and the ledger disagree",
                    ack.sequence, expected.ledger_seq
                ))?;
            }
            self.feed = expected;
        }
        Ok(())
    }

    /// The feed's last entry must be this ledger's own entry of that
    /// sequence, hash for hash, before this ledger continues the feed.
    /// Rationale: after a failover the feed was written by another ledger
    /// service; this one holds the same chain only if both replayed the
    /// same intake the same way.
    fn check_feed_is_ours(&self, ledger: &RwLock<Ledger>, last_block: &[u8]) -> SessionResult<()> {
        if self.feed.message_seq == 0 {
            return Ok(());
        }
        let (seq, hash) = muster_ledger::last_entry_of_block(last_block)?;
        let ours = ledger.read().expect("ledger lock").entry(seq)?.map(|entry| entry.hash);
        if ours != Some(hash) {
            return Err(SessionError::fatal(format!(
                "the feed's entry {seq} is not this ledger's (hash {} against {}): this ledger has diverged from the feed and must not continue it",
                muster_ledger::hex(&hash),
                ours.map_or("none".into(), |h| muster_ledger::hex(&h))
            )));
        }
        Ok(())
    }

    /// At a session's start: whatever was committed but not yet on the
    /// feed (a crash between commit and publish) gets its receipt and
    /// feed message now.
    pub(crate) async fn catch_up(&mut self, ledger: &RwLock<Ledger>) -> SessionResult<()> {
        let (tip, last_block) = muster_bus::feed_end(&self.setup, &self.topology)
            .await
            .map_err(|e| anyhow::anyhow!("reading the feed's tip: {e}"))?;
        self.feed = tip;
        let (feed_last, head) = (self.feed.ledger_seq, ledger.read().expect("ledger lock").head().seq);
        if feed_last > head {
            let message = format!("the feed has {feed_last} entries but this ledger only {head}");
            // With failover, another ledger service wrote them: this one
            // replays the intake up to there (standing by) first.
            if self.holding.is_some() {
                return Err(SessionError::Demoted(message));
            }
            let why = "wrong ledger directory, or a ledger restored from an old copy";
            return Err(SessionError::fatal(format!("{message}: {why}")));
        }
        self.check_feed_is_ours(ledger, &last_block)?;
        if feed_last == head {
            return Ok(());
        }
        tracing::warn!(feed_last, head, "publishing receipts and feed blocks missed before a restart");
        // The lock is held to read, never across a publish.
        let chunk = limits::BATCH_EVENTS_MAX as u64;
        for first in (feed_last + 1..=head).step_by(chunk as usize) {
            let receipts = recorded_receipts(ledger, first..=head.min(first + chunk - 1))?;
            // Recorded entries always have a key: no dead letters here.
            self.publish_receipts(&receipts, |_| None).await?;
        }
        let blocks = ledger.read().expect("ledger lock").blocks_from(feed_last + 1)?;
        self.publish_feed(blocks).await
    }
}

/// The receipts of recorded entries `seqs`, as they were first given.
fn recorded_receipts(ledger: &RwLock<Ledger>, seqs: std::ops::RangeInclusive<u64>) -> SessionResult<Vec<Receipt>> {
    let ledger = ledger.read().expect("ledger lock");
    let mut receipts = Vec::with_capacity(seqs.clone().count());
    for seq in seqs {
        let entry = ledger.entry(seq)?.with_context(|| format!("entry {seq} missing"))?;
        receipts.push(receipt_of(&entry, false));
    }
    Ok(receipts)
}

/// An error that ends the session (the next one starts over from the
/// ledger and the feed as they are).
fn bail_interrupted(message: String) -> SessionResult<()> {
    Err(SessionError::Interrupted(anyhow::Error::msg(message)))
}

/// A batch's receipts as one JSON array per source, in submission order,
/// each cut at `RECEIPTS_MESSAGE_BYTES_MAX`.
#[derive(Default)]
struct ReceiptArrays<'r> {
    by_source: Vec<(&'r str, Vec<u8>)>,
    slots: HashMap<&'r str, usize>,
}

impl<'r> ReceiptArrays<'r> {
    /// Adds `receipt` to its source's array; gives back the array it
    /// filled, to be sent first (without its closing `]`).
    fn push(&mut self, receipt: &'r Receipt) -> Option<Vec<u8>> {
        let json = serde_json::to_vec(receipt).expect("a receipt encodes");
        let slot = *self.slots.entry(receipt.source.as_str()).or_insert_with(|| {
            self.by_source.push((receipt.source.as_str(), Vec::new()));
            self.by_source.len() - 1
        });
        let array = &mut self.by_source[slot].1;
        let full = (!array.is_empty() && array.len() + json.len() + 2 > limits::RECEIPTS_MESSAGE_BYTES_MAX)
            .then(|| std::mem::take(array));
        array.push(if array.is_empty() { b'[' } else { b',' });
        array.extend_from_slice(&json);
        full
    }
}
