//! Every limit in Muster, in one place, with what it costs.
//!
//! Limits are part of the contract: a publisher can rely on anything under
//! them being accepted by the codec, and on anything over them being
//! rejected with a reason code, before it is allocated or stored.

/// Largest encoded event (JSON or bincode). Rationale: a split of a unit of
/// 10,000 staff fits in about 400 KiB of JSON; 1 MiB bounds the memory one
/// message can take.
pub const PAYLOAD_BYTES_MAX: usize = 1024 * 1024;
/// Longest event id, source, unit id or staff id, in bytes.
pub const ID_BYTES_MAX: usize = 128;
/// Longest unit name, in bytes (UTF-8: about 60 CJK characters).
pub const NAME_BYTES_MAX: usize = 200;
/// Longest order/decision reference, in bytes.
pub const ORDER_REF_BYTES_MAX: usize = 200;
/// Longest free-text note or reason, in bytes.
pub const NOTE_BYTES_MAX: usize = 2000;
/// Longest rejection message the ledger stores, in bytes. Rationale: a
/// message may quote input; bounding it keeps a rejected entry small
/// whatever the input was.
pub const MESSAGE_BYTES_MAX: usize = 1000;
/// Most sources in one merger.
pub const MERGE_SOURCES_MAX: usize = 64;
/// Most parts in one split.
pub const SPLIT_PARTS_MAX: usize = 64;
/// Most entries in one split allocation list (staff or child units).
pub const SPLIT_ALLOCATIONS_MAX: usize = 20_000;
/// Most events in one batched message (`application/cloudevents-batch+json`),
/// which as a whole is bounded by [`PAYLOAD_BYTES_MAX`] too. Rationale:
/// equal to [`BATCH_EVENTS_MAX`], so one full message is one commit.
pub const BATCH_MESSAGE_EVENTS_MAX: usize = BATCH_EVENTS_MAX;
/// Events a publisher puts in one batched message by default. Rationale:
/// measured (BENCHMARKS.md): per-message work of the publisher, the server
/// and the ledger dominated ingest one event per message; a quarter of a
/// commit per message keeps four messages in the publisher's window.
pub const PUBLISH_BATCH_EVENTS: usize = 256;
/// Most bytes of intake messages the ledger takes in one fetch. Rationale:
/// above the largest message (so one always fits), and bounds what a fetch
/// holds in memory whatever the messages carry.
pub const FETCH_BYTES_MAX: usize = 8 * PAYLOAD_BYTES_MAX;
/// Most events the ledger validates and commits as one batch (one flush).
/// Rationale: one flush costs about as much as a few hundred entry writes;
/// bigger batches add latency to every receipt in them.
pub const BATCH_EVENTS_MAX: usize = 1024;
/// The ledger service signs its head (a checkpoint) once this many
/// entries were committed since the last one. Rationale: an auditor's
/// export is vouched for up to at most this many entries before its end;
/// signing costs ~50 µs, nothing at this rate.
pub const CHECKPOINT_EVERY_ENTRIES: u64 = 10_000;
/// … or once this long has passed with anything new since the last one.
pub const CHECKPOINT_INTERVAL_SECS: u64 = 60;
/// Most points one series query returns.
pub const SERIES_POINTS_MAX: usize = 100_000;
/// Most events one `unit_events` answer lists; a unit with more is
/// answered `bad_request` (ask as known at an earlier point), never cut
/// short. Rationale: each line is read from the chain and checked, and
/// is about 400 bytes of JSON: 2,000 of them stay under the NATS reply
/// limit (`max_payload`, 1,088 KiB) with room for long order references.
pub const UNIT_EVENTS_MAX: usize = 2_000;
/// Most events one `corrections` answer lists, over `bad_request` like
/// [`UNIT_EVENTS_MAX`], for the same reason (and a window that wide is
/// better asked in smaller steps).
pub const CORRECTION_EVENTS_MAX: usize = 2_000;
/// Most checkpoints one `checkpoints` answer lists, and how many it lists
/// when not asked for fewer. Rationale: each is one message read from the
/// checkpoints stream and one signature checked (~50 µs); the workbench
/// shows the latest few.
pub const CHECKPOINTS_LISTED_MAX: u32 = 20;
/// Most entries one `evidence_entries` request asks for. Rationale: each
/// is read from the chain, proven (24 hashes at 10M entries) and answered
/// as its export line (~500 bytes) and proof (~1.6 kB as hex).
pub const EVIDENCE_ENTRIES_PER_REQUEST_MAX: usize = 256;
/// Bytes of entries after which an `evidence_entries` answer stops (it
/// always carries at least one; the asker asks again for the rest).
/// Rationale: keeps the answer under the NATS reply limit (`max_payload`,
/// 1,088 KiB) even when a few entries are large splits.
pub const EVIDENCE_ANSWER_BYTES_MAX: usize = 768 << 10;
/// Most events one evidence pack cites; an audit citing more is refused
/// (`muster evidence` exits 2, the download answers 400) and should be
/// asked of a smaller scope or a shorter window. Rationale: each is one
/// proven entry (~2 kB in the pack, a few µs to prove and check): 50,000
/// make a pack of ~100 MB at most, written and verified in seconds.
pub const EVIDENCE_EVENTS_MAX: usize = 50_000;
/// Most bytes `muster verify --evidence` reads from one file of a pack.
/// Rationale: above what [`EVIDENCE_EVENTS_MAX`] events make, and a
/// limit on what a hostile pack (a zip bomb) can make it inflate.
pub const EVIDENCE_FILE_BYTES_MAX: u64 = 256 << 20;
/// Stored Merkle subtrees written per sled batch when a ledger from
/// before the tree gets them on open. Rationale: one per 128 entries, so
/// 10M entries need 78k; 4096 keeps each batch ~170 kB.
pub const MERKLE_SUBTREES_PER_WRITE_MAX: usize = 4096;
/// Stored Merkle subtrees per sled item when they are written for a
/// ledger from before (a commit's own are one item, ~8 for 1,024
/// entries). Rationale: a lookup reads one item and scans it; 64 records
/// are 2.6 kB.
pub const MERKLE_SUBTREES_PER_ITEM_MAX: usize = 64;
/// How long the ledger service waits for a batch to fill before it takes
/// what has come. Rationale: under load batches fill at once; when quiet,
/// an event waits at most this long for its receipt.
pub const BATCH_WAIT_MS: u64 = 20;
/// How long JetStream waits for the ledger's ack before redelivering.
/// Rationale: longer than the slowest batch commit (a flush), so messages
/// are not redelivered while their batch is being written.
pub const ACK_WAIT_SECS: u64 = 30;
/// How long an active ledger service that stopped renewing keeps the
/// ledger lease (`--failover`): how long a standby waits before it takes
/// over. Rationale: well above a renewal round trip and a leader election
/// on a cluster (a second or two), so a busy or briefly cut-off active
/// ledger is not deposed; short enough that ingest pauses for seconds,
/// not minutes.
pub const LEASE_MS: u64 = 5_000;
/// How long a standby that took the lease may go without replaying
/// anything while the feed holds entries it has not: then the intake
/// lacks what the last active ledger read, and it gives the lease up.
pub const TAKEOVER_STALL_SECS: u64 = 30;
/// Most intake messages delivered to the ledger and not yet acked.
pub const LEDGER_ACK_PENDING_MAX: usize = 4 * BATCH_EVENTS_MAX;
/// Most feed messages (each one stored block, see `disk`) a replica
/// applies as one batch (one flush): at most 16 blocks of ~512 KiB, or of
/// one entry at its limit.
pub const FEED_BATCH_MAX: usize = 16;
/// Most events a publisher has sent and not yet seen a receipt for.
/// Rationale: also bounds outstanding PubAcks, which async-nats caps at
/// 5,000 per context (a publish past that waits for an ack).
pub const PUBLISH_IN_FLIGHT_MAX: usize = 4096;
/// Most messages a publisher's fast-ingest batch sends per ack it asks of
/// the server (ADR-50's `flow`; the server may ask for acks more often).
/// Two acks' worth may be unacknowledged: at most 2 × this many messages
/// of one source in flight between the publisher and the intake stream.
/// 500 is the server's own ceiling (it allows 500 ÷ the stream's open
/// batches); measured at 100k events, one per message: 43k events/s at
/// 128, 45–54k at 500.
pub const FAST_BATCH_FLOW_MAX: u16 = 500;
/// How long a fast-ingest batch waits for a reply it needs (the start's,
/// an ack it is stalled on, the end's PubAck) before pinging; after two
/// pings unanswered its unacknowledged messages are sent again in a new
/// batch. Rationale: the server answers in a round trip; seconds mean a
/// lost reply or a server gone.
pub const FAST_BATCH_REPLY_WAIT_MS: u64 = 1_000;
/// How long a fast-ingest batch with messages not yet acknowledged may go
/// without sending before the publisher ends it (and so learns how many
/// it stored). Well under the server's 10 s, after which it drops an idle
/// batch unannounced.
pub const FAST_BATCH_IDLE_MS: u64 = 100;
/// Most fast-ingest replies (acks) a publisher holds unread.
pub const FAST_BATCH_REPLIES_MAX: usize = 1024;
/// Consecutive fast-ingest batches of one source that may fail at their
/// start before that source's messages go one PubAck at a time for the
/// rest of the run.
pub const FAST_BATCH_START_FAILURES_MAX: u32 = 3;
/// Attempts a publisher makes to get one event recorded.
pub const PUBLISH_ATTEMPTS_MAX: u32 = 8;
/// How long a publisher waits for a receipt before publishing again.
pub const RECEIPT_WAIT_MS: u64 = 5_000;
/// Largest HTTP request body the query API reads.
pub const HTTP_BODY_BYTES_MAX: usize = 64 * 1024;

