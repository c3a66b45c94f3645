//! The ledger service (binary `muster-ledger`).
//!
//! Takes events from the JetStream intake stream through a durable pull
//! consumer, in bounded fetches (a message holds one event, or a batch of
//! them in CloudEvents' batched mode), cut at message boundaries into
//! commits of at most `BATCH_EVENTS_MAX` events, and for each, in this
//! order:
//!
//! 1. decodes, validates in order, commits and **flushes** it to sled;
//! 2. acknowledges the JetStream messages (one ack for the batch: the
//!    consumer acknowledges everything up to a message);
//! 3. publishes the receipts, one core NATS message per source (a JSON
//!    array), or a dead letter for a message with no id;
//! 4. publishes each new stored block to the feed, with
//!    `Nats-Expected-Last-Sequence` fencing it on the feed message before.
//!
//! Fetching and decoding run in the *intake* task, at most
//! [`DECODED_COMMITS_MAX`] commits ahead of the ledger, so the JSON of the
//! next commit is decoded on one core while this one is decided and flushed
//! on the other.
//!
//! Steps 3 and 4 of one batch run in the *outbox* task while the next batch
//! is committed: a bounded queue of [`OUTBOX_BATCHES_MAX`] committed batches
//! between them, so a batch's receipts go out only after its flush, in
//! order, and a slow receipts stream holds back commits rather than
//! growing memory.
//!
//! An event counts as recorded when its receipt arrives, never on a PubAck
//! (ADR 0005). A publisher that missed its receipt asks the ledger
//! (`<prefix>.lookup.<source>`), which answers from its (source, id) index
//! between commits. After a crash between 1 and 4, start-up publishes the
//! receipts and feed entries the feed is missing.
//!
//! Its work with NATS runs in sessions (see [`run`]): a NATS restart or a
//! lost connection ends one, and the next starts from the ledger's own
//! cursor. A message JetStream delivers again within a session (its ack
//! was late or lost) is passed over; one published again by its HR system
//! is a duplicate and gets its original receipt.

use anyhow::{bail, Context, Result};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use clap::Parser;
use futures_util::StreamExt;
use muster_bus::service::{open_failed, Exit, Failure};
use muster_bus::{FeedTip, Topology};
use muster_ledger::{receipt_of, FeedBlock, Incoming, Ledger, LedgerConfig, StreamMark};
use muster_proto::entry::{DeadLetter, Receipt};
use muster_proto::requests::ReceiptRequest;
use muster_proto::{cloudevents, codec, limits, DecodeError, ReasonCode};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tracing::Instrument;

mod failover;
pub mod lease;
use failover::{failover, Holding};

/// Settings: flags, then `MUSTER_*` environment variables, then the
/// `--config` file (same names), then these defaults.
#[derive(Parser, Debug, Clone)]
#[command(name = "muster-ledger", version, about = "Muster ledger service")]
pub struct Args {
    /// NATS, prefix, config file, logging.
    #[command(flatten)]
    pub common: muster_bus::service::CommonArgs,
    /// The sled directory.
    #[arg(long, env = "MUSTER_LEDGER", default_value = "data/ledger")]
    pub ledger: PathBuf,
    /// How long a fetch waits to fill a batch, milliseconds.
    #[arg(long, env = "MUSTER_BATCH_WAIT_MS", default_value_t = limits::BATCH_WAIT_MS)]
    pub batch_wait_ms: u64,
    /// Replicas of each stream (1 on a single server, 3 on a cluster).
    #[arg(long, env = "MUSTER_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// The ed25519 key the ledger signs checkpoints of its head with
    /// (`muster keygen`); none: no checkpoints.
    #[arg(long, env = "MUSTER_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Sign a checkpoint once this many entries were committed since the
    /// last one (and every minute while anything new came, and at stop).
    #[arg(long, env = "MUSTER_CHECKPOINT_EVERY", default_value_t = limits::CHECKPOINT_EVERY_ENTRIES)]
    pub checkpoint_every: u64,
    /// How long JetStream waits for the ledger's ack before delivering a
    /// message again, milliseconds. A redelivery is harmless (the ledger
    /// passes over what it has read), only wasted work.
    #[arg(long, env = "MUSTER_ACK_WAIT_MS", default_value_t = limits::ACK_WAIT_SECS * 1000)]
    pub ack_wait_ms: u64,
    /// Take part in failover: of the ledger services started with this on
    /// one prefix, the one holding the lease (a NATS key-value bucket) is
    /// active; the others stand by, replaying the intake into their own
    /// ledgers, and one takes over when the active one stops renewing it.
    #[arg(long, env = "MUSTER_FAILOVER")]
    pub failover: bool,
    /// How long an active ledger that stopped renewing keeps the lease,
    /// milliseconds (the same for every ledger service of a prefix).
    #[arg(long, env = "MUSTER_LEASE_MS", default_value_t = limits::LEASE_MS)]
    pub lease_ms: u64,
    /// This service's name in the lease and on the feed messages it
    /// writes (default: host name and process id).
    #[arg(long, env = "MUSTER_INSTANCE")]
    pub instance: Option<String>,
}

/// The binary's whole life: settings, logging, run until Ctrl-C/SIGTERM.
pub fn main() -> Result<()> {
    muster_bus::service::load_config_from_args().map_err(anyhow::Error::msg)?;
    let args = Args::parse();
    muster_bus::service::init_tracing(args.common.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args, muster_bus::service::shutdown_signal()))
}

/// The ledger's consumer on the intake stream.
const LEDGER_CONSUMER: &str = "muster-ledger";

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Committed batches waiting for their receipts and feed messages.
/// Rationale: two lets the next batch commit while one is published,
/// and bounds what waits in memory to two batches.
pub const OUTBOX_BATCHES_MAX: usize = 2;

