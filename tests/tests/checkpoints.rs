//! Signed checkpoints: the ledger signs its chain head (and, as C2SP
//! checkpoints, the Merkle root of its entries) with its ed25519 key; an
//! auditor holding only the public key checks an export against one,
//! offline — and what an export alone cannot show (entries cut off its end,
//! a chain rewritten from the start, a forged or foreign checkpoint) fails.
//! Checkpoints of the first format (JSON, the head alone) still verify.

use muster_ledger::checkpoint::{verify_checkpoint, CheckpointError, SignedCheckpoint, Signer};
use muster_ledger::export::verify_export_against;
use muster_ledger::export::{write_export, ExportError};
use muster_ledger::{unhex, Incoming, Ledger, LedgerConfig};
use muster_proto::checkpoint::{self, Checkpoint};
use muster_proto::note::Note;
use muster_publisher::{Publisher, PublisherConfig};
use muster_tests::stack::Stack;
use std::path::Path;
use std::time::Duration;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/examples/events.jsonl");

fn example_lines(n: usize) -> Vec<String> {
    std::fs::read_to_string(EXAMPLE).unwrap().lines().take(n).map(str::to_owned).collect()
}

/// A ledger of the first `n` example events, committed 10 at a time.
fn ledger_of(dir: &Path, n: usize, clock: u64) -> Ledger {
    let mut ledger = Ledger::open(&LedgerConfig::new(dir)).unwrap();
    for (i, batch) in example_lines(n).chunks(10).enumerate() {
        ledger.submit_batch(batch.iter().map(|l| Incoming::json(l.as_bytes())).collect(), clock + i as u64).unwrap();
    }
    ledger
}

fn export_of(ledger: &Ledger) -> Vec<u8> {
    let mut file = Vec::new();
    write_export(ledger, &mut file).unwrap();
    file
}

fn key_file(dir: &Path, name: &str) -> (Signer, [u8; 32]) {
    let (signer, secret) = Signer::generate().unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    let signer_again = Signer::from_file(&path).unwrap();
    assert_eq!(signer_again.public_key(), signer.public_key(), "the key file holds the key");
    let public = unhex::<32>(&signer.public_key()).unwrap();
    (signer_again, public)
}

/// `hex` with one bit of its digit at `at` flipped: always a change
/// (writing a fixed digit there is none when it was that digit already).
fn flip_a_bit(hex: &str, at: usize) -> String {
    let digit = hex.as_bytes()[at] as char;
    let flipped = char::from_digit(digit.to_digit(16).unwrap() ^ 1, 16).unwrap();
    format!("{}{flipped}{}", &hex[..at], &hex[at + 1..])
}

fn against(file: &[u8], checkpoint: &Checkpoint, key: &[u8; 32]) -> Result<u64, ExportError> {
    against_any(file, &SignedCheckpoint::Json(checkpoint.clone()), key)
}

fn against_any(file: &[u8], checkpoint: &SignedCheckpoint, key: &[u8; 32]) -> Result<u64, ExportError> {
    verify_export_against(&mut std::io::Cursor::new(file), checkpoint, key).map(|r| r.entries)
}

#[test]
fn an_export_checks_against_the_ledgers_signed_head_and_only_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_of(&dir.path().join("ledger"), 63, 1_700_000_000_000);
    let (signer, key) = key_file(dir.path(), "ledger.key");
    let (_, other_key) = key_file(dir.path(), "other.key");
    let signed = signer.sign(ledger.head());
    assert_eq!(checkpoint::decode(&checkpoint::encode(&signed)).unwrap(), signed, "JSON round trip");
    assert_eq!(verify_checkpoint(&signed, &key).unwrap(), ledger.head());
    let file = export_of(&ledger);
    assert_eq!(against(&file, &signed, &key).unwrap(), 63);

    // An older checkpoint still vouches for the export's first entries.
    let dir2 = tempfile::tempdir().unwrap();
    let earlier = signer.sign(ledger_of(dir2.path(), 40, 1_700_000_000_000).head());
    assert_eq!(against(&file, &earlier, &key).unwrap(), 63);

    // Another key: whoever signed it, it is not the ledger.
    assert!(matches!(verify_checkpoint(&signed, &other_key), Err(CheckpointError::Untrusted { .. })));
    assert!(matches!(against(&file, &signed, &other_key), Err(ExportError::Checkpoint(_))));
}

#[test]
fn an_altered_or_forged_checkpoint_fails_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_of(&dir.path().join("ledger"), 63, 1_700_000_000_000);
    let (signer, key) = key_file(dir.path(), "ledger.key");
    let signed = signer.sign(ledger.head());
    let altered = [
        Checkpoint { seq: 62, ..signed.clone() },
        Checkpoint { recorded_at_ms: signed.recorded_at_ms + 1, ..signed.clone() },
        Checkpoint { head_hash: flip_a_bit(&signed.head_hash, 0), ..signed.clone() },
        Checkpoint { signature: flip_a_bit(&signed.signature, 127), ..signed.clone() },
    ];
    for checkpoint in &altered {
        assert!(matches!(verify_checkpoint(checkpoint, &key), Err(CheckpointError::BadSignature)), "{checkpoint:?}");
    }
    // A forger with their own key who names the ledger's key.
    let (forger, _) = key_file(dir.path(), "forger.key");
    let forged = Checkpoint { public_key: signed.public_key.clone(), ..forger.sign(ledger.head()) };
    assert!(matches!(verify_checkpoint(&forged, &key), Err(CheckpointError::BadSignature)));
    let garbled = Checkpoint { signature: "zz".into(), ..signed };
    assert!(matches!(verify_checkpoint(&garbled, &key), Err(CheckpointError::Malformed(_))));
}

