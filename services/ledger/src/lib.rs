//! The Muster ledger: an append-only, hash-chained log of every submitted
//! event in sled, with the staffing timeline it implies.
//!
//! Submissions go in as batches ([`Ledger::submit_batch`]): each event is
//! validated in order against the timeline (accepted events of the same
//! batch included), every one is recorded — accepted or rejected with its
//! reason — and the batch is written atomically and **flushed before any
//! receipt is returned**. Queries read the timeline
//! ([`Ledger::timeline`]), which is rebuilt from the log on open.
//!
//! ```no_run
//! use muster_ledger::{Ledger, LedgerConfig, Incoming};
//! let mut ledger = Ledger::open(&LedgerConfig::new("data/ledger")).unwrap();
//! let line = br#"{"specversion":"1.0","id":"e-1","source":"hr","type":"org.muster.unit.established.v1",
//!   "effectivedate":"2015-09-01","data":{"unit":"U1","name":"Office","category":"office"}}"#;
//! let receipts = ledger.submit_batch(vec![Incoming::json(line)], 1_700_000_000_000).unwrap();
//! assert_eq!(receipts[0].seq, Some(1));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod checkpoint;
mod error;
pub mod export;
mod store;

pub use error::{LedgerError, LedgerErrorKind};
pub use muster_proto::hex::{hex, unhex};
/// What the ledger takes in: decoded by the contract (`muster_proto::intake`).
pub use muster_proto::intake::Incoming;

use muster_domain::{Event, ReasonCode, Rejection, Seq, Timeline};
use muster_proto::entry::{EntryBody, EntryRef, Outcome, Receipt, ReceiptStatus, StoredEntry, Submission, Undecodable};
use muster_proto::validate::{validate, Validated};
use muster_proto::{codec, disk, limits, DecodeError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use store::{chain_hash, check_entry, IdIndex, Store};

/// Where and how to open a ledger.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// The sled directory.
    pub path: PathBuf,
    /// sled's page cache, bytes.
    pub cache_bytes: u64,
    /// How long `open` waits for another handle (in this or another
    /// process) to let go of the directory lock. Rationale: sled's threads
    /// release it shortly after the last handle is dropped, so a service
    /// restarted at once would otherwise fail to start.
    pub lock_wait: std::time::Duration,
    /// Whether the timeline keeps the headcount index (true: it answers
    /// every query). The ledger service sets it to false: it decides and
    /// appends, replicas answer ([`Timeline::for_decisions`]).
    pub query_indexes: bool,
    /// Bytes read or written through one sled handle before the ledger
    /// reopens it, between batches: sled 0.34 keeps every page it touched
    /// in memory regardless of `cache_bytes`. Default 32 MiB.
    pub sled_reopen_bytes: u64,
}

impl LedgerConfig {
    /// Defaults for a ledger at `path`: 64 MiB of cache. Rationale: the
    /// ledger writes blocks and reads them back only for lookups of
    /// duplicates, conflicts and receipts; queries are answered from
    /// memory, so a large page cache would only add to the footprint.
    pub fn new(path: impl AsRef<Path>) -> LedgerConfig {
        LedgerConfig {
            path: path.as_ref().to_owned(),
            cache_bytes: 64 * 1024 * 1024,
            lock_wait: std::time::Duration::from_secs(10),
            query_indexes: true,
            sled_reopen_bytes: store::STORE_TOUCHED_BYTES_MAX,
        }
    }
}

/// The last committed entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Head {
    /// Its sequence (0 for an empty ledger).
    pub seq: Seq,
    /// Its chain hash (all zero for an empty ledger).
    pub hash: [u8; 32],
    /// Its commit time.
    pub recorded_at_ms: u64,
}

/// The result of re-walking the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The head hash they lead to.
    pub head_hash: [u8; 32],
}

/// The ledger: sled on disk, the timeline in memory.
pub struct Ledger {
    store: Store,
    ids: IdIndex,
    /// (source, id) → the later entries recorded under a key already
    /// taken: each a `duplicate_id_different_content` rejection. Rare; so
    /// a lookup by content can find the one a re-published changed event
    /// got (rebuilt from the chain on open, like `ids`).
    conflicts: HashMap<(String, String), Vec<Seq>>,
    timeline: Timeline,
    head: Head,
    poisoned: bool,
}

/// What one commit did, for whoever publishes it: nothing reaches the
/// feed or an HR system but through this.
#[derive(Clone, Debug)]
pub struct Committed {
    /// One receipt per submission, in order.
    pub receipts: Vec<Receipt>,
    /// The blocks it wrote (none if it recorded no entry), as the feed
    /// carries them: published without reading them back.
    pub blocks: Vec<FeedBlock>,
    /// The head after it.
    pub head: Head,
}