/// Most bytes of receipts in one message; a batch's receipts of one source
/// may take several. Rationale: under NATS's `max_payload` whatever the
/// receipts' messages hold.
pub const RECEIPTS_MESSAGE_BYTES_MAX: usize = 256 * 1024;

/// Largest receipt lookup by key read (two ids at their limit and JSON).
/// A lookup that carries the event itself may be as large as an event
/// (`limits::PAYLOAD_BYTES_MAX`).
const LOOKUP_REQUEST_BYTES_MAX: usize = 4 * limits::ID_BYTES_MAX + 64;

/// The committing side: the ledger (shared with the lookups, which read it
/// between commits) and the intake.
struct Service {
    ledger: Arc<RwLock<Ledger>>,
    /// With `--failover`: the lease, checked before each commit.
    holding: Option<Holding>,
}

/// Intake messages decoded for one commit: a message's events are never
/// split between two commits, so each commit ends on a message (its
/// cursor and its ack).
#[derive(Default)]
struct Commit {
    messages: Vec<jetstream::Message>,
    /// Each event, at its message's JetStream time (the ledger is a
    /// function of its intake: see `Ledger::submit_timed`).
    incoming: Vec<(Incoming, u64)>,
    /// For each event, the index of its message (a batch has many).
    origin: Vec<u32>,
    /// The last intake message among them.
    cursor: Option<StreamMark>,
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
        let events = incoming(&message);
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

/// One committed batch, for the outbox.
struct Committed {
    /// The ledger's head after it.
    head: muster_ledger::Head,
    messages: Vec<async_nats::Message>,
    origin: Vec<u32>,
    receipts: Vec<Receipt>,
    blocks: Vec<FeedBlock>,
}

/// The publishing side: receipts, dead letters, the feed and checkpoints.
struct Outbox {
    /// Signs the head; with the last head signed and when.
    signer: Option<(muster_ledger::checkpoint::Signer, u64, Instant)>,
    checkpoint_every: u64,
    client: async_nats::Client,
    js: jetstream::Context,
    /// For the requests that set a session up (streams, consumers, the
    /// feed's tip, the lease): a short timeout, see [`SETUP_TIMEOUT`].
    setup: jetstream::Context,
    topology: Topology,
    /// Where the feed ends (after `catch_up`, what this service published).
    feed: FeedTip,
    /// This service's name, on every feed message it writes.
    instance: String,
    /// With `--failover`, while active: the lease, checked before anything
    /// is published.
    holding: Option<Holding>,
}

/// Decoded commits waiting for the ledger. Rationale: decoding the next
/// commit's JSON (and fetching it) overlaps deciding and flushing this one,
/// on the other core; two bound what waits to two commits of
/// `BATCH_EVENTS_MAX` events.
pub const DECODED_COMMITS_MAX: usize = 2;

/// Runs the service until `shutdown` completes (between fetches).
///
/// The ledger stays open for the service's whole life; its work with NATS
/// runs in *sessions*. A session derives everything from the ledger — the
/// intake consumer from the ledger's cursor, the feed's tip from the
/// server — catches up, and then takes in. Whatever interrupts it (the
/// server restarting, the connection lost, a publish refused) ends the
/// session: what it fetched but did not commit is dropped (the next one
/// fetches it again from the cursor) and a new session starts after a
/// pause. Only the ledger's own errors stop the service.
pub async fn run(args: Args, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    assert_eq!(muster_bus::muster_payload_bytes_max(), limits::PAYLOAD_BYTES_MAX);
    // The ledger service answers no headcount: replicas do.
    let ledger = Ledger::open(&LedgerConfig { query_indexes: false, ..LedgerConfig::new(&args.ledger) })
        .map_err(|e| open_failed(e.is_held(), e, &args.ledger))?;
    tracing::info!(head_seq = ledger.head().seq, path = %args.ledger.display(), "ledger open");
    let (client, connections) = muster_bus::connect_watched(
        &args.common.connect_config("muster-ledger").map_err(|e| Failure::new(Exit::BadInput, e))?,
    )
    .await
    .context("connecting to NATS")?;
    let topology = Topology::new(&args.common.prefix);
    let signer = match &args.signing_key {
        Some(path) => {
            let signer = muster_ledger::checkpoint::Signer::from_file(path)?;
            tracing::info!(public_key = %signer.public_key(), "signing checkpoints");
            Some((signer, 0, Instant::now()))
        }
        None => None,
    };
    let instance = args.instance.clone().unwrap_or_else(default_instance);
    let outbox = Outbox {
        signer,
        checkpoint_every: args.checkpoint_every.max(1),
        client: client.clone(),
        js: jetstream::new(client.clone()),
        setup: jetstream::ContextBuilder::new().timeout(SETUP_TIMEOUT).build(client.clone()),
        topology: topology.clone(),
        feed: FeedTip::default(),
        instance: instance.clone(),
        holding: None,
    };
    let ledger = Arc::new(RwLock::new(ledger));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let result = if args.failover {
        failover(&args, &ledger, outbox, connections, stopped, &instance).await
    } else {
        // Lookups are core NATS: the subscription outlives reconnections.
        let serving = serve_lookups(&client, &topology, &ledger).await?;
        let (_, result) = active(&args, &ledger, outbox, connections, stopped).await;
        serving.abort();
        result
    };
    tracing::info!(head_seq = ledger.read().expect("ledger lock").head().seq, "ledger service stopped");
    result
}

/// Host name and process id: unique enough among a deployment's ledger
/// services, and says where to look.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    format!("{}-{}", if host.is_empty() { "ledger" } else { &host }, std::process::id())
}

