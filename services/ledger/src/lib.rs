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
pub mod merkle;
mod proofs;
mod record;
mod replicate;
mod store;
pub mod witness;

pub use proofs::{entry_leaf, InclusionProof};

pub use error::{LedgerError, LedgerErrorKind};
pub use muster_proto::hex::{hex, unhex};
/// What the ledger takes in: decoded by the contract (`muster_proto::intake`).
pub use muster_proto::intake::Incoming;

use muster_domain::{Event, Seq, Timeline};
use muster_proto::entry::{Outcome, Receipt, ReceiptStatus, StoredEntry, Submission};
use muster_proto::validate::{validate, Validated};
use muster_proto::{codec, disk};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use store::{IdIndex, Store};

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
    /// The Merkle tree's right edge at the head (`proofs`).
    frontier: merkle::Frontier,
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
    /// The Merkle root at the head (the tree's size is the head's seq).
    pub tree_root: [u8; 32],
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
            frontier: merkle::Frontier::default(),
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
        let mut tree = proofs::Rebuild::new();
        while self.replay_some(&mut walk, &mut tree)? {
            self.store.relieve(false)?;
        }
        self.check_stored_head(walk.head)?;
        self.store_missing_subtrees(tree.missing)?;
        // Start serving with no pages held: the walk's last ones would
        // otherwise be let go of in the middle of some later commit.
        self.store.relieve(true)?;
        self.head = walk.head;
        self.frontier = tree.frontier;
        Ok(())
    }

    /// A ledger written before the Merkle tree was kept, or before its
    /// one-item-per-commit layout, gets its stored subtrees on its first
    /// open (derived data, each checked against the entries it was hashed
    /// from in the walk); the first layout's items are then removed.
    fn store_missing_subtrees(&self, missing: Vec<(merkle::Node, merkle::Hash)>) -> Result<(), LedgerError> {
        if !missing.is_empty() {
            tracing::info!(subtrees = missing.len(), "storing the Merkle subtrees of entries written before");
        }
        let items = merkle_items(missing.iter().map(|(n, hash)| (n.level, n.index, *hash)));
        let per_write =
            muster_proto::limits::MERKLE_SUBTREES_PER_WRITE_MAX / muster_proto::limits::MERKLE_SUBTREES_PER_ITEM_MAX;
        for chunk in items.chunks(per_write) {
            let mut batch = sled::Batch::default();
            for subtrees in chunk {
                let (key, item) = disk::merkle_item(subtrees);
                batch.insert(&key, item);
            }
            self.store.apply_and_flush(batch, chunk.iter().map(Vec::len).sum::<usize>() * disk::MERKLE_RECORD_BYTES)?;
        }
        let first_layout: Vec<sled::IVec> =
            self.store.tree()?.scan_prefix([disk::MERKLE_PREFIX_FIRST]).keys().collect::<Result<_, _>>()?;
        for chunk in first_layout.chunks(muster_proto::limits::MERKLE_SUBTREES_PER_WRITE_MAX) {
            let mut batch = sled::Batch::default();
            chunk.iter().for_each(|key| batch.remove(key));
            self.store.apply_and_flush(batch, 0)?;
        }
        Ok(())
    }

    fn replay_some(&mut self, walk: &mut store::Walk, tree: &mut proofs::Rebuild) -> Result<bool, LedgerError> {
        let (store, timeline, ids, conflicts) = (&self.store, &mut self.timeline, &mut self.ids, &mut self.conflicts);
        store.walk_some(walk, |entry, _| {
            let seq = entry.body.seq;
            tree.entry(store, seq, &entry.hash)?;
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
        let Ok((submission, _)) = record::submission_of(incoming) else { return Ok(None) };
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
}

/// Stored subtrees, in completion order, grouped into items of about
/// `MERKLE_SUBTREES_PER_ITEM_MAX`. **Invariant:** the subtrees one entry
/// completes are never split between items: a lookup reads the first item
/// keyed at or after that entry, and must find them all there.
fn merkle_items(subtrees: impl Iterator<Item = disk::Subtree>) -> Vec<Vec<disk::Subtree>> {
    let mut items: Vec<Vec<disk::Subtree>> = Vec::new();
    for subtree in subtrees {
        let completed = |s: &disk::Subtree| disk::completed_by(s.0, s.1);
        match items.last_mut() {
            Some(item)
                if item.len() < muster_proto::limits::MERKLE_SUBTREES_PER_ITEM_MAX
                    || item.last().map(completed) == Some(completed(&subtree)) =>
            {
                item.push(subtree)
            }
            _ => items.push(vec![subtree]),
        }
    }
    items
}
