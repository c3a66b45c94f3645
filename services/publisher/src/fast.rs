//! The fast path of one source's messages: a JetStream fast-ingest batch
//! (ADR-50, nats-server 2.14+, the intake stream's `allow_batched`) in gap
//! mode `fail`. Rationale: a source's order must hold (a transfer after
//! the joining it needs), and waiting for each message's PubAck before
//! sending the next held one event per message to one round trip each.
//! In a fast batch the publisher sends on without waiting; every message
//! carries its batch sequence in its reply subject, the server stores the
//! batch's messages in order and, at the first one missing (lost in a
//! dying connection, a restarted server), stores nothing more of it. So
//! what a batch stored is always a prefix of what it sent: the rest is
//! sent again, the same messages in the same order, in a new batch (the
//! copies the stream already has are dropped by their `Nats-Msg-Id`).
//!
//! Protocol (ADR-50): replies come to `<inbox>.>`, each message's reply
//! subject is `<inbox>.<flow>.fail.<batch seq>.<op>.$FI` (op 0 starts the
//! batch, 1 appends, 3 ends it without storing, 4 pings); the server
//! answers the start, then every `flow` messages with
//! `{"type":"ack","seq":n,"msgs":flow}` (all up to n stored), at a gap
//! with `{"type":"gap"…}` or `{"type":"err"…}`, and ends a batch with a
//! PubAck (`count`: how many it stored). Nothing here trusts an ack as
//! "recorded": receipts do that, as for every publish.

use crate::Key;
use muster_proto::limits;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// The server acknowledges at least every this many messages (it may
/// ask for acks more often, never less).
pub(crate) const FLOW: u16 = limits::FAST_BATCH_FLOW_MAX;
/// Acks a batch may be behind before it waits: two, as ADR-50 advises
/// (the server works on one stretch while the next is sent).
const OUTSTANDING_ACKS: u64 = 2;
/// How long a batch waits for a reply it needs before pinging; after
/// [`PINGS_MAX`] pings unanswered it is given up (and its unacknowledged
/// messages sent again in a new one).
const REPLY_WAIT: Duration = Duration::from_millis(limits::FAST_BATCH_REPLY_WAIT_MS);
const PINGS_MAX: u32 = 2;
/// How long a batch with messages not yet acknowledged may go without
/// sending before it is ended. Rationale: the server acks every `flow`
/// messages, so the last few of a burst are acknowledged only by the
/// batch's end; until then they could not be sent again safely.
const IDLE: Duration = Duration::from_millis(limits::FAST_BATCH_IDLE_MS);

/// What a reply on a batch's inbox says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Every message up to `seq` is stored; ack every `flow` from now.
    Ack { seq: u64, flow: u16 },
    /// The batch is over (a gap, or a message refused, in gap mode
    /// `fail`); its final PubAck follows.
    Failing,
    /// The batch ended having stored its first `stored` messages (`None`:
    /// not said, an error PubAck; `code`: its JetStream error code).
    Ended { stored: Option<u64>, code: Option<u64> },
    /// Nobody took the message (no stream for the subject, or a stream
    /// leader being elected).
    NoResponders,
}

/// Reads one reply; `None` for one that is none of the above (ignored:
/// only replies that move a batch on are acted upon, and a missing one
/// is recovered by pinging).
pub(crate) fn classify(message: &async_nats::Message) -> Option<Reply> {
    if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
        return Some(Reply::NoResponders);
    }
    let value: serde_json::Value = serde_json::from_slice(&message.payload).ok()?;
    match value.get("type").and_then(|t| t.as_str()) {
        Some("ack") => Some(Reply::Ack {
            seq: value.get("seq")?.as_u64()?,
            flow: u16::try_from(value.get("msgs")?.as_u64()?).ok()?.max(1),
        }),
        Some("gap") | Some("err") => Some(Reply::Failing),
        Some(_) => None,
        None => Some(Reply::Ended {
            stored: value.get("count").and_then(|c| c.as_u64()),
            code: value.pointer("/error/err_code").and_then(|c| c.as_u64()),
        }),
    }
}