/// Answers receipt lookups (from the ledger's (source, id) index) until
/// the returned task is aborted.
async fn serve_lookups(
    client: &async_nats::Client,
    topology: &Topology,
    ledger: &Arc<RwLock<Ledger>>,
) -> Result<tokio::task::JoinHandle<()>> {
    let lookups = client
        .queue_subscribe(topology.lookup_filter(), LEDGER_CONSUMER.into())
        .await
        .map_err(|e| anyhow::anyhow!("subscribing to receipt lookups: {e}"))?;
    Ok(tokio::spawn(answer_lookups(client.clone(), lookups, ledger.clone())))
}

/// The active ledger's life: sessions, one after another, until stopped
/// (`Ok`), or until an error no new session can mend: the ledger's own,
/// or, with `--failover`, the lease lost. Gives the outbox back.
async fn active(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    mut outbox: Outbox,
    connections: tokio::sync::watch::Receiver<u64>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> (Outbox, Result<()>) {
    let mut pause = Backoff::default();
    let result = loop {
        let started = Instant::now();
        let (returned, ended) = session(args, ledger, outbox, connections.clone(), stopped.clone()).await;
        outbox = returned;
        match ended {
            Ok(()) => break Ok(()),
            Err(error) if is_fatal(&error) || is_demoted(&error) => break Err(error),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "NATS session interrupted; starting another");
                if !pause.before_next(started, &mut stopped.clone()).await {
                    break Ok(());
                }
            }
        }
    };
    (outbox, result)
}

/// How long a request that sets a session up waits for JetStream.
/// Rationale: on a cluster that just lost a node, such requests go
/// unanswered until the streams have elected new leaders (seconds); with
/// the client's default (5 s), the ledger asked twice and stalled ingest
/// for 10 s; with this, it asks again sooner.
const SETUP_TIMEOUT: Duration = Duration::from_millis(1500);

/// The first pause after an interrupted session; each next one doubles, up
/// to [`SESSION_PAUSE_MAX`]. Rationale: a server restart takes about a
/// second; retrying faster only fills the log.
const SESSION_PAUSE_MIN: Duration = Duration::from_millis(100);
/// The longest pause between sessions.
const SESSION_PAUSE_MAX: Duration = Duration::from_secs(5);

/// The pause before the next session after one was interrupted.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(SESSION_PAUSE_MIN)
    }
}

impl Backoff {
    /// Pauses before the next session (that began at `started`); false
    /// when `stopped` meanwhile. A session that ran a while had its
    /// troubles fixed: the pauses start from the shortest again.
    async fn before_next(&mut self, started: Instant, stopped: &mut tokio::sync::watch::Receiver<bool>) -> bool {
        if started.elapsed() > SESSION_PAUSE_MAX * 2 {
            self.0 = SESSION_PAUSE_MIN;
        }
        let pause = self.0;
        self.0 = (pause * 2).min(SESSION_PAUSE_MAX);
        tracing::debug!(pause_ms = pause.as_millis() as u64, "pausing before the next session");
        tokio::select! {
            _ = tokio::time::sleep(pause) => true,
            _ = failover::until_stopped(stopped) => false,
        }
    }
}

/// An error the service stops for: the ledger's own (it must be reopened),
/// or one marked [`Fatal`]. Everything else is NATS's, and a new session
/// may succeed.
fn is_fatal(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<muster_ledger::LedgerError>() || cause.is::<Fatal>())
}

/// An error no new session can mend (a ledger that is not the feed's).
#[derive(Debug)]
struct Fatal(String);

/// With `--failover`: this service may no longer act as the active ledger
/// (the lease lost or expired, or another's blocks on the feed past this
/// ledger's head); it stands by again.
#[derive(Debug)]
struct Demoted(String);

impl std::fmt::Display for Demoted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Demoted {}

