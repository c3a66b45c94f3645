//! Ingest under failure, the parts the crash loops and the cluster tests
//! share: a publisher at work in the background, and the checks that
//! afterwards nothing was lost or doubled and every copy agrees.

use crate::stack::Stack;
use muster_ledger::{Ledger, LedgerConfig};
use muster_proto::entry::{ReceiptStatus, Submission};
use muster_proto::requests::StatusAnswer;
use muster_publisher::{Outcome, Outgoing, Publisher, PublisherConfig};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The publisher at work in the background: its outcomes when done, and
/// how many receipts have come so far.
pub struct Publishing {
    /// Its outcomes, when done.
    pub task: tokio::task::JoinHandle<Result<Vec<Outcome>, muster_publisher::PublishError>>,
    /// Receipts so far.
    pub received: Arc<AtomicU64>,
    /// Whether it is done.
    pub finished: Arc<AtomicBool>,
    /// The publisher (for its stats).
    pub publisher: Arc<Publisher>,
}

impl Publishing {
    /// Publishes events 1..=`total` of the crash stream in batches of 64,
    /// with short receipt waits (many messages in flight at every kill,
    /// and quick retries after it), at most `window` in flight, and
    /// `attempts` publishes per event.
    pub async fn start(stack: &Stack, total: u64, window: usize, attempts: u32) -> Publishing {
        Publishing::start_with(stack, total, 64, window, attempts).await
    }

    /// As [`Publishing::start`], `batch` events to a message.
    pub async fn start_with(stack: &Stack, total: u64, batch: usize, window: usize, attempts: u32) -> Publishing {
        Publishing::start_on(stack.client().await, stack, total, batch, window, attempts).await
    }

    /// As [`Publishing::start_with`], on `client`.
    pub async fn start_on(
        client: async_nats::Client,
        stack: &Stack,
        total: u64,
        batch: usize,
        window: usize,
        attempts: u32,
    ) -> Publishing {
        let events: Vec<Outgoing> = (1..=total).map(crate::crash::outgoing).collect();
        let received = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let config = PublisherConfig { batch, receipt_wait: Duration::from_secs(1), attempts, window };
        let publisher = Arc::new(Publisher::new(client, stack.topology(), config));
        let task = tokio::spawn({
            let (received, finished, publisher) = (received.clone(), finished.clone(), publisher.clone());
            async move {
                let outcomes = publisher
                    .publish_all(events, move |_| {
                        received.fetch_add(1, Ordering::SeqCst);
                    })
                    .await;
                finished.store(true, Ordering::SeqCst);
                outcomes
            }
        });
        Publishing { task, received, finished, publisher }
    }

