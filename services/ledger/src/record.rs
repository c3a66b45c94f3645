//! The write path: a batch of submissions decided in order against the
//! timeline, sealed onto the chain, framed into blocks and committed with
//! one flush ([`Ledger::commit_batch`]).

use crate::store::chain_hash;
use crate::{
    receipt_of, Committed, FeedBlock, Head, Incoming, Ledger, LedgerError, LedgerErrorKind, Pending, StreamMark,
};
use muster_domain::{Event, ReasonCode, Rejection, Seq};
use muster_proto::entry::{EntryBody, EntryRef, Outcome, Receipt, ReceiptStatus, StoredEntry, Submission, Undecodable};
use muster_proto::validate::{validate, Validated};
use muster_proto::{codec, disk, limits, DecodeError};

impl Ledger {
    /// Validates, records and durably commits a batch; returns one receipt
    /// per submission, in order. Nothing is returned before the batch is
    /// flushed to disk. A duplicate (same source, id and content) gets its
    /// original receipt and records nothing.
    pub fn submit_batch(&mut self, batch: Vec<Incoming>, now_ms: u64) -> Result<Vec<Receipt>, LedgerError> {
        let timed = batch.into_iter().map(|incoming| (incoming, now_ms)).collect();
        Ok(self.commit_batch(timed, None)?.receipts)
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
        Ok(Committed { receipts, blocks, head: self.head, tree_root: self.frontier.root() })
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
    pub(crate) fn commit(
        &mut self,
        pending: Pending,
        cursor: Option<StreamMark>,
    ) -> Result<Vec<FeedBlock>, LedgerError> {
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
        let (mut written, mut subtrees) = (Vec::new(), Vec::new());
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
            self.frontier.push_with(crate::proofs::entry_leaf(&entry.hash), |node, hash| {
                if node.level >= disk::MERKLE_LEVEL_STORED_MIN {
                    subtrees.push((node.level, node.index, *hash));
                }
            });
        }
        // The commit's subtrees in one item: one leaf of sled rewritten,
        // not one per level (disk.rs).
        if !subtrees.is_empty() {
            let (key, item) = disk::merkle_item(&subtrees);
            batch.insert(&key, item);
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

/// What the ledger records for `incoming`, with the decode error it is
/// rejected for, if any; or, for a submission with no usable (source, id),
/// the error alone: nothing can be recorded (a dead letter).
pub(crate) fn submission_of(incoming: Incoming) -> Result<(Submission, Option<DecodeError>), DecodeError> {
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