fn is_demoted(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<Demoted>())
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// One session: streams, consumer, catch-up, then intake until stopped
/// (`Ok`) or interrupted (`Err`). Gives the outbox back (its signer's
/// state outlives sessions).
async fn session(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    mut outbox: Outbox,
    connections: tokio::sync::watch::Receiver<u64>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> (Outbox, Result<()>) {
    // Connections made before this session began are its own.
    let mut connections = connections;
    connections.mark_unchanged();
    let consumer = match start_session(args, ledger, &mut outbox).await {
        Ok(consumer) => consumer,
        Err(error) => return (outbox, Err(error)),
    };
    let (to_outbox, committed) = tokio::sync::mpsc::channel(OUTBOX_BATCHES_MAX);
    let outbox_holding = outbox.holding.clone();
    let publishing = tokio::spawn(outbox.run(committed));
    let (to_ledger, mut decoded) = tokio::sync::mpsc::channel(DECODED_COMMITS_MAX);
    let intake = tokio::spawn(take_in(
        consumer,
        Duration::from_millis(args.batch_wait_ms),
        stopped,
        connections.clone(),
        to_ledger,
        outbox_holding.clone(),
    ));
    let mut service = Service { ledger: ledger.clone(), holding: outbox_holding };
    // Every fetched commit is carried through commit, ack, receipts and
    // feed: the intake stops between fetches, and this drains its queue.
    let committing: Result<()> = async {
        while let Some(commit) = decoded.recv().await {
            if !service.commit(commit, &to_outbox).await? {
                break;
            }
        }
        Ok(())
    }
    .await;
    drop(decoded);
    let taken = intake.await.context("the intake task").and_then(|taken| taken);
    // The outbox drains what was committed, then ends.
    drop(to_outbox);
    let (mut outbox, published) = match publishing.await {
        Ok(returned) => returned,
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    };
    let mut ended = committing.and(taken).and(published);
    if ended.is_ok() {
        // Stopping: the head as it is left, signed.
        let head = ledger.read().expect("ledger lock").head();
        ended = outbox.checkpoint(head, true).await;
    }
    (outbox, ended)
}

/// A session's start: streams made (idempotent), the feed caught up with
/// the ledger, and a consumer from just after what the ledger has read.
async fn start_session(
    args: &Args,
    ledger: &Arc<RwLock<Ledger>>,
    outbox: &mut Outbox,
) -> Result<jetstream::consumer::PullConsumer> {
    let (js, topology) = (outbox.setup.clone(), outbox.topology.clone());
    ensure_streams(&js, &topology, args.stream_replicas).await?;
    outbox.catch_up(ledger).await?;
    let mark = ledger.read().expect("ledger lock").cursor_mark()?;
    let mut intake = js.get_stream(topology.intake_stream()).await?;
    let deliver_policy = resume_from(&mut intake, mark).await?;
    // The ledger owns its position in the intake (written with every
    // batch): the consumer is made afresh from just after it, so after a
    // crash nothing waits for a redelivery timeout and order is kept.
    //
    // With failover each ledger service has a consumer of its own: a
    // holder that lost its lease unawares (frozen, then woken) must never
    // fetch from the new holder's consumer — it would take messages from
    // the other's position, skip to it, and record a chain of its own.
    let name = if args.failover {
        format!("{LEDGER_CONSUMER}-{}", consumer_token(&outbox.instance))
    } else {
        LEDGER_CONSUMER.to_owned()
    };
    let _ = intake.delete_consumer(&name).await;
    let consumer = intake
        .create_consumer(pull::Config {
            durable_name: Some(name),
            deliver_policy,
            // A dead instance's consumer goes by itself.
            inactive_threshold: if args.failover { FAILOVER_CONSUMER_IDLE } else { Duration::ZERO },
            ack_policy: jetstream::consumer::AckPolicy::All,
            ack_wait: Duration::from_millis(args.ack_wait_ms.max(1)),
            max_ack_pending: limits::LEDGER_ACK_PENDING_MAX as i64,
            filter_subject: topology.intake_filter(),
            ..Default::default()
        })
        .await
        .context("creating the intake consumer")?;
    tracing::info!(intake_cursor = mark.seq, ?deliver_policy, "consuming the intake");
    Ok(consumer)
}

/// The deployment's streams, made if missing; `Fatal` if one of their
/// names is another deployment's.
async fn ensure_streams(js: &jetstream::Context, topology: &Topology, replicas: usize) -> Result<()> {
    topology.ensure_streams(js, replicas).await.map_err(|e| match e.downcast::<muster_bus::StreamOfAnother>() {
        Ok(taken) => anyhow::Error::new(Fatal(taken.0)),
        Err(e) => anyhow::anyhow!("creating the streams: {e}"),
    })
}

/// How long the durable consumer of a ledger service with `--failover`
/// outlives its last fetch (a dead or demoted instance's).
const FAILOVER_CONSUMER_IDLE: Duration = Duration::from_secs(300);

/// `instance` as a consumer name's part (letters, digits, `-`, `_`).
fn consumer_token(instance: &str) -> String {
    instance.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect()
}

/// Where to read the intake from: just after the message the ledger read
/// last — if the stream still holds that very message. A stream that lost
/// its end (a power cut within the server's sync interval, a restored
/// backup) numbers new messages from where it now ends, and the same
/// sequence names another message; then the ledger reads from the time of
/// its last message on, so no new message is skipped (one it had read
/// comes again as a duplicate, which changes nothing).
async fn resume_from(intake: &mut jetstream::stream::Stream, mark: StreamMark) -> Result<DeliverPolicy> {
    if mark.seq == 0 {
        return Ok(DeliverPolicy::All);
    }
    let next = DeliverPolicy::ByStartSequence { start_sequence: mark.seq + 1 };
    if mark.time_ns == 0 {
        // Kept before times were: the sequence is all there is.
        return Ok(next);
    }
    let last = intake.info().await?.state.last_sequence;
    let same = if last >= mark.seq {
        let message = intake.get_raw_message(mark.seq).await?;
        time_ns(message.time) == Some(mark.time_ns)
    } else {
        false
    };
    if same {
        return Ok(next);
    }
    let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(mark.time_ns))
        .map_err(|e| Fatal(format!("the ledger's cursor time {}: {e}", mark.time_ns)))?;
    tracing::warn!(
        cursor = mark.seq,
        stream_last = last,
        %start_time,
        "the intake stream no longer holds the last message the ledger read (it lost its end); reading from that message's time on"
    );
    Ok(DeliverPolicy::ByStartTime { start_time })
}

/// A JetStream time in nanoseconds since 1970.
fn time_ns(time: time::OffsetDateTime) -> Option<u64> {
    u64::try_from(time.unix_timestamp_nanos()).ok()
}

/// How long past its expiry a fetch may go unanswered before the session
/// ends (and the next makes its consumer anew). Rationale: on a cluster
/// that lost the node leading the consumer, pull requests went unanswered
/// for 10 s and more, silently, while the intake filled.
const FETCH_GRACE: Duration = Duration::from_secs(2);