    /// Whether every event has its outcome.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// Waits until `receipts` have come (or publishing is over).
    pub async fn until_receipts(&self, receipts: u64) {
        while self.received.load(Ordering::SeqCst) < receipts && !self.finished() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Every event's outcome: an accepted receipt, each with its own entry
    /// (the outcomes, for more checks).
    pub async fn all_accepted_once(self, total: u64) -> Vec<Outcome> {
        let outcomes = self.task.await.unwrap().expect("every event published");
        assert_eq!(outcomes.len() as u64, total);
        let mut seqs = Vec::new();
        for outcome in &outcomes {
            match outcome {
                Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted => seqs.push(r.seq.unwrap()),
                other => panic!("not recorded as accepted: {other:?}"),
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len() as u64, total, "one entry per event, none twice");
        outcomes
    }
}

/// The ledger at `dir` holds `total` entries, each event once, and its
/// chain verifies; and it is the chain one uninterrupted ledger makes of
/// the intake stream.
pub async fn ledger_is_whole(stack: &Stack, dir: &Path, total: u64) -> Ledger {
    let ledger = crate::open_ledger(dir);
    let report = ledger.verify().expect("the chain verifies");
    assert_eq!(report.entries, total, "nothing lost, nothing doubled");
    let mut seen = std::collections::HashSet::new();
    for entry in ledger.entries() {
        let entry = entry.unwrap();
        let Submission::Event(envelope) = &entry.body.submission else { panic!("undecodable entry") };
        assert!(seen.insert(envelope.id.clone()), "{} recorded twice", envelope.id);
    }
    let replayed = tempfile::tempdir().unwrap();
    let one_go = crate::crash::uninterrupted(stack, replayed.path()).await;
    assert_eq!(one_go.head(), ledger.head(), "the chain head of an uninterrupted run");
    ledger
}

/// Waits (at most 60 s) until the query replica answering on NATS has
/// applied entry `seq`; returns the last it has applied.
pub async fn replica_reaches(stack: &Stack, seq: u64) -> u64 {
    let client = stack.client().await;
    let subject = format!("{}.status", stack.topology().query_group());
    crate::wait::eventually(Duration::from_secs(60), &format!("the replica reached entry {seq}"), || async {
        let reply = client.request(subject.clone(), "{}".into()).await.ok()?;
        let status: StatusAnswer = serde_json::from_slice(&reply.payload).expect("a status");
        assert!(status.chain_ok, "the replica's chain broke");
        (status.applied_seq >= seq).then_some(status.applied_seq)
    })
    .await
}

/// The replica at `replica` holds the ledger's chain and gives the very
/// answers `ledger` (opened with its query indexes) gives.
pub fn same_answers(ledger: &Ledger, replica: &Path) {
    let replica = Ledger::open(&LedgerConfig::new(replica)).expect("the replica opens");
    assert_eq!(replica.head(), ledger.head(), "the replica holds the ledger's chain");
    let questions = [
        ("tree", r#"{"date": "2015-01-01"}"#),
        ("tree", r#"{"date": "2015-02-15"}"#),
        ("tree", r#"{"date": "2016-12-31"}"#),
        ("headcount", r#"{"unit": "U3", "date": "2015-03-01"}"#),
        ("audit", r#"{"from": "2015-01-01", "to": "2016-12-31"}"#),
        ("history", r#"{"staff": "S21"}"#),
    ];
    for (endpoint, body) in questions {
        let endpoint = endpoint.parse().expect("an endpoint");
        let json = |answer: muster_query::answer::Answer| String::from_utf8(answer.to_json().unwrap()).unwrap();
        let want = muster_query::answer::answer(ledger, endpoint, body.as_bytes()).expect("the ledger answers");
        let got = muster_query::answer::answer(&replica, endpoint, body.as_bytes()).expect("the replica answers");
        assert_eq!(json(got), json(want), "{endpoint} {body}");
    }
}

/// The two ledgers hold the same entries — sequence, submission, verdict —
/// and give the same answers; only the times they were recorded differ.
pub fn same_entries(raced: &Ledger, clean: &Ledger) {
    assert_eq!(raced.verify().unwrap().entries, clean.verify().unwrap().entries);
    for (raced, clean) in raced.entries().zip(clean.entries()) {
        let (raced, clean) = (raced.unwrap().body, clean.unwrap().body);
        assert_eq!(
            (raced.seq, &raced.submission, &raced.outcome),
            (clean.seq, &clean.submission, &clean.outcome),
            "entry {}",
            clean.seq
        );
    }
    for (endpoint, body) in [
        ("tree", r#"{"date": "2015-02-01"}"#),
        ("tree", r#"{"date": "2016-12-31"}"#),
        ("audit", r#"{"from": "2015-01-01", "to": "2016-12-31"}"#),
    ] {
        let endpoint = endpoint.parse().expect("an endpoint");
        let answer = |ledger| {
            let answer = muster_query::answer::answer(ledger, endpoint, body.as_bytes()).expect("an answer");
            without_recorded_times(serde_json::to_value(answer).expect("JSON"))
        };
        assert_eq!(answer(raced), answer(clean), "{endpoint} {body}");
    }
}

/// An answer less the times its events were recorded (an audit's moves
/// name theirs), which is all two such ledgers may differ in.
fn without_recorded_times(mut answer: serde_json::Value) -> serde_json::Value {
    match &mut answer {
        serde_json::Value::Object(fields) => {
            fields.remove("recorded_at");
            for value in fields.values_mut() {
                *value = without_recorded_times(value.take());
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter_mut() {
                *item = without_recorded_times(item.take());
            }
        }
        _ => {}
    }
    answer
}

/// The crash stream's events 1..=`total` are in the intake stream, and
/// the first copy of each comes after the first copy of every event
/// before it: the source's order, whatever was sent again.
pub async fn intake_keeps_the_sources_order(stack: &Stack, total: u64) {
    let js = async_nats::jetstream::new(stack.client().await);
    let mut intake = js.get_stream(stack.topology().intake_stream()).await.expect("intake stream");
    let last = intake.info().await.expect("intake info").state.last_sequence;
    let mut next = 1;
    for sequence in 1..=last {
        let message = intake.get_raw_message(sequence).await.expect("an intake message");
        let id = message.headers.get(muster_bus::ID_HEADER).expect("one event to a message").as_str().to_owned();
        let i: u64 = id.trim_start_matches('c').parse().expect("a crash-stream id");
        assert!(i <= next, "event {i} stored (intake seq {sequence}) before event {next}");
        if i == next {
            next += 1;
        }
    }
    assert_eq!(next, total + 1, "every event in the intake");
}
