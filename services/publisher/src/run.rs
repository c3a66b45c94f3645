//! One run of [`Publisher::publish_all`]: the events in flight
//! (`InFlight`), the outcomes so far (`Outcomes`), and the `Run` whose
//! methods are the steps of the loop (fill the window, take PubAcks and
//! receipts, look up and retry late events). Rationale: the bookkeeping
//! is most of the publisher, and reads best on its own.

use crate::error::error;
use crate::fast::{self, Batch, Reply};
use crate::{batchable, AckFuture, Key, Kind, Outcome, Outgoing, PublishError, Publisher};
use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind as AckErrorKind;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use muster_proto::entry::Receipt;
use muster_proto::{limits, ReasonCode};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

const ACK_RETRY_PAUSE: Duration = Duration::from_millis(limits::ACK_RETRY_PAUSE_MS);
/// JetStream's error code: the stream does not take fast-ingest batches
/// (`allow_batched` is off).
const BATCH_PUBLISH_DISABLED: u64 = 10205;

/// The outcomes so far, in the order they came, and for each key sent the
/// seq it got and a hash of its payload (keyed by a hash of the key: a
/// run's memory stays a few words per event).
pub(crate) struct Outcomes<F> {
    pub(crate) list: Vec<Outcome>,
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

pub(crate) struct InFlight {
    pub(crate) event: Outgoing,
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

/// The state of one [`Publisher::publish_all`]: the events in flight and
/// when each one's receipt is due, the PubAcks awaited, the receipt
/// listeners, and the outcomes so far. Rationale: every step of the loop
/// reads and changes these; as fields of one value, each step is a method
/// short enough to read at once, instead of one function with nine
/// mutable locals.
pub(crate) struct Run<'a, F> {
    pub(crate) publisher: &'a Publisher,
    /// Where each source's listener forwards its receipts.
    pub(crate) sender: tokio::sync::mpsc::Sender<Receipt>,
    /// Sources whose receipts are listened to.
    pub(crate) listening: HashSet<String>,
    pub(crate) listeners: tokio::task::JoinSet<()>,
    pub(crate) in_flight: HashMap<Key, InFlight>,
    /// When each in-flight event's receipt is due, soonest first; the
    /// counter keeps deadlines of the same instant apart.
    pub(crate) deadlines: BTreeMap<(Instant, u64), Key>,
    pub(crate) tick: u64,
    pub(crate) outcomes: Outcomes<F>,
    pub(crate) acks: FuturesUnordered<AckFuture>,
    /// Sources with a message sent alone and not yet stored, and how often
    /// in a row a source's message failed to be: nothing more of theirs
    /// goes out.
    pub(crate) awaiting_ack: HashMap<String, u32>,
    /// Sources' open fast-ingest batches ([`crate::fast`]).
    batches: HashMap<String, Batch>,
    /// Per source, messages to send again before anything else of it (a
    /// fast batch ended without storing them), oldest first.
    again: HashMap<String, VecDeque<Vec<Key>>>,
    /// Sources whose messages may go in fast batches: their last message
    /// sent alone was new to the stream. Rationale: a fast batch does not
    /// say which of its messages the stream had already (it drops them
    /// silently); a PubAck does, and its events are looked up at once. So
    /// a source's first message of a run goes alone: if the stream had
    /// it, this run repeats an earlier one, and its messages go alone
    /// until one is new. A fast batch failing at its start sends its
    /// message alone too (that path names the reason).
    fast_ready: HashSet<String>,
    /// Fast batches of a source that failed at their start, in a row.
    start_failures: HashMap<String, u32>,
    /// The intake stream takes no fast-ingest batches.
    fast_off: bool,
    /// The fast batches' replies, each with its source and batch.
    pub(crate) replies: tokio::sync::mpsc::Receiver<(String, u64, async_nats::Message)>,
    replies_sender: tokio::sync::mpsc::Sender<(String, u64, async_nats::Message)>,
    generation: u64,
}

impl<'a, F: FnMut(&Outcome)> Run<'a, F> {
    pub(crate) fn new(publisher: &'a Publisher, sender: tokio::sync::mpsc::Sender<Receipt>, on_outcome: F) -> Self {
        let (replies_sender, replies) = tokio::sync::mpsc::channel(limits::FAST_BATCH_REPLIES_MAX);
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
            batches: HashMap::new(),
            again: HashMap::new(),
            fast_ready: HashSet::new(),
            start_failures: HashMap::new(),
            fast_off: false,
            replies,
            replies_sender,
            generation: 0,
        }
    }