/// Fetches from the intake and decodes, cutting the messages into commits
/// at message boundaries, until `stopped` (between fetches), until the
/// ledger side stops, or until the client reconnects (an error: the
/// session ends).
async fn take_in(
    consumer: jetstream::consumer::PullConsumer,
    wait: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    connections: tokio::sync::watch::Receiver<u64>,
    to_ledger: tokio::sync::mpsc::Sender<Commit>,
    holding: Option<Holding>,
) -> Result<()> {
    // The last intake sequence handed to the ledger in this session.
    let mut handed = 0;
    loop {
        // With failover, nothing is fetched without the lease.
        Holding::check_if_any(holding.as_ref())?;
        let batch = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return Ok(()),
            batch = tokio::time::timeout(wait + FETCH_GRACE, fetch(&consumer, wait)) => {
                batch.map_err(|_| anyhow::anyhow!("a fetch from the intake went unanswered for {FETCH_GRACE:?} past its expiry"))??
            }
        };
        // Nothing fetched after a reconnection is taken in: the server may
        // have restarted with less than it had (see `StreamMark`), and this
        // consumer's position may no longer mean what it did. The next
        // session starts from the ledger's own cursor.
        if connections.has_changed().unwrap_or(true) {
            bail!("reconnected to NATS; positions are read again");
        }
        let mut commit = Commit::default();
        for message in batch {
            let delivery = Delivery::new(message);
            // Delivered again (its ack was late or lost): the ledger has
            // it already, or will with a commit on its way. Acked, so that
            // JetStream stops; the ledger's cursor, not JetStream's acks,
            // is where it resumes.
            if let Some(StreamMark { seq, .. }) = delivery.mark {
                if seq <= handed {
                    if let Err(error) = delivery.message.ack().await {
                        tracing::debug!(%error, seq, "ack of a redelivered message");
                    }
                    continue;
                }
                handed = seq;
            }
            if let Some(delivery) = commit.add(delivery) {
                if to_ledger.send(std::mem::take(&mut commit)).await.is_err() {
                    return Ok(());
                }
                assert!(commit.add(delivery).is_none(), "a message's events fit in one commit");
            }
        }
        if !commit.messages.is_empty() && to_ledger.send(commit).await.is_err() {
            return Ok(());
        }
    }
}

/// Answers receipt lookups from the ledger's (source, id) index: the
/// receipt as JSON, `null` when nothing was recorded, or a
/// `{"code", "message"}` object for a request that is not one.
async fn answer_lookups(client: async_nats::Client, mut requests: async_nats::Subscriber, ledger: Arc<RwLock<Ledger>>) {
    while let Some(request) = requests.next().await {
        let Some(reply) = request.reply else { continue };
        let answer = tokio::task::block_in_place(|| {
            lookup_answer(&ledger, &request.subject, request.headers.as_ref(), &request.payload)
        });
        if let Err(error) = client.publish(reply, answer.into()).await {
            tracing::warn!(%error, "could not answer a receipt lookup");
        }
    }
}

/// A lookup is either by key (JSON `{"source", "id"}`: the first entry
/// under it, the one in force) or of an event message (the very headers
/// and payload that were published, with an event's content type: the
/// receipt of that content, which for a changed event under a used id is
/// its `duplicate_id_different_content` rejection).
fn lookup_answer(
    ledger: &RwLock<Ledger>,
    subject: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
) -> Vec<u8> {
    let content_type = headers.and_then(|h| h.get(muster_bus::CONTENT_TYPE_HEADER)).map(|v| v.as_str());
    let found = match content_type {
        Some(cloudevents::CONTENT_TYPE | codec::CONTENT_TYPE) => lookup_of_message(ledger, subject, headers, payload),
        Some(cloudevents::BATCH_CONTENT_TYPE) => Err(lookup_refusal(
            ReasonCode::MalformedPayload,
            "a lookup names one event: look a batch's events up one at a time".into(),
        )),
        _ => lookup_by_key(ledger, subject, payload),
    };
    match found {
        Ok(Ok(receipt)) => serde_json::to_vec(&receipt).expect("a receipt encodes"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "receipt lookup failed");
            serde_json::json!({ "code": "internal", "message": e.to_string() }).to_string().into_bytes()
        }
        Err(refusal) => refusal,
    }
}

type LookupResult = Result<Result<Option<Receipt>, muster_ledger::LedgerError>, Vec<u8>>;

fn lookup_refusal(code: ReasonCode, message: String) -> Vec<u8> {
    serde_json::json!({ "code": code.as_str(), "message": message }).to_string().into_bytes()
}

fn lookup_by_key(ledger: &RwLock<Ledger>, subject: &str, payload: &[u8]) -> LookupResult {
    let bad = |message: String| lookup_refusal(ReasonCode::MalformedPayload, message);
    if payload.len() > LOOKUP_REQUEST_BYTES_MAX {
        return Err(bad(format!("a lookup of {} bytes; the limit is {LOOKUP_REQUEST_BYTES_MAX}", payload.len())));
    }
    let request: ReceiptRequest = serde_json::from_slice(payload)
        .map_err(|e| bad(format!("not a receipt lookup ({{\"source\", \"id\"}}): {e}")))?;
    // Only on the source's own subject: a publisher allowed to ask about
    // its own events learns nothing of another's.
    if !Topology::subject_is_of(subject, &request.source) {
        return Err(lookup_refusal(
            ReasonCode::SourceNotOfSubject,
            format!("a lookup of source {:?} on {subject}, which is not its lookup subject", request.source),
        ));
    }
    Ok(ledger.read().expect("ledger lock").receipt(&request.source, &request.id))
}

/// The event a lookup carries, decoded exactly as the intake decodes it
/// (and so bound to the lookup subject's source the same way).
fn lookup_of_message(
    ledger: &RwLock<Ledger>,
    subject: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
) -> LookupResult {
    if payload.len() > limits::PAYLOAD_BYTES_MAX {
        return Err(lookup_refusal(
            ReasonCode::PayloadTooLarge,
            format!("a lookup of {} bytes; the limit is {}", payload.len(), limits::PAYLOAD_BYTES_MAX),
        ));
    }
    let [incoming] = <[Incoming; 1]>::try_from(intake_events(subject, headers, payload)).expect("one event");
    if let Incoming::Undecodable { error, .. } = &incoming {
        if error.code == ReasonCode::SourceNotOfSubject || error.id.is_none() || error.source.is_none() {
            return Err(lookup_refusal(error.code, format!("the event names no key to look up: {}", error.message)));
        }
    }
    Ok(ledger.read().expect("ledger lock").receipt_for(incoming))
}