/// One source's open fast-ingest batch, as its publisher sees it.
pub(crate) struct Batch {
    /// Tells this batch's replies from those of an earlier batch of the
    /// same source still in the channel.
    pub(crate) generation: u64,
    /// `<inbox>.<FLOW>.fail.`: every message's reply subject starts so.
    reply_prefix: String,
    /// The last batch sequence sent.
    sent: u64,
    /// Every message up to this batch sequence is stored.
    acked: u64,
    /// The server's current ack interval.
    flow: u16,
    /// The server answered the start: more may be sent.
    confirmed: bool,
    /// Nothing more is sent in it (a gap or a refused message ended it, or
    /// the publisher did); its PubAck is awaited.
    ending: bool,
    /// The messages sent and not yet acknowledged, oldest first, each
    /// with the events it carries.
    unacked: VecDeque<(u64, Vec<Key>)>,
    /// When a reply this batch waits for is due, and the pings so far.
    reply_due: Option<Instant>,
    pings: u32,
    /// When it last sent a message.
    last_sent: Instant,
    /// The task forwarding the inbox's replies; aborting it (when the
    /// batch is dropped) unsubscribes.
    forwarder: tokio::task::AbortHandle,
}

/// The operations of ADR-50's reply subjects.
#[derive(Clone, Copy)]
enum Op {
    Start = 0,
    Append = 1,
    EndWithoutStoring = 3,
    Ping = 4,
}

impl Batch {
    pub(crate) fn new(generation: u64, inbox: &str, forwarder: tokio::task::AbortHandle) -> Batch {
        Batch {
            generation,
            reply_prefix: format!("{inbox}.{FLOW}.fail."),
            sent: 0,
            acked: 0,
            flow: 1,
            confirmed: false,
            ending: false,
            unacked: VecDeque::new(),
            reply_due: None,
            pings: 0,
            last_sent: Instant::now(),
            forwarder,
        }
    }

    /// Whether its next message may go now: the start answered, not
    /// ending, and at most [`OUTSTANDING_ACKS`] acks behind.
    pub(crate) fn may_send(&self) -> bool {
        self.sent == 0
            || (self.confirmed && !self.ending && self.sent < self.acked + u64::from(self.flow) * OUTSTANDING_ACKS)
    }

    /// Notes a message carrying `keys` as sent; its reply subject.
    pub(crate) fn send(&mut self, keys: Vec<Key>) -> String {
        debug_assert!(self.may_send());
        self.sent += 1;
        self.unacked.push_back((self.sent, keys));
        self.last_sent = Instant::now();
        let op = if self.sent == 1 { Op::Start } else { Op::Append };
        if !self.may_send() && self.reply_due.is_none() {
            self.reply_due = Some(self.last_sent + REPLY_WAIT);
        }
        self.reply(self.sent, op)
    }

    /// The reply subject of batch sequence `seq` for `op`.
    fn reply(&self, seq: u64, op: Op) -> String {
        format!("{}{seq}.{}.$FI", self.reply_prefix, op as u8)
    }

    /// The reply subject that ends the batch (nothing stored), or that
    /// pings it (the highest sequence sent, so it is no gap).
    pub(crate) fn end_reply(&self) -> String {
        self.reply(self.sent + 1, Op::EndWithoutStoring)
    }

    pub(crate) fn ping_reply(&self) -> String {
        self.reply(self.sent, Op::Ping)
    }

    /// Takes an ack: everything up to `seq` is stored.
    pub(crate) fn acked(&mut self, seq: u64, flow: u16) {
        self.confirmed = true;
        self.flow = flow.clamp(1, FLOW);
        self.acked = self.acked.max(seq.min(self.sent));
        while self.unacked.front().is_some_and(|(s, _)| *s <= self.acked) {
            self.unacked.pop_front();
        }
        self.pings = 0;
        self.reply_due = (!self.may_send() || self.ending).then(|| Instant::now() + REPLY_WAIT);
    }

    /// Notes that the batch is ending: nothing more is sent in it, and its
    /// final PubAck is awaited.
    pub(crate) fn ending(&mut self) {
        self.ending = true;
        self.reply_due.get_or_insert_with(|| Instant::now() + REPLY_WAIT);
    }

    /// When it must act next: a reply it waits for is due, or it has been
    /// idle long enough with messages not acknowledged.
    pub(crate) fn due(&self) -> Option<Instant> {
        match self.reply_due {
            Some(due) => Some(due),
            None => (!self.unacked.is_empty()).then_some(self.last_sent + IDLE),
        }
    }

    /// Whether what is due is the end of an idle batch (rather than a
    /// reply).
    pub(crate) fn idle(&self) -> bool {
        self.reply_due.is_none() && !self.unacked.is_empty()
    }