    /// Sends messages while the window has room for a whole batch (after
    /// the messages to send again). Rationale: refilling slot by slot as
    /// receipts come would send one event per message once the window is
    /// full. A source that may not send now holds back everything after
    /// it (the order rule).
    pub(crate) async fn fill_window(&mut self, events: &mut VecDeque<Outgoing>) -> Result<(), PublishError> {
        self.send_again().await?;
        let publisher = self.publisher;
        let group_room = publisher.config.batch.min(publisher.config.window);
        while publisher.config.window - self.in_flight.len() >= group_room {
            if events.front().is_some_and(|next| self.blocked(&next.source)) {
                break;
            }
            let group = self.next_group(events);
            let Some((source, _)) = group.first() else { break };
            let source = source.clone();
            if self.listening.insert(source.clone()) {
                self.listeners.spawn(publisher.listen(&source, self.sender.clone()).await?);
            }
            self.dispatch(&source, group).await?;
        }
        Ok(())
    }

    /// Whether `source` may not send its next message now: one sent alone
    /// is not yet stored, messages wait to be sent again, or its fast
    /// batch must hear from the server first.
    fn blocked(&self, source: &str) -> bool {
        self.waits_on(source, |batch| !batch.may_send())
    }

    /// Whether a message of `source` is not yet known to be stored (so a
    /// late event must not be published again alone: it could overtake).
    fn unsettled(&self, source: &str) -> bool {
        self.waits_on(source, |batch| !batch.settled())
    }

    /// Whether `source` has a message sent alone and not yet stored,
    /// messages waiting to be sent again, or a fast batch `waiting` says
    /// holds it.
    fn waits_on(&self, source: &str, waiting: impl Fn(&Batch) -> bool) -> bool {
        self.awaiting_ack.contains_key(source)
            || self.again.get(source).is_some_and(|queue| !queue.is_empty())
            || self.batches.get(source).is_some_and(waiting)
    }

    /// Sends `group` (of `source`): in the source's fast batch (one is
    /// started if none is open), or alone with its PubAck awaited.
    async fn dispatch(&mut self, source: &str, group: Vec<Key>) -> Result<(), PublishError> {
        let message = self.publisher.message_of(&group, &self.in_flight);
        let fast = !self.fast_off
            && self.fast_ready.contains(source)
            && self.start_failures.get(source).is_none_or(|n| *n < limits::FAST_BATCH_START_FAILURES_MAX);
        if !fast {
            self.awaiting_ack.insert(source.to_owned(), 0);
            let ack = self.publisher.send_message(message).await?;
            self.acks.push(ack);
            return Ok(());
        }
        if !self.batches.contains_key(source) {
            let batch = self.start_batch(source).await?;
            self.batches.insert(source.to_owned(), batch);
        }
        let reply = self.batches.get_mut(source).expect("an open batch").send(group);
        if let Err(e) = self.publisher.send_fast(message, reply).await {
            tracing::debug!(%source, error = %e, "a fast batch's message was not sent; sending it alone");
            self.end_batch(source, None, true);
        }
        Ok(())
    }