/// A position in a JetStream stream: the last message a ledger has read,
/// stored with every batch (`muster_proto::disk::CURSOR_KEY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamMark {
    /// The message's stream sequence (0: none read).
    pub seq: u64,
    /// Its JetStream time, nanoseconds since 1970 (0: not known).
    /// Rationale: a server that lost the end of its stream (a power cut
    /// inside its sync interval, a restored backup) numbers new messages
    /// from where it now ends, so a sequence alone can name another
    /// message than the one read; the time tells them apart.
    pub time_ns: u64,
}

/// A stored block as it goes out on the feed.
#[derive(Clone, Debug)]
pub struct FeedBlock {
    /// Its first entry's sequence.
    pub first_seq: Seq,
    /// Its last entry's sequence.
    pub last_seq: Seq,
    /// The block's bytes, as stored (`muster_proto::disk`).
    pub bytes: Vec<u8>,
}

/// Moves `timeline` on by a stored entry, as its decision was made when
/// it was recorded: the one replay step of opening a ledger and of
/// appending a replica's blocks.
fn replay_entry(timeline: &mut Timeline, entry: &StoredEntry) -> Result<(), LedgerError> {
    let seq = entry.body.seq;
    if seq > muster_domain::SEQ_MAX {
        return Err(LedgerError::new(LedgerErrorKind::Full { last_seq: seq - 1 }));
    }
    if let Some((date, event)) = replayed_event(entry)? {
        let decision = timeline.decide(seq, date, &event).map_err(|r| {
            LedgerError::corrupt(seq, format!("recorded as accepted, but the timeline rejects it now: {r}"))
        })?;
        timeline.apply(decision);
    }
    Ok(())
}

/// The domain event a stored entry stands for: `None` for a rejected
/// entry; an error for an accepted one that no longer reads as an event
/// (pair assertion: what was accepted must replay).
fn replayed_event(entry: &StoredEntry) -> Result<Option<(muster_domain::Date, Event)>, LedgerError> {
    let Outcome::Accepted { retracts } = &entry.body.outcome else { return Ok(None) };
    let seq = entry.body.seq;
    let Submission::Event(envelope) = &entry.body.submission else {
        return Err(LedgerError::corrupt(seq, "an undecodable submission is recorded as accepted"));
    };
    let validated = validate(envelope)
        .map_err(|e| LedgerError::corrupt(seq, format!("recorded as accepted, but it no longer validates: {e}")))?;
    Ok(Some(match (validated, retracts) {
        (Validated::Event { date, event }, None) => (date, event),
        (Validated::Retraction { date, reason, .. }, Some(target)) => {
            (date, Event::EventRetracted { target: *target, reason })
        }
        _ => return Err(LedgerError::corrupt(seq, "a retraction's target is not recorded with it")),
    }))
}

/// The sequence and hash of a stored block's last entry (as the feed
/// carries it), its framing checked.
pub fn last_entry_of_block(bytes: &[u8]) -> Result<(Seq, [u8; 32]), LedgerError> {
    let block = disk::Block::read(bytes).map_err(|e| LedgerError::corrupt(0, e.reason))?;
    let mut last = None;
    for raw in block.entries() {
        last = Some(raw.map_err(|e| LedgerError::corrupt(0, e.reason))?);
    }
    let raw = last.ok_or_else(|| LedgerError::corrupt(0, "an empty block"))?;
    let entry = codec::decode_stored_entry(raw).map_err(|e| LedgerError::corrupt(0, e.to_string()))?;
    Ok((entry.body.seq, entry.hash))
}

/// The receipt an entry stands for (`duplicate` when it answers a
/// re-submission).
pub fn receipt_of(entry: &StoredEntry, duplicate: bool) -> Receipt {
    let (source, id) = entry.body.submission.key();
    let mut receipt = Receipt {
        source: source.to_owned(),
        id: id.to_owned(),
        seq: Some(entry.body.seq),
        duplicate,
        status: ReceiptStatus::Accepted,
        hash: Some(hex(&entry.hash)),
        code: None,
        message: None,
        conflicts_with: Vec::new(),
    };
    if let Outcome::Rejected { code, message, conflicts_with } = &entry.body.outcome {
        receipt.status = ReceiptStatus::Rejected;
        receipt.code = Some(code.clone());
        receipt.message = Some(message.clone());
        receipt.conflicts_with = conflicts_with.clone();
    }
    receipt
}

/// A rejection outcome, its message bounded so that no input can make an
/// entry grow past its limit.
fn rejected(code: ReasonCode, message: String) -> Outcome {
    rejected_naming(code, message, Vec::new())
}

/// [`rejected`], naming the accepted events it conflicts with.
fn rejected_naming(code: ReasonCode, message: String, conflicts_with: Vec<EntryRef>) -> Outcome {
    let message = muster_proto::bounded(&message, limits::MESSAGE_BYTES_MAX);
    Outcome::Rejected { code: code.as_str().to_owned(), message, conflicts_with }
}

