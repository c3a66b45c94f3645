//! A replica's write path: blocks copied from another ledger (the feed),
//! checked entry by entry and replayed ([`Ledger::append_replicated`]).

use crate::store::check_entry;
use crate::{replay_entry, Ledger, LedgerError, LedgerErrorKind, Pending, StreamMark};
use muster_proto::{codec, disk};

impl Ledger {
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
}