#[test]
fn entries_cut_off_the_end_or_a_rewritten_chain_fail_against_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_of(&dir.path().join("ledger"), 63, 1_700_000_000_000);
    let (signer, key) = key_file(dir.path(), "ledger.key");
    let signed = signer.sign(ledger.head());
    let file = export_of(&ledger);

    // The last 23 entries cut off: a whole chain on its own, short of the checkpoint.
    let cut: Vec<u8> = file.split_inclusive(|b| *b == b'\n').take(41).flatten().copied().collect();
    assert_eq!(muster_ledger::export::verify_export(&mut std::io::Cursor::new(&cut)).unwrap().entries, 40);
    match against(&cut, &signed, &key) {
        Err(ExportError::Broken { seq: 41, reason }) => assert!(reason.contains("cut off"), "{reason}"),
        other => panic!("{other:?}"),
    }

    // The same events recorded again at other times: a whole chain of 63
    // entries, but not the one the ledger signed.
    let rewritten_dir = tempfile::tempdir().unwrap();
    let rewritten = export_of(&ledger_of(rewritten_dir.path(), 63, 1_800_000_000_000));
    assert_eq!(muster_ledger::export::verify_export(&mut std::io::Cursor::new(&rewritten)).unwrap().entries, 63);
    match against(&rewritten, &signed, &key) {
        Err(ExportError::Broken { seq: 63, reason }) => assert!(reason.contains("rewritten"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_service_publishes_checkpoints_an_export_checks_against() {
    let stack = Stack::new();
    let (signer, key) = key_file(stack.dir.path(), "ledger.key");
    let mut args = stack.ledger_args();
    args.signing_key = Some(stack.dir.path().join("ledger.key"));
    args.checkpoint_every = 10;
    let ledger = stack.start_ledger_with(args);
    stack.wait_for_streams().await;
    let client = stack.client().await;
    let events = muster_tests::outgoing_from_jsonl(Path::new(EXAMPLE), None).unwrap();
    // Ten events a message, so the ledger commits several times.
    let config = PublisherConfig { batch: 10, window: 10, receipt_wait: Duration::from_secs(5), ..Default::default() };
    Publisher::new(client.clone(), stack.topology(), config).publish_all(events, |_| {}).await.unwrap();
    ledger.stop().await;

    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(stack.topology().checkpoints_stream()).await.unwrap();
    let count = stream.info().await.unwrap().state.messages;
    assert!(count >= 2, "a checkpoint every 10 entries or so, and one at stop: {count}");
    let mut checkpoints = Vec::new();
    for seq in 1..=count {
        let message = stream.direct_get(seq).await.unwrap();
        let signer_named = message.headers.get(muster_bus::CHECKPOINT_SIGNER_HEADER).unwrap().as_str().to_owned();
        assert_eq!(signer_named, signer.note_vkey("muster/muster"), "the publisher names the key it signed with");
        let Ok(SignedCheckpoint::Note(note)) = SignedCheckpoint::parse(&message.payload) else {
            panic!("a C2SP signed note: {:?}", String::from_utf8_lossy(&message.payload));
        };
        checkpoints.push(note);
    }
    let heads: Vec<_> =
        checkpoints.iter().map(|n| muster_ledger::checkpoint::verify_tree_head(n, &key).unwrap()).collect();
    assert_eq!(heads.last().unwrap().head.seq, 63, "the last one, at stop, is the head");
    assert!(heads.windows(2).all(|w| w[0].head.seq < w[1].head.seq), "in order, each newer");
    assert!(heads.iter().all(|h| h.origin == "muster/muster"), "the origin names the organisation's prefix");
    // The auditor: the ledger's export, each checkpoint, the public key.
    let ledger = muster_tests::open_ledger(&stack.ledger_dir());
    assert_eq!(ledger.tree_head(), (63, heads.last().unwrap().root), "the root at stop is the ledger's");
    let file = export_of(&ledger);
    for note in checkpoints {
        let seq = note.text.lines().nth(1).unwrap().to_owned();
        assert_eq!(against_any(&file, &SignedCheckpoint::Note(note), &key).unwrap(), 63, "checkpoint of entry {seq}");
    }
    // Nobody takes a checkpoint back.
    assert!(stream.delete_message(1).await.is_err(), "the checkpoints stream refuses deletes");
}

#[test]
fn a_c2sp_checkpoint_also_checks_the_merkle_root_of_the_exported_entries() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_of(&dir.path().join("ledger"), 63, 1_700_000_000_000);
    let (signer, key) = key_file(dir.path(), "ledger.key");
    let (size, root) = ledger.tree_head();
    assert_eq!(size, ledger.head().seq);
    let file = export_of(&ledger);
    let signed = signer.sign_tree_head("muster/muster", ledger.head(), &root);
    let read = SignedCheckpoint::parse(signed.encode().as_bytes()).unwrap();
    assert_eq!(read, SignedCheckpoint::Note(signed.clone()));
    assert_eq!(against_any(&file, &read, &key).unwrap(), 63);

    // The ledger's key over the right head but another root: the export's
    // entries do not make that tree.
    let mut other_root = root;
    other_root[0] ^= 1;
    let lying = SignedCheckpoint::Note(signer.sign_tree_head("muster/muster", ledger.head(), &other_root));
    match against_any(&file, &lying, &key) {
        Err(ExportError::Broken { seq: 63, reason }) => assert!(reason.contains("Merkle root"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // A checkpoint text altered after signing fails its signature.
    let altered = Note { text: signed.text.replacen("\n63\n", "\n62\n", 1), ..signed };
    assert!(matches!(
        against_any(&file, &SignedCheckpoint::Note(altered), &key),
        Err(ExportError::Checkpoint(CheckpointError::BadSignature))
    ));
}