/// Entries written by the batch in progress, for lookups before commit.
#[derive(Default)]
struct Pending {
    entries: Vec<StoredEntry>,
    /// Each entry's codec bytes.
    encoded: Vec<Vec<u8>>,
    /// Indexes into `entries` where a new block must begin (a replica
    /// keeps the blocks it was sent).
    block_starts: Vec<usize>,
    ids: HashMap<(String, String), Seq>,
    /// Entries of this batch recorded under a key already taken.
    conflicts: Vec<((String, String), Seq)>,
}

impl Ledger {
    /// Opens (or creates) the ledger at `config.path`, re-walking the whole
    /// chain and rebuilding the timeline from it.
    pub fn open(config: &LedgerConfig) -> Result<Ledger, LedgerError> {
        // No background flusher: the ledger flushes at the end of every
        // batch, and that flush is the durability point (ADR 0002).
        let sled_config =
            sled::Config::new().path(&config.path).cache_capacity(config.cache_bytes).flush_every_ms(None);
        let mut ledger = Ledger {
            store: Store::open(sled_config, &config.path, config.lock_wait, config.sled_reopen_bytes)?,
            ids: IdIndex::new(),
            conflicts: HashMap::new(),
            timeline: if config.query_indexes { Timeline::new() } else { Timeline::for_decisions() },
            head: Head { seq: 0, hash: [0; 32], recorded_at_ms: 0 },
            poisoned: false,
        };
        ledger.replay()?;
        Ok(ledger)
    }

    /// Whether `path` holds a ledger (sled's files), so that a tool that
    /// only reads can refuse a directory that does not, instead of making
    /// an empty ledger there.
    pub fn exists_at(path: &Path) -> bool {
        store::holds_a_store(path)
    }

    fn replay(&mut self) -> Result<(), LedgerError> {
        let mut walk = store::Walk::new();
        while self.replay_some(&mut walk)? {
            self.store.relieve(false)?;
        }
        // Start serving with no pages held: the walk's last ones would
        // otherwise be let go of in the middle of some later commit.
        self.store.relieve(true)?;
        self.check_stored_head(walk.head)?;
        self.head = walk.head;
        Ok(())
    }

    fn replay_some(&mut self, walk: &mut store::Walk) -> Result<bool, LedgerError> {
        let (store, timeline, ids, conflicts) = (&self.store, &mut self.timeline, &mut self.ids, &mut self.conflicts);
        store.walk_some(walk, |entry, _| {
            let seq = entry.body.seq;
            replay_entry(timeline, &entry)?;
            // The first entry of a key is the one its lookups return.
            let (source, id) = entry.body.submission.key();
            if ids.get(store, source, id)?.is_none() {
                ids.insert_new(source, id, seq);
            } else {
                conflicts.entry((source.to_owned(), id.to_owned())).or_default().push(seq);
            }
            Ok(())
        })
    }

    /// Pair assertion, read side: the head written with the last batch is
    /// the entry the chain ends at (a lost or extra block shows here).
    fn check_stored_head(&self, head: Head) -> Result<(), LedgerError> {
        match self.store.tree()?.get(disk::HEAD_KEY)?.map(|v| disk::decode_head(&v)) {
            None if head.seq == 0 => Ok(()),
            Some(Some((seq, hash, _))) if seq == head.seq && hash == head.hash => Ok(()),
            _ => Err(LedgerError::corrupt(head.seq + 1, "the stored head does not match the last entry")),
        }
    }

    /// The timeline of accepted events, for queries.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Where the ledger's memory goes, by part, in bytes (see
    /// [`Timeline::footprint`]), the (source, id) index included.
    pub fn footprint(&self) -> Vec<(&'static str, u64)> {
        let mut parts = self.timeline.footprint();
        parts.push(("(source, id) index", self.ids.heap_bytes() as u64));
        let conflicts = self.conflicts.iter().map(|((s, i), seqs)| s.len() + i.len() + 8 * seqs.capacity() + 64);
        parts.push(("changed events under used ids", conflicts.sum::<usize>() as u64));
        parts
    }

    /// The last committed entry.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The entry at `seq`, checked against its own hash and the stored
    /// hash before it.
    pub fn entry(&self, seq: Seq) -> Result<Option<StoredEntry>, LedgerError> {
        Ok(self.store.entry(seq)?.map(|(entry, _)| entry))
    }

    fn seq_of(&self, source: &str, id: &str) -> Result<Option<Seq>, LedgerError> {
        self.ids.get(&self.store, source, id)
    }

