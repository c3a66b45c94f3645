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

pub mod input;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind as AckErrorKind;
use async_nats::jetstream::message::PublishMessage;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use muster_bus::Topology;
use muster_proto::entry::Receipt;
use muster_proto::requests::ReceiptRequest;
use muster_proto::{cloudevents, limits, ReasonCode};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::iter::Peekable;
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

const ACK_RETRY_PAUSE: Duration = Duration::from_millis(limits::ACK_RETRY_PAUSE_MS);

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

fn error(kind: PublishErrorKind, context: &str, e: impl std::fmt::Display) -> PublishError {
    PublishError { kind, message: format!("{context}: {e}") }
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

/// The outcomes so far, in the order they came, and for each key sent the
/// seq it got and a hash of its payload (keyed by a hash of the key: a
/// run's memory stays a few words per event).
struct Outcomes<F> {
    list: Vec<Outcome>,
    seq_of_key: HashMap<u64, (Option<u64>, u64)>,
    hasher: std::hash::RandomState,
    on_outcome: F,
}

impl<F: FnMut(&Outcome)> Outcomes<F> {
    /// A hash of (source, id), from borrowed text: no copy per event.
    fn key_hash(&self, source: &str, id: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, (source, id))
    }

    /// Notes `event` going out; if an earlier event of this run had its
    /// key: the seq that one got, and whether its payload was the same.
    fn sent(&mut self, key: &Key, event: &Outgoing) -> Option<(Option<u64>, bool)> {
        let payload = std::hash::BuildHasher::hash_one(&self.hasher, &event.payload);
        let earlier = self.seq_of_key.insert(self.key_hash(&key.0, &key.1), (None, payload));
        earlier.map(|(seq, earlier_payload)| (seq, earlier_payload == payload))
    }

    fn push(&mut self, outcome: Outcome) {
        let (key_hash, seq) = match &outcome {
            Outcome::Receipt(r) => (self.key_hash(&r.source, &r.id), r.seq),
            Outcome::NoReceipt { source, id, .. } => (self.key_hash(source, id), None),
        };
        self.seq_of_key.entry(key_hash).or_insert((None, 0)).0 = seq;
        (self.on_outcome)(&outcome);
        self.list.push(outcome);
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
}

const STREAM_CHECK_TIMEOUT: Duration = Duration::from_millis(limits::STREAM_CHECK_TIMEOUT_MS);

struct InFlight {
    event: Outgoing,
    attempts: u32,
    /// Its key in the deadline index.
    deadline: (Instant, u64),
    /// The stream had its first message already (its PubAck said
    /// duplicate): it was published before this run.
    published_before: bool,
    /// Another event of this run had its key: the seq of that one's
    /// receipt.
    earlier_seq: Option<u64>,
    /// That one's payload was byte for byte this one's: any receipt naming
    /// its seq is this one's answer too. Otherwise such a receipt may be a
    /// late copy of that one's, and only a lookup (by content) settles it.
    same_bytes_as_earlier: bool,
}

impl InFlight {
    /// Whether `receipt` answers this event (not a late copy of the answer
    /// to an earlier event of its key with other bytes).
    fn answered_by(&self, receipt: &Receipt) -> bool {
        self.earlier_seq.is_none() || self.earlier_seq != receipt.seq || self.same_bytes_as_earlier
    }

    /// `receipt` as this event's outcome: a duplicate when what the ledger
    /// answers is the recording of an earlier publish of the same content
    /// (found by a lookup, which never says so itself). A changed event's
    /// rejection stays a rejection, however often it was sent.
    fn settle(&self, mut receipt: Receipt) -> Receipt {
        let earlier = self.published_before || (self.earlier_seq.is_some() && self.earlier_seq == receipt.seq);
        if earlier && receipt.code.as_deref() != Some(ReasonCode::DuplicateIdDifferentContent.as_str()) {
            receipt.duplicate = true;
        }
        receipt
    }
}

impl Publisher {
    /// A publisher on `client` for the deployment `topology`.
    pub fn new(client: async_nats::Client, topology: Topology, config: PublisherConfig) -> Publisher {
        assert!(config.window >= 1 && config.window <= limits::PUBLISH_IN_FLIGHT_MAX);
        assert!(config.batch >= 1 && config.batch <= limits::BATCH_MESSAGE_EVENTS_MAX);
        let js = jetstream::new(client.clone());
        let check = jetstream::ContextBuilder::new().timeout(STREAM_CHECK_TIMEOUT).build(client.clone());
        Publisher { client, js, check, topology, config }
    }

    /// Publishes one event; the returned future is JetStream's PubAck.
    /// The PubAck never counts as "recorded" (the server acknowledges
    /// before it fsyncs); it tells us two things early: that no stream
    /// took the message (nobody would ever record it), and that the stream
    /// already had it (a duplicate, whose receipt can be looked up now).
    async fn send(&self, event: &Outgoing) -> Result<AckFuture, PublishError> {
        // Headers first: `headers` replaces the map `message_id` writes to.
        let message = PublishMessage::build()
            .headers(event_headers(event))
            .payload(event.payload.clone().into())
            .message_id(Topology::message_id(&event.source, &event.id, &event.payload));
        self.send_message(&event.source, message, vec![(event.source.clone(), event.id.clone())]).await
    }

    /// Publishes events of one source (all [`batchable`]) as one batched
    /// message. Its `Nats-Msg-Id` covers its whole payload, so JetStream
    /// drops only a re-publish of the very same batch.
    async fn send_batch(&self, events: &[&Outgoing]) -> Result<AckFuture, PublishError> {
        let [first, ..] = events else { unreachable!("a batch holds an event") };
        debug_assert!(events.iter().all(|e| e.source == first.source && batchable(e)));
        let keys: Vec<Key> = events.iter().map(|e| (e.source.clone(), e.id.clone())).collect();
        let payload = cloudevents::encode_batch(events.iter().map(|e| e.payload.as_slice()));
        let message = PublishMessage::build()
            .message_id(Topology::batch_message_id(&first.source, &payload))
            .payload(payload.into())
            .header(muster_bus::CONTENT_TYPE_HEADER, cloudevents::BATCH_CONTENT_TYPE)
            .header(muster_bus::SOURCE_HEADER, first.source.as_str());
        self.send_message(&first.source, message, keys).await
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
    async fn send_message(
        &self,
        source: &str,
        message: PublishMessage,
        keys: Vec<Key>,
    ) -> Result<AckFuture, PublishError> {
        match self.js.send_publish(self.topology.intake_subject(source), message).await {
            Ok(ack) => Ok(Box::pin(async move { (keys, ack.await) })),
            Err(e) if e.kind() == AckErrorKind::MaxPayloadExceeded => Err(error(Kind::TooLarge, "publishing", e)),
            Err(e) => Ok(Box::pin(std::future::ready((keys, Err(e))))),
        }
    }

    /// The ledger's receipt of (source, id), if it recorded the event: the
    /// first entry under the key. `None` too when no ledger answers in
    /// time (it is down or busy): the caller publishes again, which is
    /// always safe.
    pub async fn lookup(&self, source: &str, id: &str) -> Result<Option<Receipt>, PublishError> {
        let request = ReceiptRequest { source: source.to_owned(), id: id.to_owned() };
        let body = serde_json::to_vec(&request).expect("a lookup request encodes");
        let asked = self.client.request(self.topology.lookup_subject(source), body.into());
        self.lookup_reply(source, id, asked).await
    }

    /// The ledger's receipt of this very event, if it recorded it: the
    /// lookup carries the event as published, so a changed event under a
    /// used id gets its own rejection (`duplicate_id_different_content`),
    /// never the original's receipt. `None` as for [`Publisher::lookup`].
    pub async fn lookup_event(&self, event: &Outgoing) -> Result<Option<Receipt>, PublishError> {
        let subject = self.topology.lookup_subject(&event.source);
        let asked = self.client.request_with_headers(subject, event_headers(event), event.payload.clone().into());
        self.lookup_reply(&event.source, &event.id, asked).await
    }

    async fn lookup_reply(
        &self,
        source: &str,
        id: &str,
        asked: impl std::future::Future<Output = Result<async_nats::Message, async_nats::RequestError>>,
    ) -> Result<Option<Receipt>, PublishError> {
        let reply = match tokio::time::timeout(self.config.receipt_wait, asked).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => return Ok(None),
            // Timed out, or the connection is down (a server restarting):
            // not known to be recorded, which a re-publish settles.
            Ok(Err(e)) => {
                tracing::debug!(%source, %id, error = %e, "receipt lookup failed");
                return Ok(None);
            }
            Err(_) => return Ok(None),
        };
        serde_json::from_slice::<Option<Receipt>>(&reply.payload).map_err(|e| {
            error(
                Kind::BadAnswer,
                "the ledger's answer to a receipt lookup",
                format!("{e}: {}", String::from_utf8_lossy(&reply.payload)),
            )
        })
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
        let mut events = events.into_iter().peekable();
        let (sender, mut receipts) = tokio::sync::mpsc::channel::<Receipt>(self.config.window);
        let mut run = Run::new(self, sender, on_outcome);
        loop {
            run.fill_window(&mut events).await?;
            if run.in_flight.is_empty() && events.peek().is_none() {
                break;
            }
            let next_deadline = run.deadlines.keys().next().map(|(d, _)| *d).unwrap_or_else(Instant::now);
            let awaiting_acks = !run.acks.is_empty();
            tokio::select! {
                biased;
                Some((keys, ack)) = run.acks.next(), if awaiting_acks => run.on_ack(keys, ack).await?,
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
                // Only once the receipts that came are taken (the branches
                // are polled in order): a late event is looked up only if
                // its receipt is not already here.
                _ = tokio::time::sleep_until(next_deadline), if receipts.is_empty() => run.look_up_late().await?,
            }
        }
        run.listeners.abort_all();
        Ok(run.outcomes.list)
    }

    /// Sends the in-flight events `group` (of one source) as one message:
    /// alone, or batched. Rationale for taking `in_flight` rather than the
    /// whole [`Run`]: a `&Run` held across the send would need `Run: Sync`,
    /// which its PubAck futures are not.
    async fn send_group(&self, group: &[Key], in_flight: &HashMap<Key, InFlight>) -> Result<AckFuture, PublishError> {
        let carried: Vec<&Outgoing> = group.iter().map(|key| &in_flight[key].event).collect();
        match carried.as_slice() {
            [event] => self.send(event).await,
            events => self.send_batch(events).await,
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

/// The state of one [`Publisher::publish_all`]: the events in flight and
/// when each one's receipt is due, the PubAcks awaited, the receipt
/// listeners, and the outcomes so far. Rationale: every step of the loop
/// reads and changes these; as fields of one value, each step is a method
/// short enough to read at once, instead of one function with nine
/// mutable locals.
struct Run<'a, F> {
    publisher: &'a Publisher,
    /// Where each source's listener forwards its receipts.
    sender: tokio::sync::mpsc::Sender<Receipt>,
    /// Sources whose receipts are listened to.
    listening: HashSet<String>,
    listeners: tokio::task::JoinSet<()>,
    in_flight: HashMap<Key, InFlight>,
    /// When each in-flight event's receipt is due, soonest first; the
    /// counter keeps deadlines of the same instant apart.
    deadlines: BTreeMap<(Instant, u64), Key>,
    tick: u64,
    outcomes: Outcomes<F>,
    acks: FuturesUnordered<AckFuture>,
    /// Sources with a message not yet stored, and how often in a row a
    /// source's message failed to be: nothing more of theirs goes out.
    awaiting_ack: HashMap<String, u32>,
}

impl<'a, F: FnMut(&Outcome)> Run<'a, F> {
    fn new(publisher: &'a Publisher, sender: tokio::sync::mpsc::Sender<Receipt>, on_outcome: F) -> Self {
        Run {
            publisher,
            sender,
            listening: HashSet::new(),
            listeners: tokio::task::JoinSet::new(),
            in_flight: HashMap::new(),
            deadlines: BTreeMap::new(),
            tick: 0,
            outcomes: Outcomes { list: Vec::new(), seq_of_key: HashMap::new(), hasher: Default::default(), on_outcome },
            acks: FuturesUnordered::new(),
            awaiting_ack: HashMap::new(),
        }
    }

    /// Sends messages while the window has room for a whole batch.
    /// Rationale: refilling slot by slot as receipts come would send one
    /// event per message once the window is full. A source whose message
    /// is not yet stored sends nothing more (the order rule).
    async fn fill_window(&mut self, events: &mut Peekable<impl Iterator<Item = Outgoing>>) -> Result<(), PublishError> {
        let publisher = self.publisher;
        let group_room = publisher.config.batch.min(publisher.config.window);
        while publisher.config.window - self.in_flight.len() >= group_room {
            if events.peek().is_some_and(|next| self.awaiting_ack.contains_key(&next.source)) {
                break;
            }
            let group = self.next_group(events);
            let Some((source, _)) = group.first() else { break };
            if self.listening.insert(source.clone()) {
                self.listeners.spawn(publisher.listen(source, self.sender.clone()).await?);
            }
            self.awaiting_ack.insert(source.clone(), 0);
            let ack = publisher.send_group(&group, &self.in_flight).await?;
            self.acks.push(ack);
        }
        Ok(())
    }

    /// Takes the next message's events off `events` and puts them in
    /// flight: one event, or consecutive batchable events of one source up
    /// to `batch` and the payload limit. Empty when the next must wait.
    fn next_group(&mut self, events: &mut Peekable<impl Iterator<Item = Outgoing>>) -> Vec<Key> {
        let config = &self.publisher.config;
        let mut group: Vec<Key> = Vec::new();
        let mut bytes = 2;
        while group.len() < config.batch && self.in_flight.len() < config.window {
            let Some(event) = events.peek() else { break };
            let key = (event.source.clone(), event.id.clone());
            if self.in_flight.contains_key(&key) {
                // Its key's earlier event first: two at once could not
                // tell their receipts apart.
                break;
            }
            let alone = !batchable(event);
            if let Some((source, _)) = group.first() {
                if alone || *source != key.0 || bytes + event.payload.len() + 1 > limits::PAYLOAD_BYTES_MAX {
                    break;
                }
            }
            bytes += event.payload.len() + 1;
            let event = events.next().expect("peeked");
            self.start(key.clone(), event);
            group.push(key);
            if alone {
                break;
            }
        }
        group
    }

    /// Puts `event` in flight, its receipt due one `receipt_wait` from now.
    fn start(&mut self, key: Key, event: Outgoing) {
        self.tick += 1;
        let deadline = (Instant::now() + self.publisher.config.receipt_wait, self.tick);
        self.deadlines.insert(deadline, key.clone());
        let (earlier_seq, same_bytes_as_earlier) = self.outcomes.sent(&key, &event).unwrap_or((None, false));
        let entry =
            InFlight { event, attempts: 1, deadline, published_before: false, earlier_seq, same_bytes_as_earlier };
        self.in_flight.insert(key, entry);
    }

    /// The PubAck of the message that carried `keys` (of one source).
    async fn on_ack(
        &mut self,
        keys: Vec<Key>,
        ack: Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
    ) -> Result<(), PublishError> {
        let source = keys[0].0.clone();
        // Whether this answers the message sent again after its PubAck
        // failed (the first copy may have been stored).
        let sent_again = self.awaiting_ack.get(&source).is_some_and(|failures| *failures > 0);
        if ack.is_ok() {
            self.awaiting_ack.remove(&source);
        }
        match ack {
            Ok(ack) if !ack.duplicate => {}
            // Already in the stream: their receipts may exist; look now.
            Ok(_) => {
                // Published before this run only if this run's first copy
                // was not: a second copy's duplicate PubAck may be of this
                // run's own first.
                for key in keys.iter().filter(|_| !sent_again) {
                    if let Some(entry) = self.in_flight.get_mut(key).filter(|e| e.attempts == 1) {
                        entry.published_before = true;
                    }
                }
                self.expire_now(&keys)
            }
            Err(e) if e.kind() == AckErrorKind::StreamNotFound && self.publisher.no_intake_stream().await => {
                let subject = self.publisher.topology.intake_subject(&keys[0].0);
                return Err(PublishError {
                    kind: Kind::NoIntakeStream,
                    message: format!(
                        "no intake stream takes {subject}: is the ledger service running (and the prefix right)?"
                    ),
                });
            }
            Err(e) if e.kind() == AckErrorKind::MaxPayloadExceeded => {
                return Err(error(Kind::TooLarge, "publishing", e))
            }
            Err(e) => self.ack_failed(source, keys, e).await?,
        }
        Ok(())
    }

    /// A message not known to be stored: the same message again, before
    /// anything after it (a short pause: the server may be restarting);
    /// after `attempts` failures in a row, its events are looked up.
    async fn ack_failed(
        &mut self,
        source: String,
        keys: Vec<Key>,
        e: jetstream::context::PublishError,
    ) -> Result<(), PublishError> {
        let unanswered: Vec<Key> = keys.into_iter().filter(|k| self.in_flight.contains_key(k)).collect();
        let failures = self.awaiting_ack.entry(source.clone()).or_default();
        *failures += 1;
        let failures = *failures;
        tracing::debug!(%source, events = unanswered.len(), failures, error = %e, "no PubAck; sending the message again");
        if unanswered.is_empty() || failures >= self.publisher.config.attempts {
            self.awaiting_ack.remove(&source);
            self.expire_now(&unanswered);
        } else {
            tokio::time::sleep(ACK_RETRY_PAUSE).await;
            let ack = self.publisher.send_group(&unanswered, &self.in_flight).await?;
            self.acks.push(ack);
        }
        Ok(())
    }

    /// A receipt that came: the outcome of the event in flight it answers
    /// (not a late copy of an earlier event's of the same key).
    fn take(&mut self, receipt: Receipt) {
        let key = (receipt.source.clone(), receipt.id.clone());
        if self.in_flight.get(&key).is_some_and(|e| e.answered_by(&receipt)) {
            let done = self.in_flight.remove(&key).expect("in flight");
            self.deadlines.remove(&done.deadline);
            self.outcomes.push(Outcome::Receipt(receipt));
        }
    }

    /// The events whose receipts are late: looked up, then settled,
    /// published again, or given up.
    async fn look_up_late(&mut self) -> Result<(), PublishError> {
        let expired: Vec<((Instant, u64), Key)> =
            self.deadlines.range(..=(Instant::now(), u64::MAX)).map(|(k, v)| (*k, v.clone())).collect();
        for (deadline_key, _) in &expired {
            self.deadlines.remove(deadline_key);
        }
        // Looked up side by side, as many as are in flight (the window
        // bounds them): one lookup the ledger does not answer (a frozen
        // service still in the lookup queue group, a failover under way)
        // costs its wait once for them all, not once per late event.
        let expired: Vec<Key> =
            expired.into_iter().map(|(_, key)| key).filter(|key| self.in_flight.contains_key(key)).collect();
        let publisher = self.publisher;
        let lookups: Vec<_> = expired.iter().map(|key| publisher.lookup_event(&self.in_flight[key].event)).collect();
        let found: Vec<Result<Option<Receipt>, PublishError>> =
            futures_util::stream::iter(lookups).buffered(publisher.config.window).collect().await;
        for (key, found) in expired.into_iter().zip(found) {
            let republish = !self.awaiting_ack.contains_key(&key.0);
            if let Some(outcome) = self.retry(&key, found?, republish).await? {
                self.outcomes.push(outcome);
            }
        }
        Ok(())
    }

    /// A receipt is late and was looked up (`found`: it may have come
    /// before we listened): done if found, else publish again (if
    /// `republish`: not while its source's message is being sent again,
    /// which would overtake it), else give up.
    async fn retry(
        &mut self,
        key: &Key,
        found: Option<Receipt>,
        republish: bool,
    ) -> Result<Option<Outcome>, PublishError> {
        let config = &self.publisher.config;
        let Some(entry) = self.in_flight.get_mut(key) else { return Ok(None) };
        if let Some(receipt) = found {
            let receipt = entry.settle(receipt);
            self.in_flight.remove(key);
            return Ok(Some(Outcome::Receipt(receipt)));
        }
        if !republish {
            self.tick += 1;
            entry.deadline = (Instant::now() + config.receipt_wait, self.tick);
            self.deadlines.insert(entry.deadline, key.clone());
            return Ok(None);
        }
        if entry.attempts >= config.attempts {
            let attempts = entry.attempts;
            self.in_flight.remove(key);
            return Ok(Some(Outcome::NoReceipt { source: key.0.clone(), id: key.1.clone(), attempts }));
        }
        entry.attempts += 1;
        tracing::debug!(source = %key.0, id = %key.1, attempt = entry.attempts, "no receipt yet; publishing again");
        let event = entry.event.clone();
        // Back off: each attempt waits longer for its receipt.
        self.tick += 1;
        entry.deadline = (Instant::now() + config.receipt_wait * entry.attempts, self.tick);
        self.deadlines.insert(entry.deadline, key.clone());
        // The retry's PubAck is not needed: the receipt is what counts,
        // and a missing one brings us back here.
        drop(self.publisher.send(&event).await?);
        Ok(None)
    }

    /// Moves in-flight events' deadlines to now.
    fn expire_now(&mut self, keys: &[Key]) {
        for key in keys {
            if let Some(entry) = self.in_flight.get_mut(key) {
                self.deadlines.remove(&entry.deadline);
                self.tick += 1;
                entry.deadline = (Instant::now(), self.tick);
                self.deadlines.insert(entry.deadline, key.clone());
            }
        }
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
