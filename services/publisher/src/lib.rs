//! The HR publisher: sends events to Muster's intake and waits for the
//! ledger's receipts.
//!
//! **The rule:** an event is recorded when its receipt arrives, not when
//! JetStream acknowledges the publish (the server acknowledges before it
//! fsyncs). So the publisher never trusts a PubAck: it publishes with
//! `Nats-Msg-Id` set from (source, id) and the payload, waits for the
//! receipt (the ledger sends its source's receipts of each committed batch
//! as one message), and, if none comes, asks the ledger what became of
//! that event — sending the event itself, so a changed event under a used
//! id is answered with its own rejection, not the original's acceptance —
//! and publishes again with the same id, up to `attempts` times.
//! Re-publishing is always safe: the ledger answers a duplicate with its
//! original receipt.
//!
//! **The same (source, id) twice in one run** (two lines of a file): the
//! second is sent only once the first has its outcome, and both reach the
//! ledger, which answers the second as a duplicate or, if its content
//! differs, rejects it (`duplicate_id_different_content`).
//!
//! **Order:** a source's messages reach the intake in the order they were
//! made: a message is sent only once the source's message before it is
//! stored (its PubAck came), and a message whose PubAck failed is sent
//! again, the same message, before anything after it. Rationale: events
//! depend on the ones before (a transfer on the joining); pipelined
//! messages across a server restart could otherwise land with a gap — the
//! one before lost in the dying server's socket, the next sent from the
//! client's buffer after reconnecting — and the later event be judged
//! without its predecessor. Throughput comes from batching (up to `batch`
//! events a message), and sources publish side by side.
//!
//! At most `window` events are in flight (published, no receipt yet).
//! Consecutive JSON events of one source go out together, up to `batch` in
//! one message, in CloudEvents' batched content mode
//! (`application/cloudevents-batch+json`); each still gets its own receipt
//! and, if that is missing, its own retry (alone).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod fast;
pub mod input;
mod lookup;
mod run;

pub use error::{PublishError, PublishErrorKind};

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind as AckErrorKind;
use async_nats::jetstream::message::PublishMessage;
use error::error;
use futures_util::StreamExt;
use muster_bus::Topology;
use muster_proto::entry::Receipt;
use muster_proto::{cloudevents, limits};
use run::{InFlight, Run};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;
use PublishErrorKind as Kind;

/// One event ready to publish.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Its source (idempotency key, with `id`).
    pub source: String,
    /// Its id.
    pub id: String,
    /// `application/cloudevents+json` or the bincode content type.
    pub content_type: &'static str,
    /// The encoded event.
    pub payload: Vec<u8>,
}

/// What became of one event.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The ledger's receipt: accepted, rejected, or duplicate.
    Receipt(Receipt),
    /// No receipt after every attempt: the event is not known to be
    /// recorded, and must be published again later.
    NoReceipt {
        /// Its source.
        source: String,
        /// Its id.
        id: String,
        /// Publishes made.
        attempts: u32,
    },
}

/// Publisher settings.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// Most events in flight.
    pub window: usize,
    /// How long to wait for a receipt before publishing again.
    pub receipt_wait: Duration,
    /// Publishes per event before giving up.
    pub attempts: u32,
    /// Most events in one message (1: one event per message).
    pub batch: usize,
}

impl Default for PublisherConfig {
    fn default() -> PublisherConfig {
        PublisherConfig {
            window: limits::PUBLISH_IN_FLIGHT_MAX,
            receipt_wait: Duration::from_millis(limits::RECEIPT_WAIT_MS),
            attempts: limits::PUBLISH_ATTEMPTS_MAX,
            batch: limits::PUBLISH_BATCH_EVENTS,
        }
    }
}

/// An event's idempotency key: (source, id).
type Key = (String, String);

/// A publish's PubAck, with the keys of the events its message carried.
type AckFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = (Vec<Key>, Result<jetstream::publish::PublishAck, jetstream::context::PublishError>),
            > + Send,
    >,
>;

/// Whether `event` may travel in a batch: JSON, one well-formed value
/// (one broken event would otherwise make its whole batch unreadable: it
/// goes alone and gets its own rejected receipt), and small enough to
/// share a message.
fn batchable(event: &Outgoing) -> bool {
    event.content_type == cloudevents::CONTENT_TYPE
        && event.payload.len() < limits::PAYLOAD_BYTES_MAX / 2
        && serde_json::from_slice::<&serde_json::value::RawValue>(&event.payload).is_ok()
}