    /// The receipt of the event (source, id), if it was ever recorded: the
    /// first entry under the key, the one in force. (A changed event
    /// published later under the same key has a rejection of its own:
    /// [`Ledger::receipt_for`] finds it by content.)
    pub fn receipt(&self, source: &str, id: &str) -> Result<Option<Receipt>, LedgerError> {
        match self.seq_of(source, id)? {
            Some(seq) => Ok(Some(receipt_of(&self.entry_at(seq)?, false))),
            None => Ok(None),
        }
    }

    /// The receipt of this very submission, if the ledger recorded it: the
    /// first entry under its (source, id) if its content is the same,
    /// else the `duplicate_id_different_content` rejection recorded for
    /// this content; `None` when neither (not recorded yet, or a
    /// submission with no usable key). Rationale: a publisher whose
    /// receipt is late must learn what became of what *it* sent; asked by
    /// key alone, the ledger would answer the original's acceptance for a
    /// changed event that it rejected.
    pub fn receipt_for(&self, incoming: Incoming) -> Result<Option<Receipt>, LedgerError> {
        let Ok((submission, _)) = submission_of(incoming) else { return Ok(None) };
        let (source, id) = submission.key();
        let Some(first) = self.seq_of(source, id)? else { return Ok(None) };
        let later = self.conflicts.get(&(source.to_owned(), id.to_owned()));
        for seq in std::iter::once(first).chain(later.into_iter().flatten().copied()) {
            let entry = self.entry_at(seq)?;
            if entry.body.submission == submission {
                return Ok(Some(receipt_of(&entry, false)));
            }
        }
        Ok(None)
    }

    /// The entries at `seqs` (ascending, distinct), each checked as
    /// [`Ledger::entry`] checks it, reading each stored block once: what
    /// an answer that names many events (an audit's moves) costs. A seq
    /// not in the chain is an error: the indexes named it.
    pub fn entries_at(&self, seqs: &[Seq]) -> Result<Vec<StoredEntry>, LedgerError> {
        let entries = self.store.entries_at(seqs)?;
        match seqs.get(entries.len()) {
            Some(missing) => Err(LedgerError::corrupt(*missing, "an entry the timeline names is missing")),
            None => Ok(entries),
        }
    }

    /// The entry at `seq`, which an index says exists.
    fn entry_at(&self, seq: Seq) -> Result<StoredEntry, LedgerError> {
        self.entry(seq)?.ok_or_else(|| LedgerError::corrupt(seq, "an indexed entry is missing"))
    }

    /// The last sequence committed at or before `ms` (Unix milliseconds):
    /// "what did the ledger say then" by wall-clock time.
    pub fn seq_at_time(&self, ms: u64) -> Result<Seq, LedgerError> {
        // Commit times never decrease along the log, so binary search.
        let (mut low, mut high) = (0, self.head.seq);
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            let entry = self.entry(mid)?.ok_or_else(|| LedgerError::corrupt(mid, "entry missing"))?;
            if entry.body.recorded_at_ms <= ms {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        Ok(low)
    }

    /// Re-walks the whole chain on disk, checking every block's place and
    /// link, every entry's sequence and hash, and the stored head. Names
    /// the first bad sequence. The pages it reads stay in sled's memory
    /// until the next batch reopens the handle (`LedgerConfig::sled_reopen_bytes`).
    pub fn verify(&self) -> Result<VerifyReport, LedgerError> {
        let mut entries = 0u64;
        let mut walk = store::Walk::new();
        while self.store.walk_some(&mut walk, |_, _| {
            entries += 1;
            Ok(())
        })? {}
        self.check_stored_head(walk.head)?;
        Ok(VerifyReport { entries, head_hash: walk.head.hash })
    }

    /// Every entry in sequence order, each checked against the chain; the
    /// walk stops at the first bad one.
    pub fn entries(&self) -> impl Iterator<Item = Result<StoredEntry, LedgerError>> + '_ {
        let (mut blocks, mut failure) = match self.store.tree() {
            Ok(tree) => (Some(tree.scan_prefix([disk::BLOCK_PREFIX])), None),
            Err(error) => (None, Some(Some(error))),
        };
        let mut head = Head { seq: 0, hash: [0; 32], recorded_at_ms: 0 };
        let mut ready = std::collections::VecDeque::new();
        std::iter::from_fn(move || loop {
            if let Some(entry) = ready.pop_front() {
                return Some(Ok(entry));
            }
            if let Some(failure) = &mut failure {
                // The good entries before the break, then the error, then
                // nothing.
                return failure.take().map(Err);
            }
            let block = blocks.as_mut()?.next()?;
            let checked = block.map_err(LedgerError::from).and_then(|(key, bytes)| {
                store::check_block(head, &key, &bytes, |entry, _| {
                    ready.push_back(entry);
                    Ok(())
                })
            });
            match checked {
                Ok(next) => head = next,
                Err(error) => failure = Some(Some(error)),
            }
        })
    }