async fn fetch(consumer: &jetstream::consumer::PullConsumer, wait: Duration) -> Result<Vec<jetstream::Message>> {
    let mut messages = consumer
        .fetch()
        .max_messages(limits::BATCH_EVENTS_MAX)
        .max_bytes(limits::FETCH_BYTES_MAX)
        .expires(wait.max(Duration::from_millis(10)))
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

fn header(message: &async_nats::Message, name: &str) -> Option<String> {
    message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned())
}

fn incoming(message: &async_nats::Message) -> Vec<Incoming> {
    intake_events(message.subject.as_str(), message.headers.as_ref(), &message.payload)
}

/// An intake message's events as the ledger sees them, by its content
/// type: one event, decoded or undecodable with the key its headers name;
/// or a batch's events, each decoded on its own (a batch that is not one
/// is a single undecodable submission, with no key). An event whose source
/// is not the one of the `subject` it came on is taken as keyless (a dead
/// letter, `source_not_of_subject`). Public so that a test can replay an
/// intake stream exactly as the service reads it.
pub fn intake_events(subject: &str, headers: Option<&async_nats::HeaderMap>, payload: &[u8]) -> Vec<Incoming> {
    let mut events = decode_intake(headers, payload);
    // A batch's events share a source as a rule: its check is made once.
    let mut last_ok: Option<String> = None;
    for event in &mut events {
        bind_to_subject(event, subject, &mut last_ok);
    }
    events
}

/// Makes an event that claims a source other than its subject's keyless,
/// so that it is a dead letter: recorded under that source's key, it would
/// take the key from the source's own HR system. `last_ok` is the last
/// source found to be the subject's (a hash spared per event).
fn bind_to_subject(incoming: &mut Incoming, subject: &str, last_ok: &mut Option<String>) {
    let source = match incoming {
        Incoming::Decoded(envelope) => envelope.source.as_str(),
        Incoming::Undecodable { error, .. } => error.source.as_deref().unwrap_or_default(),
    };
    if source.is_empty() || last_ok.as_deref() == Some(source) {
        return;
    }
    if Topology::subject_is_of(subject, source) {
        *last_ok = Some(source.to_owned());
        return;
    }
    let error = DecodeError {
        code: ReasonCode::SourceNotOfSubject,
        message: format!(
            "source {source:?} came on subject {subject}, which is not its own: an event is taken only on its source's intake subject"
        ),
        id: None,
        source: None,
    };
    let content_type = match incoming {
        Incoming::Undecodable { content_type, .. } => std::mem::take(content_type),
        Incoming::Decoded(_) => String::new(),
    };
    *incoming = Incoming::Undecodable { error, content_type, payload: Vec::new() };
}

fn decode_intake(headers: Option<&async_nats::HeaderMap>, payload: &[u8]) -> Vec<Incoming> {
    let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str().to_owned());
    let content_type = header(muster_bus::CONTENT_TYPE_HEADER);
    let undecodable = |error: DecodeError| Incoming::Undecodable {
        error,
        content_type: content_type.clone().unwrap_or_default(),
        payload: payload.to_vec(),
    };
    let mut incoming = match content_type.as_deref() {
        Some(cloudevents::CONTENT_TYPE) => Incoming::json(payload),
        Some(codec::CONTENT_TYPE) => Incoming::bincode(payload),
        Some(cloudevents::BATCH_CONTENT_TYPE) => {
            return match cloudevents::split_batch(payload) {
                Ok(events) => events.iter().enumerate().map(|(i, e)| batched(i, events.len(), e)).collect(),
                Err(error) => vec![undecodable(error)],
            };
        }
        other => undecodable(DecodeError {
            code: ReasonCode::UnsupportedContentType,
            message: format!(
                "content type {other:?} is none of {}, {} and {}",
                cloudevents::CONTENT_TYPE,
                cloudevents::BATCH_CONTENT_TYPE,
                codec::CONTENT_TYPE
            ),
            id: None,
            source: None,
        }),
    };
    if let Incoming::Undecodable { error, .. } = &mut incoming {
        error.id = error.id.take().or_else(|| header(muster_bus::ID_HEADER));
        error.source = error.source.take().or_else(|| header(muster_bus::SOURCE_HEADER));
    }
    vec![incoming]
}

/// Event `index` of a batch of `count`, decoded as if it had come alone
/// (its bytes are what a duplicate is compared with); a rejection says
/// where in the batch it was.
fn batched(index: usize, count: usize, event: &serde_json::value::RawValue) -> Incoming {
    let mut incoming = Incoming::json(event.get().as_bytes());
    if let Incoming::Undecodable { error, .. } = &mut incoming {
        error.message = format!("event {} of {count} in a batch: {}", index + 1, error.message);
    }
    incoming
}

impl Service {
    /// Commits, hands the receipts and feed to the outbox, then lets go of
    /// sled's pages. False when the outbox has stopped (its error is
    /// reported when it is joined).
    async fn commit(&mut self, commit: Commit, to_outbox: &tokio::sync::mpsc::Sender<Committed>) -> Result<bool> {
        // With failover, every commit is fenced on the lease (and every
        // feed block on the feed's tip).
        Holding::check_if_any(self.holding.as_ref())?;
        let committed = self.process(commit).await?;
        if to_outbox.send(committed).await.is_err() {
            return Ok(false);
        }
        // Off the path to this batch's receipts (the outbox has them).
        let ledger = &self.ledger;
        tokio::task::block_in_place(|| ledger.write().expect("ledger lock").release_pages())?;
        Ok(true)
    }

