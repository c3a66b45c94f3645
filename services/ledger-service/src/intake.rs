//! The intake side of a session: fetch from JetStream, decode, cut into
//! commits at message boundaries, hand them to the committer.

use crate::ended::{until_set, SessionError, SessionResult};
use crate::lease::Holding;
use anyhow::Context;
use async_nats::jetstream;
use futures_util::StreamExt;
use muster_bus::Topology;
use muster_ledger::{Incoming, StreamMark};
use muster_proto::intake::{IntakeMessage, CONTENT_TYPE_HEADER, ID_HEADER, SOURCE_HEADER};
use muster_proto::limits;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// An intake message's events exactly as the service reads them (the
/// contract's decoding, bound to the subject's source). Public so that a
/// test can replay an intake stream as the service would.
pub fn intake_events(subject: &str, headers: Option<&async_nats::HeaderMap>, payload: &[u8]) -> Vec<Incoming> {
    let header = |name: &str| headers.and_then(|h| h.get(name)).map(|value| value.as_str());
    let message = IntakeMessage {
        subject,
        content_type: header(CONTENT_TYPE_HEADER),
        id: header(ID_HEADER),
        source: header(SOURCE_HEADER),
        payload,
    };
    muster_proto::intake::events(&message, Topology::subject_is_of)
}

/// Intake messages decoded for one commit: a message's events are never
/// split between two commits, so each commit ends on a message (its
/// cursor and its ack).
#[derive(Default)]
pub(crate) struct Commit {
    pub(crate) messages: Vec<jetstream::Message>,
    /// Each event, at its message's JetStream time (the ledger is a
    /// function of its intake: see `Ledger::commit_batch`).
    pub(crate) incoming: Vec<(Incoming, u64)>,
    /// For each event, the index of its message (a batch has many).
    pub(crate) origin: Vec<u32>,
    /// The last intake message among them.
    pub(crate) cursor: Option<StreamMark>,
}

/// One fetched intake message: where it stands in the stream (its
/// metadata read once, here) and its events.
struct Delivery {
    message: jetstream::Message,
    /// Its stream sequence and JetStream time (`None`: unreadable metadata,
    /// which a JetStream delivery always has).
    mark: Option<StreamMark>,
    events: Vec<Incoming>,
}

impl Delivery {
    fn new(message: jetstream::Message) -> Delivery {
        let mark = message
            .info()
            .ok()
            .map(|info| StreamMark { seq: info.stream_sequence, time_ns: time_ns(info.published).unwrap_or(0) });
        let events = intake_events(message.subject.as_str(), message.headers.as_ref(), &message.payload);
        Delivery { message, mark, events }
    }
}