    /// Lets go of the pages sled holds once they reach
    /// `LedgerConfig::sled_reopen_bytes` (reopening its handle: a few
    /// milliseconds). Call it between batches, after the receipts are on
    /// their way; `submit_batch` and `append_replicated` do it themselves
    /// before a batch if nobody did.
    pub fn release_pages(&mut self) -> Result<(), LedgerError> {
        self.store.relieve(false)
    }

    /// The entries from `first_seq` to the head as blocks, as the feed
    /// carries them: the stored blocks, but for a first one framed anew
    /// when no stored block starts at `first_seq`.
    pub fn blocks_from(&self, first_seq: Seq) -> Result<Vec<FeedBlock>, LedgerError> {
        Ok(self
            .store
            .blocks_starting_at(first_seq)?
            .into_iter()
            .map(|(first_seq, last_seq, bytes)| FeedBlock { first_seq, last_seq, bytes })
            .collect())
    }

    /// A replica's write path: appends blocks copied from another ledger
    /// (the feed), each checked against the chain — the next sequence, the
    /// link to the head, every hash — and replayed into the timeline; then
    /// one commit and flush, with `cursor` (the feed position they end
    /// at). Blocks at or below the head are skipped (a redelivered feed
    /// message). The blocks are stored as they came. Returns how many
    /// entries were appended.
    pub fn append_replicated(&mut self, blocks: &[Vec<u8>], cursor: Option<u64>) -> Result<u64, LedgerError> {
        if self.poisoned {
            return Err(LedgerError::new(LedgerErrorKind::Poisoned));
        }
        // Between batches: nothing in flight, everything flushed. (The
        // services call `release_pages` after each batch, off the path to
        // the receipts; this is the bound for callers that do not.)
        self.store.relieve(false)?;
        self.poisoned = true;
        let mut pending = Pending::default();
        for bytes in blocks {
            let tip = pending.entries.last().map_or((self.head.seq, self.head.hash), |e| (e.body.seq, e.hash));
            let block = disk::Block::read(bytes).map_err(|e| LedgerError::corrupt(tip.0 + 1, e.reason))?;
            let mut raws = Vec::new();
            for raw in block.entries() {
                raws.push(raw.map_err(|e| LedgerError::corrupt(tip.0 + 1 + raws.len() as u64, e.reason))?);
            }
            let Some(first) = raws.first() else { return Err(LedgerError::corrupt(tip.0 + 1, "an empty block")) };
            let first_seq =
                codec::decode_stored_entry(first).map_err(|e| LedgerError::corrupt(tip.0 + 1, e.to_string()))?.body.seq;
            if first_seq + raws.len() as u64 - 1 <= tip.0 {
                continue;
            }
            if first_seq != tip.0 + 1 || block.prev_hash != tip.1 {
                return Err(LedgerError::corrupt(tip.0 + 1, "a block that does not follow the head"));
            }
            pending.block_starts.push(pending.entries.len());
            for raw in raws {
                let prev = pending.entries.last().map_or(self.head.hash, |e| e.hash);
                let seq = self.head.seq + pending.entries.len() as u64 + 1;
                let entry = check_entry(seq, &prev, raw)?;
                replay_entry(&mut self.timeline, &entry)?;
                let (source, id) = entry.body.submission.key();
                let key = (source.to_owned(), id.to_owned());
                // The first entry of a key is the one its lookups return.
                if !pending.ids.contains_key(&key) && self.seq_of(&key.0, &key.1)?.is_none() {
                    pending.ids.insert(key, seq);
                } else {
                    pending.conflicts.push((key, seq));
                }
                pending.entries.push(entry);
                pending.encoded.push(raw.to_vec());
            }
        }
        let appended = pending.entries.len() as u64;
        // A replica's blocks go nowhere further: it serves, it does not feed.
        self.commit(pending, cursor.map(|seq| StreamMark { seq, time_ns: 0 }))?;
        self.poisoned = false;
        Ok(appended)
    }

    /// Validates, records and durably commits a batch; returns one receipt
    /// per submission, in order. Nothing is returned before the batch is
    /// flushed to disk. A duplicate (same source, id and content) gets its
    /// original receipt and records nothing.
    pub fn submit_batch(&mut self, batch: Vec<Incoming>, now_ms: u64) -> Result<Vec<Receipt>, LedgerError> {
        let timed = batch.into_iter().map(|incoming| (incoming, now_ms)).collect();
        Ok(self.commit_batch(timed, None)?.receipts)
    }

    /// The last stream sequence committed with a batch (0: none): the
    /// intake for the ledger service, the feed for a replica.
    pub fn cursor(&self) -> Result<u64, LedgerError> {
        Ok(self.cursor_mark()?.seq)
    }

