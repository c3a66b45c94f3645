//! The ledger's blocks on disk: a changed byte or a lost block in the sled
//! store is found on open, naming the first bad sequence, and a replica
//! fed the stored blocks holds the same chain.

use muster_ledger::{Incoming, Ledger, LedgerConfig, LedgerErrorKind};
use muster_proto::disk;
use muster_tests::crash::event;

/// A ledger of three batches (entries 1–100, 101–200, 201–300).
fn three_batches(dir: &std::path::Path) {
    let mut ledger = Ledger::open(&LedgerConfig::new(dir)).unwrap();
    for batch in 0..3u64 {
        let events = (batch * 100 + 1..=batch * 100 + 100).map(|i| Incoming::Decoded(event(i))).collect();
        ledger.submit_batch(events, 1_700_000_000_000 + batch).unwrap();
    }
    assert_eq!(ledger.head().seq, 300);
}

/// Opens the sled tree directly, as someone with the files could.
fn with_raw_tree(dir: &std::path::Path, change: impl FnOnce(&sled::Tree)) {
    // sled lets go of the directory lock a moment after the ledger is
    // dropped (as `LedgerConfig::lock_wait` says): wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let db = loop {
        match sled::Config::new().path(dir).open() {
            Err(e) if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            other => break other.unwrap(),
        }
    };
    change(&db.open_tree("ledger").unwrap());
    db.flush().unwrap();
}

fn broken_at(dir: &std::path::Path) -> (u64, String) {
    match Ledger::open(&LedgerConfig::new(dir)).err().expect("the ledger must refuse to open").kind() {
        LedgerErrorKind::Corrupt { seq, reason } => (*seq, reason.clone()),
        other => panic!("not a broken chain: {other:?}"),
    }
}

#[test]
fn one_block_per_batch_and_a_flipped_byte_names_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    three_batches(dir.path());
    with_raw_tree(dir.path(), |tree| {
        let keys: Vec<Option<u64>> =
            tree.scan_prefix([disk::BLOCK_PREFIX]).keys().map(|k| disk::first_seq_of_block_key(&k.unwrap())).collect();
        assert_eq!(keys, [Some(1), Some(101), Some(201)]);
        // Change one byte inside entry 150 (the 50th of the second block).
        let mut bytes = tree.get(disk::block_key(101)).unwrap().unwrap().to_vec();
        let block = disk::Block::read(&bytes).unwrap();
        let entry = block.entries().nth(49).unwrap().unwrap();
        let offset = entry.as_ptr() as usize - bytes.as_ptr() as usize + entry.len() / 2;
        bytes[offset] ^= 0x01;
        tree.insert(disk::block_key(101), bytes).unwrap();
    });
    let (seq, reason) = broken_at(dir.path());
    assert_eq!(seq, 150, "{reason}");
}

#[test]
fn a_deleted_block_names_the_first_missing_entry() {
    let dir = tempfile::tempdir().unwrap();
    three_batches(dir.path());
    with_raw_tree(dir.path(), |tree| {
        tree.remove(disk::block_key(101)).unwrap();
    });
    assert_eq!(broken_at(dir.path()).0, 101);
    // And the last block gone: the stored head no longer matches.
    let dir = tempfile::tempdir().unwrap();
    three_batches(dir.path());
    with_raw_tree(dir.path(), |tree| {
        tree.remove(disk::block_key(201)).unwrap();
    });
    assert_eq!(broken_at(dir.path()).0, 201);
}

#[test]
fn a_replica_fed_the_stored_blocks_holds_the_same_chain_and_skips_repeats() {
    let (source, copy) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    three_batches(source.path());
    let ledger = Ledger::open(&LedgerConfig::new(source.path())).unwrap();
    let blocks: Vec<Vec<u8>> = ledger.blocks_from(1).unwrap().into_iter().map(|b| b.bytes).collect();
    let mut replica = Ledger::open(&LedgerConfig::new(copy.path())).unwrap();
    assert_eq!(replica.append_replicated(&blocks[..2], Some(2)).unwrap(), 200);
    // A redelivered block is skipped; the next one appends.
    assert_eq!(replica.append_replicated(&blocks[1..], Some(3)).unwrap(), 100);
    assert_eq!(replica.head(), ledger.head());
    assert_eq!(replica.cursor().unwrap(), 3);
    assert_eq!(replica.verify().unwrap(), ledger.verify().unwrap());
    assert_eq!(replica.receipt("hr/crash", "missing").unwrap(), None);
    assert_eq!(replica.receipt("hr/crash", "c150").unwrap().and_then(|r| r.seq), Some(150));
    // A block out of order is refused, naming where the chain stands.
    let mut other = Ledger::open(&LedgerConfig::new(tempfile::tempdir().unwrap().path())).unwrap();
    let error = other.append_replicated(&blocks[1..2], None).unwrap_err();
    assert!(matches!(error.kind(), LedgerErrorKind::Corrupt { seq: 1, .. }), "{error}");
}

#[test]
fn the_blocks_a_commit_hands_to_the_feed_are_the_ones_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    three_batches(dir.path());
    let mut ledger = Ledger::open(&LedgerConfig::new(dir.path())).unwrap();
    let events = (301..=400).map(|i| (Incoming::Decoded(event(i)), 1_800_000_000_000)).collect();
    let committed = ledger.commit_batch(events, None).unwrap();
    let (written, stored) = (committed.blocks, ledger.blocks_from(301).unwrap());
    assert_eq!(written.len(), 1);
    assert_eq!((written[0].first_seq, written[0].last_seq), (301, 400));
    assert_eq!(written[0].bytes, stored[0].bytes);
    assert_eq!((committed.head, committed.receipts.len()), (ledger.head(), 100));
    // Only duplicates: nothing written, nothing handed on.
    let again = ledger.commit_batch(vec![(Incoming::Decoded(event(350)), 1_800_000_000_001)], None).unwrap();
    assert!(again.blocks.is_empty());
    assert_eq!(again.head, committed.head);
}