/// The headers of a message carrying `event` alone (and of its lookup).
fn event_headers(event: &Outgoing) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(muster_bus::CONTENT_TYPE_HEADER, event.content_type);
    headers.insert(muster_bus::SOURCE_HEADER, event.source.as_str());
    headers.insert(muster_bus::ID_HEADER, event.id.as_str());
    headers
}

/// One intake message, ready to send either way (alone with its PubAck
/// awaited, or in a fast-ingest batch): its `Nats-Msg-Id` is in its
/// headers, so a copy sent again either way is the same message.
struct Message {
    source: String,
    headers: async_nats::HeaderMap,
    payload: Vec<u8>,
    /// The events it carries.
    keys: Vec<Key>,
}

impl Message {
    /// `event` alone.
    fn one(event: &Outgoing) -> Message {
        let mut headers = event_headers(event);
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            Topology::message_id(&event.source, &event.id, &event.payload).as_str(),
        );
        Message {
            source: event.source.clone(),
            headers,
            payload: event.payload.clone(),
            keys: vec![(event.source.clone(), event.id.clone())],
        }
    }

    /// Events of one source (all [`batchable`]) batched. Its `Nats-Msg-Id`
    /// covers its whole payload, so JetStream drops only a re-publish of
    /// the very same batch.
    fn batch(events: &[&Outgoing]) -> Message {
        let [first, ..] = events else { unreachable!("a batch holds an event") };
        debug_assert!(events.iter().all(|e| e.source == first.source && batchable(e)));
        let payload = cloudevents::encode_batch(events.iter().map(|e| e.payload.as_slice()));
        let mut headers = async_nats::HeaderMap::new();
        headers
            .insert(async_nats::header::NATS_MESSAGE_ID, Topology::batch_message_id(&first.source, &payload).as_str());
        headers.insert(muster_bus::CONTENT_TYPE_HEADER, cloudevents::BATCH_CONTENT_TYPE);
        headers.insert(muster_bus::SOURCE_HEADER, first.source.as_str());
        Message {
            source: first.source.clone(),
            headers,
            payload,
            keys: events.iter().map(|e| (e.source.clone(), e.id.clone())).collect(),
        }
    }
}

/// Publishes events and collects their receipts.
pub struct Publisher {
    client: async_nats::Client,
    js: jetstream::Context,
    /// For the question whether the intake stream exists: a short wait
    /// (see [`STREAM_CHECK_TIMEOUT`]).
    check: jetstream::Context,
    topology: Topology,
    config: PublisherConfig,
    stats: Counters,
}

/// How this publisher's messages went, since it was made (for a summary,
/// and for tests that must know which path was taken).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Messages sent in fast-ingest batches (pipelined, order kept by the
    /// server).
    pub fast: u64,
    /// Messages sent alone, each source's next after its PubAck.
    pub alone: u64,
    /// Messages sent again because a fast batch ended without storing
    /// them (a gap, a lost connection, a restarted server).
    pub sent_again: u64,
}

#[derive(Default)]
struct Counters {
    fast: std::sync::atomic::AtomicU64,
    alone: std::sync::atomic::AtomicU64,
    sent_again: std::sync::atomic::AtomicU64,
}

const STREAM_CHECK_TIMEOUT: Duration = Duration::from_millis(limits::STREAM_CHECK_TIMEOUT_MS);

impl Publisher {
    /// A publisher on `client` for the deployment `topology`.
    pub fn new(client: async_nats::Client, topology: Topology, config: PublisherConfig) -> Publisher {
        assert!(config.window >= 1 && config.window <= limits::PUBLISH_IN_FLIGHT_MAX);
        assert!(config.batch >= 1 && config.batch <= limits::BATCH_MESSAGE_EVENTS_MAX);
        let js = jetstream::new(client.clone());
        let check = jetstream::ContextBuilder::new().timeout(STREAM_CHECK_TIMEOUT).build(client.clone());
        Publisher { client, js, check, topology, config, stats: Counters::default() }
    }