    /// The last stream position committed with a batch, with the time of
    /// its message when known.
    pub fn cursor_mark(&self) -> Result<StreamMark, LedgerError> {
        let Some(value) = self.store.tree()?.get(disk::CURSOR_KEY)? else { return Ok(StreamMark::default()) };
        let number = |bytes: &[u8]| u64::from_be_bytes(bytes.try_into().expect("eight bytes"));
        match value.len() {
            // Written before the time was kept.
            8 => Ok(StreamMark { seq: number(&value), time_ns: 0 }),
            16 => Ok(StreamMark { seq: number(&value[..8]), time_ns: number(&value[8..]) }),
            _ => Err(LedgerError::corrupt(self.head.seq, "the cursor is not a stream position")),
        }
    }

    /// The write path: [`Ledger::submit_batch`] with each submission's own
    /// time, and `cursor` — the position in the source stream the batch
    /// ends at — written in the same atomic commit. Returns what the
    /// commit did: receipts, the blocks written, the head.
    ///
    /// Entry `i` is recorded at the latest of its time and every time
    /// before it (never before the entry before). The ledger service
    /// passes each intake message's JetStream timestamp. Rationale: then
    /// the ledger is a function of its intake stream alone — a ledger that
    /// crashed and resumed any number of times, or committed in other
    /// batches, holds the very chain (head hash included) of one that read
    /// the same stream in one go. And the ledger, not the server's ack
    /// state, owns its position: after a crash it resumes exactly after
    /// the last committed message, in order, without waiting for
    /// redelivery.
    pub fn commit_batch(
        &mut self,
        batch: Vec<(Incoming, u64)>,
        cursor: Option<StreamMark>,
    ) -> Result<Committed, LedgerError> {
        if self.poisoned {
            return Err(LedgerError::new(LedgerErrorKind::Poisoned));
        }
        if batch.len() > limits::BATCH_EVENTS_MAX {
            return Err(LedgerError::new(LedgerErrorKind::BatchTooLarge { events: batch.len() }));
        }
        // Between batches: nothing in flight, everything flushed. (The
        // services call `release_pages` after each batch, off the path to
        // the receipts; this is the bound for callers that do not.)
        self.store.relieve(false)?;
        if self.head.seq + batch.len() as u64 > muster_domain::SEQ_MAX {
            return Err(LedgerError::new(LedgerErrorKind::Full { last_seq: self.head.seq }));
        }
        // The in-memory timeline moves with each accepted event; if the
        // commit below fails, memory is ahead of disk and the ledger must
        // be reopened.
        let span = tracing::info_span!("ledger_batch", events = batch.len(), first_seq = self.head.seq + 1);
        let _entered = span.enter();
        let started = std::time::Instant::now();
        self.poisoned = true;
        let mut recorded_at_ms = self.head.recorded_at_ms;
        let mut pending = Pending::default();
        let mut receipts = Vec::with_capacity(batch.len());
        for (incoming, at_ms) in batch {
            recorded_at_ms = recorded_at_ms.max(at_ms);
            receipts.push(self.record_one(incoming, recorded_at_ms, &mut pending)?);
        }
        let decided = started.elapsed();
        let blocks = self.commit(pending, cursor)?;
        self.poisoned = false;
        let accepted = receipts.iter().filter(|r| !r.duplicate && r.status == ReceiptStatus::Accepted).count();
        let duplicates = receipts.iter().filter(|r| r.duplicate).count();
        tracing::info!(
            accepted,
            rejected = receipts.len() - accepted - duplicates,
            duplicates,
            head_seq = self.head.seq,
            decide_us = decided.as_micros() as u64,
            commit_us = (started.elapsed() - decided).as_micros() as u64,
            "batch committed"
        );
        Ok(Committed { receipts, blocks, head: self.head })
    }

    fn record_one(
        &mut self,
        incoming: Incoming,
        recorded_at_ms: u64,
        pending: &mut Pending,
    ) -> Result<Receipt, LedgerError> {
        let (submission, decode_error) = match submission_of(incoming) {
            Ok(recordable) => recordable,
            // Without a usable (source, id) nothing can be looked up
            // later; the caller dead-letters it with this reason.
            Err(error) => return Ok(unrecorded_receipt(&error)),
        };
        let (source, id) = submission.key();
        let key = (source.to_owned(), id.to_owned());
        let seq = self.head.seq + pending.entries.len() as u64 + 1;
        let outcome = match self.lookup(&key, pending)? {
            Some(original) if original.body.submission == submission => return Ok(receipt_of(&original, true)),
            Some(original) => {
                let message =
                    format!("event {}/{} was recorded as seq {} with other content", key.0, key.1, original.body.seq);
                let first = EntryRef { seq: original.body.seq, source: key.0.clone(), id: key.1.clone() };
                pending.conflicts.push((key, seq));
                rejected_naming(ReasonCode::DuplicateIdDifferentContent, message, vec![first])
            }
            None => {
                pending.ids.insert(key, seq);
                match (&submission, decode_error) {
                    (_, Some(error)) => rejected(error.code, error.message),
                    (Submission::Event(envelope), None) => self.decide_and_apply(seq, envelope, pending)?,
                    (Submission::Undecodable(_), None) => unreachable!("undecodable submissions carry their error"),
                }
            }
        };
        let (entry, encoded) = self.seal(seq, recorded_at_ms, submission, outcome, pending);
        let receipt = receipt_of(&entry, false);
        pending.entries.push(entry);
        pending.encoded.push(encoded);
        Ok(receipt)
    }