impl Commit {
    /// Adds a delivery if its events fit under `BATCH_EVENTS_MAX`; gives
    /// it back otherwise.
    fn add(&mut self, delivery: Delivery) -> Option<Delivery> {
        let Delivery { message, mark, events } = delivery;
        if !self.incoming.is_empty() && self.incoming.len() + events.len() > limits::BATCH_EVENTS_MAX {
            return Some(Delivery { message, mark, events });
        }
        let index = u32::try_from(self.messages.len()).expect("a commit's messages fit in u32");
        self.origin.extend(std::iter::repeat_n(index, events.len()));
        let at_ms = match mark {
            Some(StreamMark { time_ns, .. }) if time_ns > 0 => time_ns / 1_000_000,
            _ => now_ms(),
        };
        if let Some(mark) = mark.filter(|mark| self.cursor.is_none_or(|cursor| cursor.seq < mark.seq)) {
            self.cursor = Some(mark);
        }
        self.incoming.extend(events.into_iter().map(|event| (event, at_ms)));
        self.messages.push(message);
        None
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A JetStream time in nanoseconds since 1970.
pub(crate) fn time_ns(time: time::OffsetDateTime) -> Option<u64> {
    u64::try_from(time.unix_timestamp_nanos()).ok()
}

/// Fetches from the intake and decodes, cutting the messages into commits
/// at message boundaries, until `stopped` (between fetches), until the
/// ledger side stops, or until the client reconnects (the session is
/// interrupted).
pub(crate) async fn take_in(
    consumer: jetstream::consumer::PullConsumer,
    wait: Duration,
    mut stopped: watch::Receiver<bool>,
    connections: watch::Receiver<u64>,
    to_ledger: mpsc::Sender<Commit>,
    holding: Option<Holding>,
) -> SessionResult<()> {
    let grace = Duration::from_millis(limits::FETCH_GRACE_MS);
    // The last intake sequence handed to the ledger in this session.
    let mut handed = 0;
    loop {
        // With failover, nothing is fetched without the lease.
        Holding::check_if_any(holding.as_ref())?;
        let batch = tokio::select! {
            _ = until_set(&mut stopped) => return Ok(()),
            batch = tokio::time::timeout(wait + grace, fetch(&consumer, wait)) => batch
                .map_err(|_| anyhow::anyhow!("a fetch from the intake went unanswered for {grace:?} past its expiry"))??,
        };
        // Nothing fetched after a reconnection is taken in: the server may
        // have restarted with less than it had (see `StreamMark`), and this
        // consumer's position may no longer mean what it did. The next
        // session starts from the ledger's own cursor.
        if connections.has_changed().unwrap_or(true) {
            let error = anyhow::anyhow!("reconnected to NATS; positions are read again");
            return Err(SessionError::Interrupted(error));
        }
        if !hand_over(batch, &mut handed, &to_ledger).await {
            return Ok(());
        }
    }
}

/// Cuts a fetched batch into commits and hands each to the ledger as soon
/// as it is full (the queue's bound holds decoding back), passing over
/// what was handed already (sequence `handed` and before). False when the
/// ledger side has stopped.
async fn hand_over(batch: Vec<jetstream::Message>, handed: &mut u64, to_ledger: &mpsc::Sender<Commit>) -> bool {
    let mut commit = Commit::default();
    for message in batch {
        let delivery = Delivery::new(message);
        // Delivered again (its ack was late or lost): the ledger has it
        // already, or will with a commit on its way. Acked, so that
        // JetStream stops; the ledger's cursor, not JetStream's acks, is
        // where it resumes.
        if let Some(StreamMark { seq, .. }) = delivery.mark {
            if seq <= *handed {
                if let Err(error) = delivery.message.ack().await {
                    tracing::debug!(%error, seq, "ack of a redelivered message");
                }
                continue;
            }
            *handed = seq;
        }
        if let Some(delivery) = commit.add(delivery) {
            if to_ledger.send(std::mem::take(&mut commit)).await.is_err() {
                return false;
            }
            assert!(commit.add(delivery).is_none(), "a message's events fit in one commit");
        }
    }
    commit.messages.is_empty() || to_ledger.send(commit).await.is_ok()
}

async fn fetch(
    consumer: &jetstream::consumer::PullConsumer,
    wait: Duration,
) -> anyhow::Result<Vec<jetstream::Message>> {
    let mut messages = consumer
        .fetch()
        .max_messages(limits::BATCH_EVENTS_MAX)
        .max_bytes(limits::FETCH_BYTES_MAX)
        .expires(wait.max(Duration::from_millis(limits::FETCH_WAIT_MIN_MS)))
        .messages()
        .await
        .context("fetching from the intake")?;
    let mut batch = Vec::new();
    while let Some(message) = messages.next().await {
        match message {
            Ok(message) => batch.push(message),
            // The stream or its consumer is not there right now (a 503
            // while a cluster elects a stream leader after losing a node):
            // what came is taken in; with nothing, the session ends and
            // the next one starts after a pause. Rationale: carrying on
            // fetched again at once, thousands of times a second.
            Err(error) if batch.is_empty() => return Err(anyhow::anyhow!("fetching from the intake: {error}")),
            Err(error) => {
                tracing::warn!(%error, messages = batch.len(), "intake fetch ended early");
                break;
            }
        }
    }
    Ok(batch)
}