// The ledger service's queues and waits.

/// Decoded commits waiting for the ledger. Rationale: decoding the next
/// commit's JSON (and fetching it) overlaps deciding and flushing this one,
/// on the other core; two bound what waits to two commits of
/// `BATCH_EVENTS_MAX` events.
pub const DECODED_COMMITS_MAX: usize = 2;
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
/// (`PAYLOAD_BYTES_MAX`).
pub const LOOKUP_REQUEST_BYTES_MAX: usize = 4 * ID_BYTES_MAX + 64;
/// How long a request that sets a ledger session up (streams, consumers,
/// the feed's tip, the lease) waits for JetStream. Rationale: on a cluster
/// that just lost a node, such requests go unanswered until the streams
/// have elected new leaders (seconds); with the client's default (5 s),
/// the ledger asked twice and stalled ingest for 10 s; with this, it asks
/// again sooner.
pub const SESSION_SETUP_TIMEOUT_MS: u64 = 1_500;
/// The first pause after an interrupted session; each next one doubles, up
/// to `SESSION_PAUSE_MAX_MS`. Rationale: a server restart takes about a
/// second; retrying faster only fills the log.
pub const SESSION_PAUSE_MIN_MS: u64 = 100;
/// The longest pause between sessions.
pub const SESSION_PAUSE_MAX_MS: u64 = 5_000;
/// How long past its expiry a fetch from the intake may go unanswered
/// before the session ends (and the next makes its consumer anew).
/// Rationale: on a cluster that lost the node leading the consumer, pull
/// requests went unanswered for 10 s and more, silently, while the intake
/// filled.
pub const FETCH_GRACE_MS: u64 = 2_000;
/// The shortest a fetch waits for messages, whatever `--batch-wait-ms`
/// says. Rationale: a fetch that expires at once is a busy loop.
pub const FETCH_WAIT_MIN_MS: u64 = 10;
/// How long the durable consumer of a ledger service with `--failover`
/// outlives its last fetch (a dead or demoted instance's).
pub const FAILOVER_CONSUMER_IDLE_SECS: u64 = 300;
/// How long a standby's consumer outlives its last fetch. Rationale: it
/// is made anew with every standby session; one left by a dead standby
/// goes by itself soon.
pub const STANDBY_CONSUMER_IDLE_SECS: u64 = 60;
/// Most bytes of an undecodable payload a dead letter quotes.
pub const DEAD_LETTER_QUOTE_BYTES: usize = 256;