    fn lookup(&self, key: &(String, String), pending: &Pending) -> Result<Option<StoredEntry>, LedgerError> {
        if let Some(seq) = pending.ids.get(key) {
            return Ok(Some(pending.entries[(*seq - self.head.seq - 1) as usize].clone()));
        }
        match self.seq_of(&key.0, &key.1)? {
            Some(seq) => self.entry(seq),
            None => Ok(None),
        }
    }

    fn decide_and_apply(
        &mut self,
        seq: Seq,
        envelope: &muster_proto::wire::Envelope,
        pending: &Pending,
    ) -> Result<Outcome, LedgerError> {
        let (date, event) = match validate(envelope) {
            Err(error) => return Ok(rejected(error.code, error.message)),
            Ok(Validated::Event { date, event }) => (date, event),
            Ok(Validated::Retraction { date, target_source, target_id, reason }) => {
                let key = (target_source, target_id);
                let target = match pending.ids.get(&key) {
                    Some(seq) => Some(*seq),
                    None => self.seq_of(&key.0, &key.1)?,
                };
                match target {
                    // A retraction naming itself is unknown: it is not recorded yet.
                    Some(target) if target != seq => (date, Event::EventRetracted { target, reason }),
                    _ => {
                        return Ok(rejected(
                            ReasonCode::RetractionTargetUnknown,
                            format!("no event {}/{} was ever recorded", key.0, key.1),
                        ))
                    }
                }
            }
        };
        match self.timeline.decide(seq, date, &event) {
            Ok(decision) => {
                self.timeline.apply(decision);
                let retracts = match event {
                    Event::EventRetracted { target, .. } => Some(target),
                    _ => None,
                };
                Ok(Outcome::Accepted { retracts })
            }
            Err(rejection) => self.rejected_with_conflicts(rejection, pending),
        }
    }

    fn rejected_with_conflicts(&self, rejection: Rejection, pending: &Pending) -> Result<Outcome, LedgerError> {
        let mut conflicts_with = Vec::new();
        for seq in &rejection.conflicting_seqs {
            let entry = match seq.checked_sub(self.head.seq + 1) {
                Some(i) => Some(pending.entries[i as usize].clone()),
                None => self.entry(*seq)?,
            };
            let entry = entry.ok_or_else(|| LedgerError::corrupt(*seq, "a conflicting entry is missing"))?;
            let (source, id) = entry.body.submission.key();
            conflicts_with.push(EntryRef { seq: *seq, source: source.to_owned(), id: id.to_owned() });
        }
        let names: Vec<String> = conflicts_with.iter().map(|c| format!("{}/{}", c.source, c.id)).collect();
        let message = if names.is_empty() {
            rejection.message
        } else {
            format!("{} [conflicts with {}]", rejection.message, names.join(", "))
        };
        let message = muster_proto::bounded(&message, limits::MESSAGE_BYTES_MAX);
        Ok(Outcome::Rejected { code: rejection.code.as_str().to_owned(), message, conflicts_with })
    }

    /// The entry and its codec bytes, hashed onto the chain's tip.
    fn seal(
        &self,
        seq: Seq,
        recorded_at_ms: u64,
        submission: Submission,
        outcome: Outcome,
        pending: &Pending,
    ) -> (StoredEntry, Vec<u8>) {
        let prev_hash = pending.entries.last().map_or(self.head.hash, |e| e.hash);
        let body = EntryBody { seq, recorded_at_ms, submission, outcome };
        let mut bytes = codec::encode_entry_body(&body);
        let hash = chain_hash(&prev_hash, &bytes);
        // The stored form is the body's bytes then the hash
        // (`codec::split_stored_entry`), so no second encoding.
        bytes.extend_from_slice(&hash);
        (StoredEntry { body, hash }, bytes)
    }