    async fn process(&mut self, commit: Commit) -> Result<Committed> {
        // A span per batch; `instrument`, not `enter`, so it stays right
        // across the awaits below.
        let span =
            tracing::info_span!("intake_batch", messages = commit.messages.len(), events = commit.incoming.len());
        self.process_in_span(commit).instrument(span).await
    }

    async fn process_in_span(&mut self, commit: Commit) -> Result<Committed> {
        let started = Instant::now();
        let Commit { messages: batch, incoming, origin, cursor } = commit;
        // 1. Commit and flush (blocking IO: off the async workers' backs).
        let (receipts, blocks, head) = tokio::task::block_in_place(|| {
            let mut ledger = self.ledger.write().expect("ledger lock");
            let receipts = ledger.submit_timed(incoming, cursor)?;
            Ok::<_, muster_ledger::LedgerError>((receipts, ledger.take_written_blocks(), ledger.head()))
        })?;
        let head_seq = head.seq;
        let committed = started.elapsed();
        // 2. Ack, the last message for all. A lost ack means a
        // redelivery, which is a duplicate.
        if let Some(last) = batch.last() {
            if let Err(error) = last.ack().await {
                tracing::warn!(%error, "ack failed; the batch will be redelivered as duplicates");
            }
        }
        tracing::info!(
            messages = batch.len(),
            events = receipts.len(),
            head_seq,
            commit_ms = committed.as_millis() as u64,
            "batch committed; receipts and feed to the outbox"
        );
        // 3. Receipts, 4. feed: the outbox's.
        Ok(Committed { head, messages: batch.into_iter().map(|m| m.message).collect(), origin, receipts, blocks })
    }
}

impl Outbox {
    /// Publishes each committed batch's receipts, then its feed blocks, in
    /// commit order, until the service drops its end of the queue.
    async fn run(mut self, committed: tokio::sync::mpsc::Receiver<Committed>) -> (Outbox, Result<()>) {
        let result = self.publish(committed).await;
        (self, result)
    }

    async fn publish(&mut self, mut committed: tokio::sync::mpsc::Receiver<Committed>) -> Result<()> {
        let mut last_head: Option<muster_ledger::Head> = None;
        let interval = Duration::from_secs(limits::CHECKPOINT_INTERVAL_SECS);
        loop {
            // Quiet after new entries: their checkpoint after the interval,
            // not only with the next batch.
            let unsigned =
                matches!((&self.signer, last_head), (Some((_, signed, _)), Some(head)) if head.seq > *signed);
            let batch = tokio::select! {
                batch = committed.recv() => batch,
                _ = tokio::time::sleep(interval), if unsigned => {
                    self.checkpoint(last_head.expect("unsigned entries"), true).await?;
                    continue;
                }
            };
            let Some(batch) = batch else { break };
            let started = Instant::now();
            self.publish_receipts(&batch.receipts, |i| batch.messages.get(*batch.origin.get(i)? as usize)).await?;
            self.publish_feed(batch.blocks).await?;
            self.checkpoint(batch.head, false).await?;
            last_head = Some(batch.head);
            tracing::info!(
                events = batch.receipts.len(),
                feed_seq = self.feed.ledger_seq,
                publish_ms = started.elapsed().as_millis() as u64,
                "receipts and feed published"
            );
        }
        Ok(())
    }

    /// Signs and publishes `head` when due: `checkpoint_every` entries, or
    /// a minute, since the last one (or `now`), and only once it is on the
    /// feed, so a checkpoint never vouches for what a replica cannot get.
    async fn checkpoint(&mut self, head: muster_ledger::Head, now: bool) -> Result<()> {
        self.check_lease()?;
        let Some((signer, last_seq, last_at)) = &mut self.signer else { return Ok(()) };
        let due = head.seq >= *last_seq + self.checkpoint_every
            || last_at.elapsed() >= Duration::from_secs(limits::CHECKPOINT_INTERVAL_SECS)
            || now;
        if head.seq == *last_seq || !due {
            return Ok(());
        }
        anyhow::ensure!(head.seq <= self.feed.ledger_seq, "checkpoint of entry {} before it is on the feed", head.seq);
        let checkpoint = signer.sign(head);
        (*last_seq, *last_at) = (head.seq, Instant::now());
        let bytes = muster_proto::checkpoint::encode(&checkpoint);
        self.js
            .publish(self.topology.checkpoints_subject(), bytes.into())
            .await?
            .await
            .with_context(|| format!("checkpoint of entry {} not stored by JetStream", head.seq))?;
        tracing::info!(seq = head.seq, "checkpoint signed and published");
        Ok(())
    }