/// sled 0.34 keeps every page it touched in memory, so the ledger reopens
/// its handle once it has read or written `sled_reopen_bytes`. Reopening
/// after every block (a budget of one byte) must change nothing a user
/// can see: the same chain, the same lookups, the same tamper findings.
#[test]
fn a_ledger_that_reopens_sled_after_every_block_keeps_the_same_chain() {
    let (plain, reopening) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let every_block = |dir: &std::path::Path| LedgerConfig { sled_reopen_bytes: 1, ..LedgerConfig::new(dir) };
    three_batches(plain.path());
    {
        let mut ledger = Ledger::open(&every_block(reopening.path())).unwrap();
        for batch in 0..3u64 {
            let events = (batch * 100 + 1..=batch * 100 + 100).map(|i| Incoming::Decoded(event(i))).collect();
            ledger.submit_batch(events, 1_700_000_000_000 + batch).unwrap();
        }
        // A batch of repeats: each is looked up in the stored blocks.
        let repeats = (95..=105).map(|i| Incoming::Decoded(event(i))).collect();
        let receipts = ledger.submit_batch(repeats, 1_700_000_000_009).unwrap();
        assert!(receipts.iter().all(|r| r.duplicate), "every repeat answered with its first receipt");
        assert_eq!(receipts[0].seq, Some(95));
        assert_eq!(ledger.head().seq, 300, "repeats add no entry");
    }
    let plain_head = Ledger::open(&LedgerConfig::new(plain.path())).unwrap().head();
    let reopened = Ledger::open(&every_block(reopening.path())).unwrap();
    assert_eq!(reopened.head().hash, plain_head.hash, "the same chain");
    assert_eq!(reopened.verify().unwrap().entries, 300);
    let receipt = reopened.receipt(&event(150).source, &event(150).id).unwrap().expect("recorded");
    assert_eq!(receipt.seq, Some(150));
    drop(reopened);
    with_raw_tree(reopening.path(), |tree| {
        tree.remove(disk::block_key(101)).unwrap();
    });
    match Ledger::open(&every_block(reopening.path())).err().expect("a block is missing").kind() {
        LedgerErrorKind::Corrupt { seq, .. } => assert_eq!(*seq, 101),
        other => panic!("not a broken chain: {other:?}"),
    }
}

#[test]
fn blocks_from_inside_a_stored_block_continue_a_copy_that_ends_there() {
    // After a failover the feed ends wherever the last writer's commits
    // ended: inside one of this ledger's own blocks (1-100, 101-200, ...).
    let (whole_dir, copy_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    three_batches(whole_dir.path());
    let whole = Ledger::open(&LedgerConfig::new(whole_dir.path())).unwrap();
    let rest = whole.blocks_from(151).unwrap();
    let spans: Vec<(u64, u64)> = rest.iter().map(|b| (b.first_seq, b.last_seq)).collect();
    assert_eq!(spans, [(151, 200), (201, 300)], "the rest of block 101-200 framed anew, then the next");
    assert_eq!(rest[1].bytes, whole.blocks_from(201).unwrap()[0].bytes, "stored blocks after it, as stored");

    // A ledger holding entries 1-150 — the very entries, cut into other
    // commits — takes the rest and holds the one chain.
    let mut copy = Ledger::open(&LedgerConfig::new(copy_dir.path())).unwrap();
    let events = |range: std::ops::RangeInclusive<u64>| range.map(|i| Incoming::Decoded(event(i))).collect();
    copy.submit_batch(events(1..=100), 1_700_000_000_000).unwrap();
    copy.submit_batch(events(101..=150), 1_700_000_000_001).unwrap();
    assert_eq!(copy.entry(150).unwrap().map(|e| e.hash), whole.entry(150).unwrap().map(|e| e.hash));
    let bytes: Vec<Vec<u8>> = rest.into_iter().map(|b| b.bytes).collect();
    assert_eq!(copy.append_replicated(&bytes, None).unwrap(), 150);
    assert_eq!(copy.head(), whole.head(), "one chain");
    assert_eq!(copy.verify().unwrap().entries, 300);
}

#[test]
fn an_unfinished_sled_snapshot_left_by_a_crash_does_not_lock_the_ledger_out() {
    // What a SIGKILL while sled wrote a snapshot left in the crash loop:
    // an empty `snap.*.generating` past the last snapshot, which sled
    // 0.34.7 reads and refuses as corruption (spacejam/sled#1527).
    let dir = tempfile::tempdir().unwrap();
    three_batches(dir.path());
    let head = Ledger::open(&LedgerConfig::new(dir.path())).unwrap().head();
    std::fs::write(dir.path().join("snap.00000000FFFFFFFF.generating"), b"").unwrap();
    let reopened = muster_tests::open_ledger(dir.path());
    assert_eq!(reopened.head(), head, "the same chain");
    assert_eq!(reopened.verify().unwrap().entries, 300);
    assert!(!dir.path().join("snap.00000000FFFFFFFF.generating").exists(), "the unfinished snapshot is gone");
}