    /// Frames the pending entries into blocks and writes them, the head and
    /// the cursor in one atomic batch; flushes; then moves the head and the
    /// id index on. Returns the blocks written.
    fn commit(&mut self, pending: Pending, cursor: Option<StreamMark>) -> Result<Vec<FeedBlock>, LedgerError> {
        if pending.entries.is_empty() && cursor.is_none() {
            return Ok(Vec::new());
        }
        let mut batch = sled::Batch::default();
        if let Some(StreamMark { seq, time_ns }) = cursor {
            batch.insert(disk::CURSOR_KEY, [seq.to_be_bytes(), time_ns.to_be_bytes()].concat());
        }
        let Some(last) = pending.entries.last() else {
            // Only duplicates: nothing new, but the cursor moves on.
            self.store.apply_and_flush(batch, 0)?;
            return Ok(Vec::new());
        };
        let mut prev = (self.head.seq, self.head.hash);
        let mut block = (prev.0 + 1, disk::BlockWriter::new(&prev.1));
        let mut written = Vec::new();
        for (i, (entry, bytes)) in pending.entries.iter().zip(&pending.encoded).enumerate() {
            // Pair assertion, write side: the chain is whole before it
            // reaches the disk; `check_entry` repeats this on every read.
            assert_eq!(entry.body.seq, prev.0 + 1, "entries out of sequence");
            assert_eq!(
                codec::split_stored_entry(bytes).map(|(body, hash)| (chain_hash(&prev.1, body), hash)),
                Some((entry.hash, entry.hash)),
                "entry {} not hashed onto its predecessor",
                entry.body.seq
            );
            assert!(bytes.len() <= codec::ENTRY_BYTES_MAX, "entry {} over the size limit", entry.body.seq);
            let starts = pending.block_starts.contains(&i) && !block.1.is_empty();
            if starts || !block.1.has_room(bytes.len()) {
                let full = std::mem::replace(&mut block, (entry.body.seq, disk::BlockWriter::new(&prev.1)));
                let bytes = full.1.finish();
                batch.insert(&disk::block_key(full.0), bytes.clone());
                written.push(FeedBlock { first_seq: full.0, last_seq: prev.0, bytes });
            }
            block.1.push(bytes);
            prev = (entry.body.seq, entry.hash);
        }
        let bytes = block.1.finish();
        batch.insert(&disk::block_key(block.0), bytes.clone());
        written.push(FeedBlock { first_seq: block.0, last_seq: prev.0, bytes });
        batch.insert(disk::HEAD_KEY, disk::encode_head(last.body.seq, &last.hash, last.body.recorded_at_ms).to_vec());
        // Durable before acknowledged: sled writes are only on disk after
        // a flush.
        self.store.apply_and_flush(batch, written.iter().map(|block| block.bytes.len()).sum())?;
        self.head = Head { seq: last.body.seq, hash: last.hash, recorded_at_ms: last.body.recorded_at_ms };
        for ((source, id), seq) in &pending.ids {
            self.ids.insert_new(source, id, *seq);
        }
        for (key, seq) in pending.conflicts {
            self.conflicts.entry(key).or_default().push(seq);
        }
        Ok(written)
    }
}

/// What the ledger records for `incoming`, with the decode error it is
/// rejected for, if any; or, for a submission with no usable (source, id),
/// the error alone: nothing can be recorded (a dead letter).
fn submission_of(incoming: Incoming) -> Result<(Submission, Option<DecodeError>), DecodeError> {
    match incoming {
        Incoming::Decoded(envelope) if key_is_recordable(&envelope.source, &envelope.id) => {
            Ok((Submission::Event(envelope), None))
        }
        Incoming::Decoded(envelope) => Err(validate(&envelope).err().unwrap_or_else(|| DecodeError {
            code: ReasonCode::InvalidField,
            message: "id or source is not usable as a key".into(),
            id: Some(envelope.id.clone()),
            source: Some(envelope.source.clone()),
        })),
        Incoming::Undecodable { error, content_type, payload } => match error.id.clone().zip(error.source.clone()) {
            Some((id, source)) if key_is_recordable(&source, &id) => {
                Ok((Submission::Undecodable(Undecodable { id, source, content_type, payload }), Some(error)))
            }
            _ => Err(error),
        },
    }
}

/// Whether (source, id) can key the id index: what `validate` demands of
/// ids, so that the index never holds a key that could not be looked up.
fn key_is_recordable(source: &str, id: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty() && s.len() <= limits::ID_BYTES_MAX && !s.chars().any(|c| c.is_control() || c.is_whitespace())
    };
    ok(source) && ok(id)
}

fn unrecorded_receipt(error: &DecodeError) -> Receipt {
    Receipt {
        source: error.source.clone().unwrap_or_default(),
        id: error.id.clone().unwrap_or_default(),
        seq: None,
        duplicate: false,
        status: ReceiptStatus::Rejected,
        hash: None,
        code: Some(error.code.as_str().to_owned()),
        message: Some(error.message.clone()),
        conflicts_with: Vec::new(),
    }
}