    /// Publishes receipts, per source in submission order, as JSON arrays
    /// of at most [`RECEIPTS_MESSAGE_BYTES_MAX`]; a message with no usable
    /// key gets a dead letter instead (`message_of` finds the intake
    /// message of receipt `i`). Core NATS: the ledger keeps every outcome,
    /// and a missed message is made good by a lookup.
    async fn publish_receipts<'m>(
        &self,
        receipts: &[Receipt],
        message_of: impl Fn(usize) -> Option<&'m async_nats::Message>,
    ) -> Result<()> {
        self.check_lease()?;
        let mut letters: Vec<PublishAckFuture> = Vec::new();
        let mut by_source: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut slots: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, receipt) in receipts.iter().enumerate() {
            if receipt.source.is_empty() || receipt.id.is_empty() {
                let message = message_of(i).context("a receipt without a key and without its message")?;
                letters.push(self.dead_letter(message, receipt).await?);
                continue;
            }
            let json = serde_json::to_vec(receipt)?;
            let slot = *slots.entry(receipt.source.as_str()).or_insert_with(|| {
                by_source.push((receipt.source.as_str(), Vec::new()));
                by_source.len() - 1
            });
            let buffer = &mut by_source[slot].1;
            if !buffer.is_empty() && buffer.len() + json.len() + 2 > RECEIPTS_MESSAGE_BYTES_MAX {
                let full = std::mem::take(buffer);
                self.send_receipts(&receipt.source, full).await?;
            }
            let buffer = &mut by_source[slot].1;
            buffer.push(if buffer.is_empty() { b'[' } else { b',' });
            buffer.extend_from_slice(&json);
        }
        for (source, buffer) in by_source {
            if !buffer.is_empty() {
                self.send_receipts(source, buffer).await?;
            }
        }
        self.client.flush().await.context("sending receipts")?;
        for letter in letters {
            letter.await.context("dead letter not stored by JetStream")?;
        }
        Ok(())
    }

    async fn send_receipts(&self, source: &str, mut array: Vec<u8>) -> Result<()> {
        array.push(b']');
        self.client.publish(self.topology.receipts_subject(source), array.into()).await.context("sending receipts")
    }

    async fn dead_letter(&self, message: &async_nats::Message, receipt: &Receipt) -> Result<PublishAckFuture> {
        let start = &message.payload[..message.payload.len().min(256)];
        let letter = DeadLetter {
            code: receipt.code.clone().unwrap_or_default(),
            message: receipt.message.clone().unwrap_or_default(),
            subject: message.subject.to_string(),
            intake_seq: None,
            content_type: header(message, muster_bus::CONTENT_TYPE_HEADER),
            payload_bytes: message.payload.len() as u64,
            payload_start: String::from_utf8_lossy(start).into_owned(),
        };
        tracing::warn!(code = %letter.code, subject = %letter.subject, "dead letter: no usable event id");
        Ok(self.js.publish(self.topology.deadletter_subject(), serde_json::to_vec(&letter)?.into()).await?)
    }

    /// With `--failover`: whether this service may still publish as the
    /// active ledger (`Err(Demoted)` if not). Checked before every
    /// batch's receipts, feed blocks and checkpoint.
    fn check_lease(&self) -> Result<()> {
        Holding::check_if_any(self.holding.as_ref())
    }

    /// Publishes stored blocks, each fenced on the feed message before it.
    async fn publish_feed(&mut self, blocks: Vec<FeedBlock>) -> Result<()> {
        self.check_lease()?;
        let mut acks = Vec::with_capacity(blocks.len());
        let mut tip = self.feed;
        for block in blocks {
            anyhow::ensure!(
                block.first_seq == tip.ledger_seq + 1,
                "block {} after entry {}",
                block.first_seq,
                tip.ledger_seq
            );
            let message = PublishMessage::build()
                .payload(block.bytes.into())
                .message_id(block.first_seq.to_string())
                .expected_last_sequence(tip.message_seq)
                .header(muster_bus::FIRST_SEQ_HEADER, block.first_seq.to_string().as_str())
                .header(muster_bus::SEQ_HEADER, block.last_seq.to_string().as_str())
                .header(muster_bus::WRITER_HEADER, self.instance.as_str());
            tip = FeedTip { message_seq: tip.message_seq + 1, ledger_seq: block.last_seq };
            acks.push((tip, self.js.send_publish(self.topology.feed_subject(), message).await?));
        }
        for (expected, ack) in acks {
            let ack =
                ack.await.with_context(|| format!("feed block ending at entry {} refused", expected.ledger_seq))?;
            if ack.sequence != expected.message_seq {
                bail!(
                    "feed message {} for the block ending at entry {}: the feed and the ledger disagree",
                    ack.sequence,
                    expected.ledger_seq
                );
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
    fn check_feed_is_ours(&self, ledger: &RwLock<Ledger>, last_block: &[u8]) -> Result<()> {
        if self.feed.message_seq == 0 {
            return Ok(());
        }
        let (seq, hash) = muster_ledger::last_entry_of_block(last_block)?;
        let ours = ledger.read().expect("ledger lock").entry(seq)?.map(|entry| entry.hash);
        if ours != Some(hash) {
            return Err(Fatal(format!(
                "the feed's entry {seq} is not this ledger's (hash {} against {}): this ledger has diverged from the feed and must not continue it",
                muster_ledger::hex(&hash),
                ours.map_or("none".into(), |h| muster_ledger::hex(&h))
            ))
            .into());
        }
        Ok(())
    }

    /// After a restart: whatever was committed but not yet on the feed gets
    /// its receipt and feed message now.
    async fn catch_up(&mut self, ledger: &RwLock<Ledger>) -> Result<()> {
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
                return Err(Demoted(message).into());
            }
            return Err(
                Fatal(format!("{message}: wrong ledger directory, or a ledger restored from an old copy")).into()
            );
        }
        self.check_feed_is_ours(ledger, &last_block)?;
        if feed_last == head {
            return Ok(());
        }
        tracing::warn!(feed_last, head, "publishing receipts and feed blocks missed before a restart");
        // The lock is held to read, never across a publish.
        let chunk = limits::BATCH_EVENTS_MAX as u64;
        for first in (feed_last + 1..=head).step_by(chunk as usize) {
            let receipts = {
                let ledger = ledger.read().expect("ledger lock");
                (first..=head.min(first + chunk - 1))
                    .map(|seq| {
                        Ok(receipt_of(&ledger.entry(seq)?.with_context(|| format!("entry {seq} missing"))?, false))
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            // Recorded entries always have a key: no dead letters here.
            self.publish_receipts(&receipts, |_| None).await?;
        }
        let blocks = ledger.read().expect("ledger lock").blocks_from(feed_last + 1)?;
        self.publish_feed(blocks).await
    }
}