// What the ledger stores and what readers of its files take.

/// A block is closed once adding an entry would take it past this many
/// bytes (a block of one entry may be larger). Rationale: a block is also
/// one feed message, which NATS bounds (`max_payload`, ops/nats).
pub const BLOCK_BYTES_TARGET: usize = 512 * 1024;
/// Most entries in one block, with a bound on what a reader allocates.
pub const BLOCK_ENTRIES_MAX: usize = 4096;
/// Largest stored entry: an envelope at its limit plus the entry's own
/// fields.
pub const ENTRY_BYTES_MAX: usize = 2 * PAYLOAD_BYTES_MAX + 4096;
/// Longest line a reader takes. Rationale: an entry is at most a 1 MiB
/// event plus its verdict; its JSON (every byte of a hash a number, every
/// non-ASCII character escaped at worst) stays well under 16 MiB.
pub const EXPORT_LINE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Largest checkpoint a reader takes: the JSON of the first format is a
/// few hundred bytes; a signed note (the second) ~400 bytes with the
/// ledger's signature and ~140 more per witness cosignature, so 8 KiB
/// holds `note::NOTE_SIGNATURES_MAX` of them.
pub const CHECKPOINT_BYTES_MAX: usize = 8192;
/// Largest witness state file read: its checkpoint (at most
/// [`CHECKPOINT_BYTES_MAX`], escaped as JSON: up to twice as long) and a
/// few fields.
pub const WITNESS_STATE_BYTES_MAX: usize = 2 * CHECKPOINT_BYTES_MAX + 1024;
/// Checkpoints a witness reads each time it looks (the newest; each is
/// judged once a run). Rationale: it needs only the newest to advance,
/// but judges every one listed, so a smaller checkpoint of another
/// history is caught as well as a larger one.
pub const WITNESS_CHECKPOINTS_PER_POLL: u32 = CHECKPOINTS_LISTED_MAX;
/// Checkpoints a witness remembers having judged in one run (then it
/// forgets the oldest and may judge one again: harmless, only slower).
pub const WITNESS_JUDGED_REMEMBERED: usize = 1024;
/// Bytes read or written through one sled handle before it is reopened
/// (the default of `LedgerConfig::sled_reopen_bytes`).
///
/// Rationale: sled 0.34 keeps every page it has read or written in memory,
/// whatever `cache_capacity` says (spacejam/sled#1036): walking the 10M
/// benchmark ledger (1 GB of blocks) on open left 1 GB resident, and the
/// ledger service's memory grew with every block it wrote. Reopening the
/// handle lets go of them; measured on that ledger, a walk reopening every
/// 64 MiB peaked at 81 MB instead of 1 GB and took 0.6 s instead of 1.0 s
/// (every 16 MiB: 31 MB, 1.0 s). 32 MiB: a reopen costs a few milliseconds
/// between batches, and the memory is within the ledger service's budget.
pub const SLED_TOUCHED_BYTES_MAX: u64 = 32 << 20;