    /// A new fast batch of `source`: its inbox, and the task forwarding
    /// the replies that come to it.
    async fn start_batch(&mut self, source: &str) -> Result<Batch, PublishError> {
        self.generation += 1;
        let client = &self.publisher.client;
        let inbox = client.new_inbox();
        let mut subscription =
            client.subscribe(format!("{inbox}.>")).await.map_err(|e| error(Kind::Connection, "subscribing", e))?;
        let (sender, source, generation) = (self.replies_sender.clone(), source.to_owned(), self.generation);
        let forwarder = tokio::spawn(async move {
            while let Some(reply) = subscription.next().await {
                if sender.send((source.clone(), generation, reply)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Batch::new(generation, &inbox, forwarder.abort_handle()))
    }

    /// Ends `source`'s fast batch, having stored its first `stored`
    /// messages (`None`: as acknowledged): what it did not store is sent
    /// again before anything else of the source, in order — alone if
    /// `careful`.
    fn end_batch(&mut self, source: &str, stored: Option<u64>, careful: bool) {
        let Some(batch) = self.batches.remove(source) else { return };
        let again = batch.end(stored);
        self.publisher.stats.sent_again.fetch_add(again.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let queue = self.again.entry(source.to_owned()).or_default();
        for group in again.into_iter().rev() {
            queue.push_front(group);
        }
        if careful {
            self.fast_ready.remove(source);
        }
    }

    /// Sends the messages to send again of every source that may send.
    /// A message one of whose events got its receipt meanwhile was stored
    /// (a message is stored whole): it is not sent again. Each copy counts
    /// as an attempt: so a duplicate PubAck of it is known to be of this
    /// run's own first copy, not of an earlier run.
    async fn send_again(&mut self) -> Result<(), PublishError> {
        let sources: Vec<String> = self.again.keys().cloned().collect();
        for source in sources {
            while !self.awaiting_ack.contains_key(&source) && self.batches.get(&source).is_none_or(Batch::may_send) {
                let Some(group) = self.again.get_mut(&source).and_then(VecDeque::pop_front) else { break };
                if group.iter().all(|key| self.in_flight.contains_key(key)) {
                    for key in &group {
                        self.in_flight.get_mut(key).expect("in flight").attempts += 1;
                    }
                    self.dispatch(&source, group).await?;
                }
            }
        }
        self.again.retain(|_, queue| !queue.is_empty());
        Ok(())
    }

    /// A reply to a fast batch of `source`.
    pub(crate) fn on_reply(&mut self, source: String, generation: u64, reply: async_nats::Message) {
        let Some(batch) = self.batches.get_mut(&source).filter(|b| b.generation == generation) else { return };
        match fast::classify(&reply) {
            None => {}
            Some(Reply::Ack { seq, flow }) => {
                batch.acked(seq, flow);
                self.start_failures.remove(&source);
            }
            Some(Reply::Failing) => batch.ending(),
            // Sent alone, the message learns whether the stream exists.
            Some(Reply::NoResponders) => self.failed_at_start_or_later(&source, None),
            Some(Reply::Ended { stored, code }) => self.batch_ended(&source, stored, code),
        }
    }

    /// The server ended `source`'s batch (see [`Reply::Ended`]).
    fn batch_ended(&mut self, source: &str, stored: Option<u64>, code: Option<u64>) {
        let at_start = self.batches[source].only_start();
        // An error saying so, or a plain PubAck to the start (a server
        // before 2.14 stores it as an ordinary publish).
        if code == Some(BATCH_PUBLISH_DISABLED) || (at_start && code.is_none() && stored.is_none()) {
            if !self.fast_off {
                tracing::info!("the intake stream takes no fast-ingest batches: each message waits for its PubAck");
            }
            self.fast_off = true;
        }
        match code {
            Some(_) => self.failed_at_start_or_later(source, stored),
            None => self.end_batch(source, stored, false),
        }
    }

    /// `source`'s batch failed: at its start (its message goes alone, and
    /// the source's failures are counted), or later (a new batch takes
    /// over).
    fn failed_at_start_or_later(&mut self, source: &str, stored: Option<u64>) {
        let at_start = self.batches.get(source).is_some_and(Batch::only_start);
        if at_start {
            *self.start_failures.entry(source.to_owned()).or_default() += 1;
        }
        self.end_batch(source, stored, at_start);
    }

    /// When a fast batch must act next, if any must.
    pub(crate) fn fast_due(&self) -> Option<Instant> {
        self.batches.values().filter_map(Batch::due).min()
    }

    /// Fast batches whose time came: an idle one is ended (its PubAck
    /// says what it stored), a late reply is pinged for, and a batch that
    /// stays silent is given up (what it did not acknowledge goes again).
    pub(crate) async fn fast_late(&mut self) {
        let now = Instant::now();
        let due: Vec<String> =
            self.batches.iter().filter(|(_, b)| b.due().is_some_and(|d| d <= now)).map(|(s, _)| s.clone()).collect();
        for source in due {
            let batch = self.batches.get_mut(&source).expect("a due batch");
            let control = if batch.idle() {
                let reply = batch.end_reply();
                batch.ending();
                reply
            } else if batch.late() {
                batch.ping_reply()
            } else {
                tracing::debug!(%source, "a fast batch went unanswered; its messages go again");
                self.failed_at_start_or_later(&source, None);
                continue;
            };
            if self.publisher.send_control(&source, control).await.is_err() {
                self.failed_at_start_or_later(&source, None);
            }
        }
    }

    /// Ends every open fast batch, not waiting for its answer: the run is
    /// over (every event has its outcome), and the server holds a batch
    /// for seconds otherwise.
    pub(crate) async fn close_batches(&mut self) {
        for (source, batch) in std::mem::take(&mut self.batches) {
            let _ = self.publisher.send_control(&source, batch.end_reply()).await;
        }
    }

    /// Takes the next message's events off `events` and puts them in
    /// flight: one event, or consecutive batchable events of one source up
    /// to `batch` and the payload limit. Empty when the next must wait.
    fn next_group(&mut self, events: &mut VecDeque<Outgoing>) -> Vec<Key> {
        let config = &self.publisher.config;
        let mut group: Vec<Key> = Vec::new();
        let mut bytes = 2;
        while group.len() < config.batch && self.in_flight.len() < config.window {
            let Some(event) = events.front() else { break };
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
            let event = events.pop_front().expect("in front");
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
    pub(crate) async fn on_ack(
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
            // A new message: the source's next go fast.
            Ok(ack) if !ack.duplicate => {
                self.fast_ready.insert(source);
            }
            // Already in the stream: their receipts may exist; look now.
            Ok(_) => {
                self.fast_ready.remove(&source);
                self.published_before(&keys, sent_again)
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
            let ack = self.publisher.send_message(self.publisher.message_of(&unanswered, &self.in_flight)).await?;
            self.acks.push(ack);
        }
        Ok(())
    }

    /// A receipt that came: the outcome of the event in flight it answers
    /// (not a late copy of an earlier event's of the same key).
    pub(crate) fn take(&mut self, receipt: Receipt) {
        let key = (receipt.source.clone(), receipt.id.clone());
        if self.in_flight.get(&key).is_some_and(|e| e.answered_by(&receipt)) {
            let done = self.in_flight.remove(&key).expect("in flight");
            self.deadlines.remove(&done.deadline);
            self.outcomes.push(Outcome::Receipt(receipt));
        }
    }

    /// The events whose receipts are late: looked up, then settled,
    /// published again, or given up.
    pub(crate) async fn look_up_late(&mut self) -> Result<(), PublishError> {
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
            let republish = !self.unsettled(&key.0);
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

    /// The stream already had the message carrying `keys`: their receipts
    /// may exist, and are looked up now. Published before this run only if
    /// this run's first copy was not (`sent_again`: a second copy's
    /// duplicate PubAck may be of this run's own first).
    fn published_before(&mut self, keys: &[Key], sent_again: bool) {
        for key in keys.iter().filter(|_| !sent_again) {
            if let Some(entry) = self.in_flight.get_mut(key).filter(|e| e.attempts == 1) {
                entry.published_before = true;
            }
        }
        self.expire_now(keys)
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