    /// A reply is late: whether to ping (true) or give the batch up.
    pub(crate) fn late(&mut self) -> bool {
        self.pings += 1;
        self.reply_due = Some(Instant::now() + REPLY_WAIT);
        self.pings <= PINGS_MAX
    }

    /// Whether every message it sent is known to be stored.
    pub(crate) fn settled(&self) -> bool {
        self.unacked.is_empty() && !self.ending
    }

    /// The batch is over, having stored its first `stored` messages
    /// (`None`: not known beyond the acks): the groups to send again, in
    /// order.
    pub(crate) fn end(mut self, stored: Option<u64>) -> Vec<Vec<Key>> {
        let stored = stored.unwrap_or(self.acked).max(self.acked);
        self.unacked.drain(..).filter(|(seq, _)| *seq > stored).map(|(_, keys)| keys).collect()
    }

    /// Whether nothing was sent in it yet but its start.
    pub(crate) fn only_start(&self) -> bool {
        self.sent == 1 && !self.confirmed
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &str) -> async_nats::Message {
        async_nats::Message {
            subject: "_INBOX.x.100.fail.1.0.$FI".into(),
            reply: None,
            payload: payload.to_owned().into(),
            headers: None,
            status: None,
            description: None,
            length: payload.len(),
        }
    }

    fn batch() -> Batch {
        let forwarder = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async { tokio::spawn(async {}).abort_handle() });
        Batch::new(1, "_INBOX.abc", forwarder)
    }

    fn keys(n: u64) -> Vec<Key> {
        vec![("hr".into(), n.to_string())]
    }

    #[test]
    fn replies_are_read_as_the_adr_writes_them() {
        assert_eq!(classify(&message(r#"{"type":"ack","seq":10,"msgs":15}"#)), Some(Reply::Ack { seq: 10, flow: 15 }));
        assert_eq!(classify(&message(r#"{"type":"gap","last_seq":10,"seq":15}"#)), Some(Reply::Failing));
        assert_eq!(classify(&message(r#"{"type":"err","seq":3,"error":{"code":400}}"#)), Some(Reply::Failing));
        assert_eq!(
            classify(&message(r#"{"stream":"I","seq":9,"batch":"abc","count":7}"#)),
            Some(Reply::Ended { stored: Some(7), code: None })
        );
        assert_eq!(
            classify(&message(r#"{"error":{"code":400,"err_code":10205,"description":"batch publish not enabled"}}"#)),
            Some(Reply::Ended { stored: None, code: Some(10205) })
        );
        assert_eq!(classify(&message(r#"{"type":"news"}"#)), None);
        assert_eq!(classify(&message("not json")), None);
    }

    #[test]
    fn a_batch_waits_for_its_start_then_sends_two_acks_ahead() {
        let mut b = batch();
        assert!(b.may_send());
        assert_eq!(b.send(keys(1)), format!("_INBOX.abc.{FLOW}.fail.1.0.$FI"));
        assert!(!b.may_send(), "nothing more before the server answers the start");
        assert!(b.due().is_some());
        b.acked(0, 4);
        let mut sent = 1;
        while b.may_send() {
            sent += 1;
            assert_eq!(b.send(keys(sent)), format!("_INBOX.abc.{FLOW}.fail.{sent}.1.$FI"));
        }
        assert_eq!(sent, 8, "two acks of four ahead of the last one");
        b.acked(4, 4);
        assert!(b.may_send());
        assert!(!b.settled());
        assert!(b.idle(), "a tail not acknowledged is ended when the batch goes quiet");
    }

    #[test]
    fn what_a_batch_did_not_store_is_sent_again_in_order() {
        let mut b = batch();
        b.send(keys(1));
        b.acked(0, 100);
        for n in 2..=6 {
            b.send(keys(n));
        }
        b.acked(2, 100);
        b.ending();
        assert!(!b.may_send(), "an ending batch sends nothing more");
        let again = b.end(Some(4));
        assert_eq!(again, vec![keys(5), keys(6)]);
    }

    #[test]
    fn a_lost_batch_sends_again_everything_not_acknowledged() {
        let mut b = batch();
        b.send(keys(1));
        b.acked(0, 100);
        b.send(keys(2));
        b.send(keys(3));
        b.acked(2, 100);
        assert!(b.late() && b.late() && !b.late(), "two pings, then given up");
        assert_eq!(b.end(None), vec![keys(3)]);
    }
}