// Publishers and the bus.

/// How long JetStream remembers a `Nats-Msg-Id` to drop a re-publish.
/// Rationale: covers a publisher's retries; anything later is caught by
/// the ledger's own (source, id) index, which never forgets.
pub const DUPLICATE_WINDOW_SECS: u64 = 10 * 60;
/// How long a service or command waits to connect to NATS. Rationale: a
/// local or LAN server answers in milliseconds; a person waiting on a
/// command should hear within seconds that it is not there, not after
/// minutes of silence.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// The pause before a message whose PubAck failed is sent again.
pub const ACK_RETRY_PAUSE_MS: u64 = 100;
/// How long the publisher waits for JetStream to say whether the intake
/// stream exists, after a publish nobody answered. Rationale: that happens
/// while a cluster elects the stream's new leader, when the question goes
/// unanswered too; with the client's default (5 s) each retry of the
/// message waited that long, and ingest stalled 15 s after a node loss.
pub const STREAM_CHECK_TIMEOUT_MS: u64 = 1_000;
/// How long `muster-publish` waits quietly for receipts before saying so.
/// Rationale: a healthy ledger answers within a batch wait (milliseconds);
/// five quiet seconds mean something is wrong, and a person should hear it
/// before deciding to wait longer.
pub const WAITING_NOTICE_MS: u64 = 5_000;
/// Most rejections `muster-publish` lists on stderr (all go to
/// `--rejections`).
pub const REJECTIONS_SHOWN_MAX: usize = 20;