    /// How its messages went so far.
    pub fn stats(&self) -> PublishStats {
        use std::sync::atomic::Ordering::Relaxed;
        PublishStats {
            fast: self.stats.fast.load(Relaxed),
            alone: self.stats.alone.load(Relaxed),
            sent_again: self.stats.sent_again.load(Relaxed),
        }
    }

    /// Publishes one event; the returned future is JetStream's PubAck.
    /// The PubAck never counts as "recorded" (the server acknowledges
    /// before it fsyncs); it tells us two things early: that no stream
    /// took the message (nobody would ever record it), and that the stream
    /// already had it (a duplicate, whose receipt can be looked up now).
    async fn send(&self, event: &Outgoing) -> Result<AckFuture, PublishError> {
        self.send_message(Message::one(event)).await
    }

    /// Whether JetStream itself says there is no intake stream. Rationale:
    /// a publish nobody answered ("no responders") is not proof of that: on
    /// a cluster it also happens while the stream elects a new leader after
    /// a node is lost, or while the client reconnects to another node; then
    /// the message is sent again like any other whose PubAck failed.
    async fn no_intake_stream(&self) -> bool {
        match self.check.get_stream(self.topology.intake_stream()).await {
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref js)
                    if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            ),
        }
    }

    /// The message's PubAck to come; a publish the client could not even
    /// send (the connection is down) is one whose PubAck failed, and is
    /// retried like one. Only an over-large message is an error.
    async fn send_message(&self, message: Message) -> Result<AckFuture, PublishError> {
        let Message { source, headers, payload, keys } = message;
        self.stats.alone.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let publish = PublishMessage::build().headers(headers).payload(payload.into());
        match self.js.send_publish(self.topology.intake_subject(&source), publish).await {
            Ok(ack) => Ok(Box::pin(async move { (keys, ack.await) })),
            Err(e) if e.kind() == AckErrorKind::MaxPayloadExceeded => Err(error(Kind::TooLarge, "publishing", e)),
            Err(e) => Ok(Box::pin(std::future::ready((keys, Err(e))))),
        }
    }

    /// Sends `message` in a fast-ingest batch, `reply` naming the batch
    /// and the message's place in it ([`fast`]); no PubAck is awaited.
    /// Err: the client could not send it (the connection is closed, or
    /// the message is over its limit): the batch is over.
    async fn send_fast(&self, message: Message, reply: String) -> Result<(), async_nats::PublishError> {
        let subject = self.topology.intake_subject(&message.source);
        self.stats.fast.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.client.publish_with_reply_and_headers(subject, reply, message.headers, message.payload.into()).await
    }

    /// Sends an empty control message of a fast-ingest batch (a ping, or
    /// its end) to the intake subject of `source`: the server takes it by
    /// its reply subject and stores nothing.
    async fn send_control(&self, source: &str, reply: String) -> Result<(), async_nats::PublishError> {
        self.client.publish_with_reply(self.topology.intake_subject(source), reply, Default::default()).await
    }

    /// Publishes every event and returns one outcome per event, in the
    /// order receipts arrived; `on_outcome` is called for each as it comes
    /// (for progress). An event whose (source, id) an earlier one of the
    /// input has waits until that one's outcome is in, then goes to the
    /// ledger like any other (a duplicate, or a conflict if its content
    /// differs).
    pub async fn publish_all(
        &self,
        events: impl IntoIterator<Item = Outgoing>,
        on_outcome: impl FnMut(&Outcome),
    ) -> Result<Vec<Outcome>, PublishError> {
        self.publish_stream(futures_util::stream::iter(events), on_outcome).await
    }

    /// As [`Publisher::publish_all`], the events as they come: each goes
    /// out as soon as it is there (and the window has room), and receipts
    /// are taken while the next is awaited — for a publisher that sends
    /// each change as it happens.
    pub async fn publish_stream(
        &self,
        events: impl futures_util::Stream<Item = Outgoing>,
        on_outcome: impl FnMut(&Outcome),
    ) -> Result<Vec<Outcome>, PublishError> {
        use futures_util::FutureExt;
        let mut events = std::pin::pin!(events);
        // The events taken off the input and not yet sent (at most a
        // window's), and whether the input has ended.
        let mut pending = std::collections::VecDeque::new();
        let mut ended = false;
        let (sender, mut receipts) = tokio::sync::mpsc::channel::<Receipt>(self.config.window);
        let mut run = Run::new(self, sender, on_outcome);
        loop {
            while !ended && pending.len() < self.config.window {
                match events.next().now_or_never() {
                    Some(Some(event)) => pending.push_back(event),
                    Some(None) => ended = true,
                    None => break,
                }
            }
            run.fill_window(&mut pending).await?;
            if run.in_flight.is_empty() && pending.is_empty() && ended {
                break;
            }
            let wants_events = !ended && pending.len() < self.config.window;
            let next_deadline = run.deadlines.keys().next().map(|(d, _)| *d).unwrap_or_else(Instant::now);
            let awaiting_acks = !run.acks.is_empty();
            let fast_due = run.fast_due();
            tokio::select! {
                biased;
                Some((keys, ack)) = run.acks.next(), if awaiting_acks => run.on_ack(keys, ack).await?,
                Some((source, generation, reply)) = run.replies.recv() => {
                    run.on_reply(source, generation, reply);
                    // All that came, at once (acks come in bursts).
                    while let Ok((source, generation, reply)) = run.replies.try_recv() {
                        run.on_reply(source, generation, reply);
                    }
                }
                receipt = receipts.recv() => {
                    let receipt = receipt.ok_or_else(|| PublishError {
                        kind: Kind::Connection,
                        message: "receipt subscription closed".into(),
                    })?;
                    run.take(receipt);
                    // All that came, at once. Rationale: one a turn, while
                    // the other turns looked late ones up (a second each
                    // when a ledger does not answer), left receipts that had
                    // arrived waiting, and their events were looked up too
                    // (measured: ingest crawled at a receipt a second
                    // after a failover).
                    while let Ok(receipt) = receipts.try_recv() {
                        run.take(receipt);
                    }
                }
                event = events.next(), if wants_events => match event {
                    Some(event) => pending.push_back(event),
                    None => ended = true,
                },
                // Only once the receipts that came are taken (the branches
                // are polled in order): a late event is looked up only if
                // its receipt is not already here.
                _ = tokio::time::sleep_until(fast_due.unwrap_or_else(Instant::now)), if fast_due.is_some() => {
                    run.fast_late().await
                }
                _ = tokio::time::sleep_until(next_deadline), if receipts.is_empty() => run.look_up_late().await?,
            }
        }
        run.close_batches().await;
        run.listeners.abort_all();
        Ok(run.outcomes.list)
    }

    /// The message carrying the in-flight events `group` (of one source):
    /// one event alone, or several batched.
    fn message_of(&self, group: &[Key], in_flight: &HashMap<Key, InFlight>) -> Message {
        let carried: Vec<&Outgoing> = group.iter().map(|key| &in_flight[key].event).collect();
        match carried.as_slice() {
            [event] => Message::one(event),
            events => Message::batch(events),
        }
    }

    /// Subscribes to the receipts of `source` (JSON arrays); the returned
    /// future forwards them one by one into `sender`.
    async fn listen(
        &self,
        source: &str,
        sender: tokio::sync::mpsc::Sender<Receipt>,
    ) -> Result<impl std::future::Future<Output = ()> + Send + 'static, PublishError> {
        let mut subscription = self
            .client
            .subscribe(self.topology.receipts_subject(source))
            .await
            .map_err(|e| error(Kind::Connection, "subscribing", e))?;
        // Make sure the server has the subscription before anything is
        // published, so no receipt can slip past it.
        self.client.flush().await.map_err(|e| error(Kind::Connection, "flushing", e))?;
        Ok(async move {
            while let Some(message) = subscription.next().await {
                match serde_json::from_slice::<Vec<Receipt>>(&message.payload) {
                    Ok(receipts) => {
                        for receipt in receipts {
                            if sender.send(receipt).await.is_err() {
                                return;
                            }
                        }
                    }
                    // Its events time out and are looked up.
                    Err(e) => tracing::warn!(%e, "unreadable receipts"),
                }
            }
        })
    }
}

/// Checked by the compiler, never run: `publish_all`'s future must stay
/// `Send`, as callers spawn it (`Run` holds the PubAck futures, which are
/// `Send` but not `Sync`, so no `&Run` may be held across an await).
#[cfg(test)]
#[allow(dead_code)]
fn publish_all_is_send(publisher: &Publisher) -> impl std::future::Future + Send + '_ {
    publisher.publish_all(Vec::new(), |_| {})
}
