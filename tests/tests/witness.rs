//! A witness of the ledger's checkpoints: it cosigns a checkpoint only
//! when a consistency proof shows it extends the last one it accepted,
//! and raises an alarm when the ledger signs two histories that do not
//! extend each other — here two ledgers that share the reform's first
//! 1,000 entries and then record the rest at different times, both signed
//! with the one key under the one prefix (a ledger restored and rewritten,
//! or a split view shown to different readers). On the way, the CLI's
//! proofs over NATS are checked equal to the HTTP API's.

use muster_ledger::checkpoint::{cosigner_vkey, cosigners, public_key, verify_cosignature, Signer};
use muster_ledger::merkle::Hash;
use muster_ledger::witness::{Accepted, Judged, Witness};
use muster_ledger::{Head, Incoming, Ledger, LedgerConfig};
use muster_proto::note::Note;
use muster_tests::stack::{Stack, REFORM_EVENTS};
use std::path::Path;
use std::time::Duration;

const ORIGIN: &str = "muster/muster";
const WITNESS: &str = "witness.test/w1";
/// The reform's entries both histories share.
const SHARED: usize = 1000;

/// A ledger at `dir` holding the reform's first `len` events: the first
/// [`SHARED`] committed at the same times in every history, the rest at
/// times from `tail_clock` (so from entry 1,001 each history is its own).
fn history(dir: &Path, len: usize, tail_clock: u64) -> Ledger {
    let text = std::fs::read_to_string(REFORM_EVENTS).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(len).collect();
    let mut ledger = Ledger::open(&LedgerConfig::new(dir)).unwrap();
    let (shared, tail) = lines.split_at(SHARED.min(lines.len()));
    for (clock, part) in [(1_700_000_000_000, shared), (tail_clock, tail)] {
        for (i, batch) in part.chunks(100).enumerate() {
            let batch = batch.iter().map(|l| Incoming::json(l.as_bytes())).collect();
            ledger.submit_batch(batch, clock + i as u64).unwrap();
        }
    }
    ledger
}

/// The ledger's signed checkpoint of its tree at `size`.
fn checkpoint(ledger: &Ledger, key: &Signer, size: u64) -> Note {
    let entry = ledger.entry(size).unwrap().expect("an entry at the size");
    let head = Head { seq: size, hash: entry.hash, recorded_at_ms: entry.body.recorded_at_ms };
    key.sign_tree_head(ORIGIN, head, &ledger.merkle_root(size).unwrap().unwrap())
}

fn proof(ledger: &Ledger, from: u64, to: u64) -> Vec<Hash> {
    ledger.consistency_proof(from, to).unwrap().unwrap()
}

fn log_key() -> Signer {
    Signer::from_seed(&[5; 32])
}

fn witness() -> Witness {
    let log = public_key(&log_key().public_key()).unwrap();
    Witness::new(WITNESS, Signer::from_seed(&[9; 32]), ORIGIN, log)
}

fn witness_key() -> [u8; 32] {
    public_key(&Signer::from_seed(&[9; 32]).public_key()).unwrap()
}

fn cosigned(judged: Judged) -> Accepted {
    match judged {
        Judged::Cosigned(accepted) => accepted,
        other => panic!("expected a cosignature, got {other:?}"),
    }
}

#[test]
fn a_witness_cosigns_what_extends_its_last_and_names_a_fork() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = history(dirs.0.path(), 1777, 1_700_000_100_000);
    let b = history(dirs.1.path(), 1777, 1_700_000_200_000);
    assert_eq!(checkpoint(&a, &log_key(), 1000).text, checkpoint(&b, &log_key(), 1000).text, "a shared prefix");
    let (w, key) = (witness(), log_key());

    // The first checkpoint seen is the start; each larger one is cosigned
    // only with the proof that it extends the last.
    let at_1200 = cosigned(w.judge(None, &checkpoint(&a, &key, 1200), None, 1_800_000_000));
    assert_eq!(verify_cosignature(&at_1200.note, WITNESS, &witness_key()).unwrap(), 1_800_000_000);
    assert_eq!(cosigners(&at_1200.note, &[(WITNESS.into(), witness_key())]), 1);
    let newer = checkpoint(&a, &key, 1777);
    assert_eq!(w.judge(Some(&at_1200), &newer, None, 0), Judged::NeedsProof { from: 1200, to: 1777 });
    let at_1777 = cosigned(w.judge(Some(&at_1200), &newer, Some(&proof(&a, 1200, 1777)), 1_800_000_060));
    assert_eq!((at_1777.size, w.resume(at_1777.note.clone())), (1777, Ok(at_1777.clone())));
    assert_eq!(w.judge(Some(&at_1777), &newer, None, 0), Judged::Seen, "the same again");
    // An older checkpoint of the same history: seen, with its proof.
    let older = checkpoint(&a, &key, 1000);
    let judged = w.judge(Some(&at_1777), &older, Some(&proof(&a, 1000, 1777)), 0);
    assert_eq!(judged, Judged::Seen);

    // The other history: the same size with another root needs no proof;
    // a larger one whose proof (from its own tree) does not lead from
    // the accepted root; a smaller one past the shared prefix.
    let fork = |judged: Judged| matches!(judged, Judged::Fork(_));
    assert!(fork(w.judge(Some(&at_1777), &checkpoint(&b, &key, 1777), None, 0)));
    let larger = w.judge(Some(&at_1200), &checkpoint(&b, &key, 1500), Some(&proof(&b, 1200, 1500)), 0);
    assert!(fork(larger.clone()), "{larger:?}");
    let smaller = w.judge(Some(&at_1777), &checkpoint(&b, &key, 1100), Some(&proof(&b, 1100, 1777)), 0);
    assert!(fork(smaller), "B's tree of 1,100 is not a prefix of A's of 1,777");
    // Within the shared prefix the histories agree: no alarm.
    let shared = w.judge(Some(&at_1777), &checkpoint(&b, &key, 1000), Some(&proof(&a, 1000, 1777)), 0);
    assert_eq!(shared, Judged::Seen);

    // Not the ledger's: another key, another origin; and a state that is
    // not this witness's own cosignature.
    let stranger = Signer::from_seed(&[6; 32]);
    assert!(matches!(w.judge(Some(&at_1777), &checkpoint(&a, &stranger, 1777), None, 0), Judged::Refused(_)));
    let elsewhere = {
        let entry = a.entry(1777).unwrap().unwrap();
        let head = Head { seq: 1777, hash: entry.hash, recorded_at_ms: entry.body.recorded_at_ms };
        key.sign_tree_head("muster/elsewhere", head, &a.merkle_root(1777).unwrap().unwrap())
    };
    assert!(matches!(w.judge(None, &elsewhere, None, 0), Judged::Refused(_)));
    // The empty tree's checkpoint is a prefix of every tree: seen, no proof.
    let empty_head = Head { seq: 0, hash: [0; 32], recorded_at_ms: 0 };
    let empty = key.sign_tree_head(ORIGIN, empty_head, &muster_ledger::merkle::empty_root());
    assert_eq!(w.judge(Some(&at_1777), &empty, None, 0), Judged::Seen);
    assert!(w.resume(newer).is_err(), "a checkpoint this witness never cosigned");
}

/// `muster ARGS`, waited for (killed after two minutes): exit code and
/// output. On a blocking thread: the services it asks run on this runtime.
async fn muster(args: &[&str]) -> (Option<i32>, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let (out, err) = (tempfile::NamedTempFile::new().unwrap(), tempfile::NamedTempFile::new().unwrap());
        let mut child = std::process::Command::new(muster_tests::workspace_binary("muster"))
            .args(&args)
            .env("MUSTER_LOG", "warn")
            .stdout(out.reopen().unwrap())
            .stderr(err.reopen().unwrap())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |file: &tempfile::NamedTempFile| std::fs::read_to_string(file.path()).unwrap_or_default();
        (code, read(&err) + &read(&out))
    })
    .await
    .unwrap()
}

/// A deployment under prefix `muster` holding `ledger` (built beforehand
/// in its ledger directory), signing with the key in `key_file`.
struct Deployment {
    stack: Stack,
    query: muster_tests::stack::Running,
    addr: std::net::SocketAddr,
    key_file: std::path::PathBuf,
}

impl Deployment {
    async fn start(stack: Stack, key_file: std::path::PathBuf, entries: u64) -> Deployment {
        let ledger = stack.start_ledger_with(muster_ledger_service::Args {
            signing_key: Some(key_file.clone()),
            ..stack.ledger_args()
        });
        stack.wait_for_streams().await;
        let (query, addr) = stack.start_query("a").await;
        muster_tests::http::caught_up(addr, entries).await;
        // Stopping, the ledger signs its head.
        ledger.stop().await;
        let deployment = Deployment { stack, query, addr, key_file };
        deployment.signed(entries).await;
        deployment
    }

    /// Waits until the replica lists the ledger's checkpoint of `size`.
    async fn signed(&self, size: u64) {
        muster_tests::wait::eventually(Duration::from_secs(60), &format!("a checkpoint of {size}"), || async {
            let (_, listed) = muster_tests::http::http_get(self.addr, "/v1/checkpoints").await;
            let sizes: Vec<u64> = listed.as_array()?.iter().filter_map(|c| c["seq"].as_u64()).collect();
            sizes.contains(&size).then_some(())
        })
        .await;
    }

    fn url(&self) -> String {
        self.stack.urls().join(",")
    }
}

/// The witness's command line against `d`, with its state in `state`.
fn witness_args<'a>(d: &'a str, key: &'a str, log_key: &'a str, state: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--nats-url", d, "witness", "--name", WITNESS, "--signing-key", key];
    args.extend(["--public-key", log_key, "--state", state, "--once"]);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_command_cosigns_over_nats_and_alarms_on_a_forked_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (log, secret) = Signer::generate().unwrap();
    let key_file = dir.path().join("ledger.key");
    std::fs::write(&key_file, format!("{secret}\n")).unwrap();
    let (witness_signer, witness_secret) = Signer::generate().unwrap();
    let witness_file = dir.path().join("witness.key");
    std::fs::write(&witness_file, format!("{witness_secret}\n")).unwrap();
    let vkey = cosigner_vkey(WITNESS, &public_key(&witness_signer.public_key()).unwrap());
    let state = dir.path().join("witness.json");
    let (log_hex, state_text) = (log.public_key(), state.display().to_string());
    let witness_text = witness_file.display().to_string();

    // Ledger A: 1,400 entries, signed; the witness takes it as its start.
    let a = Stack::new();
    drop(history(&a.ledger_dir(), 1400, 1_700_000_100_000));
    let a = Deployment::start(a, key_file.clone(), 1400).await;
    let client = a.stack.client().await;
    let mut cosigned = client.subscribe("muster.witness.cosigned").await.unwrap();
    client.flush().await.unwrap();
    let url_a = a.url();
    let (code, output) = muster(&witness_args(&url_a, &witness_text, &log_hex, &state_text)).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("cosigned  size 1400"), "{output}");
    let first = next_note(&mut cosigned).await;
    std::fs::copy(&state, dir.path().join("witness-at-1400.json")).unwrap();

    // A grows to the whole reform; the next look proves and cosigns it.
    let ledger = a.stack.start_ledger_with(muster_ledger_service::Args {
        signing_key: Some(a.key_file.clone()),
        ..a.stack.ledger_args()
    });
    let events = muster_tests::outgoing_from_jsonl(Path::new(REFORM_EVENTS), None).unwrap().split_off(1400);
    let publisher = muster_publisher::Publisher::new(
        a.stack.client().await,
        a.stack.topology(),
        muster_publisher::PublisherConfig::default(),
    );
    publisher.publish_all(events, |_| {}).await.unwrap();
    muster_tests::http::caught_up(a.addr, 1777).await;
    ledger.stop().await;
    a.signed(1777).await;
    let (code, output) = muster(&witness_args(&url_a, &witness_text, &log_hex, &state_text)).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("cosigned  size 1777"), "{output}");
    let second = next_note(&mut cosigned).await;
    let saved: muster_proto::witness::WitnessState =
        muster_proto::witness::decode_state(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!((saved.size, saved.checkpoint.as_str()), (1777, second.as_str()));

    // An auditor requiring the witness: both cosigned checkpoints prove
    // one history; requiring a second witness, or the uncosigned note,
    // is exit 8.
    let (from, to) = (dir.path().join("from.note"), dir.path().join("to.note"));
    std::fs::write(&from, &first).unwrap();
    std::fs::write(&to, &second).unwrap();
    let (from, to) = (from.display().to_string(), to.display().to_string());
    let prove = ["--nats-url", &url_a, "prove", "--from", &from, "--to", &to, "--public-key", &log_hex];
    let (code, output) = muster(&[&prove[..], &["--witness", vkey.as_str()]].concat()).await;
    assert_eq!(code, Some(0), "{output}");
    // The CLI's proofs over NATS are the HTTP API's.
    let (code, cli) = muster(&[&prove[..], &["--format", "json"]].concat()).await;
    assert_eq!(code, Some(0), "{cli}");
    let path = "/v1/proof/consistency?from_size=1400&to_size=1777";
    let (_, http) = muster_tests::http::http_get(a.addr, path).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&cli).unwrap(), http);
    let entry = ["--nats-url", &url_a, "prove", "--seq", "100", "--checkpoint", &to, "--public-key", &log_hex];
    let (code, cli) = muster(&[&entry[..], &["--format", "json"]].concat()).await;
    assert_eq!(code, Some(0), "{cli}");
    let (_, http) = muster_tests::http::http_get(a.addr, "/v1/proof/inclusion?seq=100&tree_size=1777").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&cli).unwrap(), http);
    let other = cosigner_vkey("witness.test/w2", &public_key(&Signer::generate().unwrap().0.public_key()).unwrap());
    let required = ["--witness", vkey.as_str(), "--witness", other.as_str(), "--witnesses", "2"];
    let (code, output) = muster(&[&prove[..], &required[..]].concat()).await;
    assert_eq!(code, Some(8), "{output}");
    assert!(output.contains("cosigned by 1 of the witnesses named; 2 are required"), "{output}");

    // Ledger B: the same first 1,000 entries, then its own; the same key
    // and prefix. The witness that accepted A at 1,777 sees B's 1,777
    // (another root); the one that accepted A at 1,400 gets B's proof
    // from 1,400, which does not lead from A's root. Both alarm.
    let b = Stack::new();
    drop(history(&b.ledger_dir(), 1777, 1_700_000_200_000));
    let b = Deployment::start(b, key_file.clone(), 1777).await;
    let url_b = b.url();
    let alarms_client = b.stack.client().await;
    let mut alarms = alarms_client.subscribe("muster.witness.alarm").await.unwrap();
    alarms_client.flush().await.unwrap();
    let (code, output) = muster(&witness_args(&url_b, &witness_text, &log_hex, &state_text)).await;
    assert_eq!(code, Some(9), "{output}");
    assert!(output.contains("two checkpoints of size 1777 with different roots"), "{output}");
    let alarm = next_alarm(&mut alarms).await;
    assert_eq!((alarm.code.as_str(), alarm.accepted.as_str()), ("fork", second.as_str()));
    let earlier = dir.path().join("witness-at-1400.json").display().to_string();
    let (code, output) = muster(&witness_args(&url_b, &witness_text, &log_hex, &earlier)).await;
    assert_eq!(code, Some(9), "{output}");
    assert!(output.contains("not shown to be a prefix"), "{output}");
    let alarm = next_alarm(&mut alarms).await;
    assert_eq!((alarm.accepted.as_str(), alarm.proof.is_empty()), (first.as_str(), false));
    // The state stays at what was accepted: the fork is never cosigned.
    let kept = muster_proto::witness::decode_state(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept.checkpoint, second);

    for d in [a, b] {
        d.query.stop().await;
    }
}

async fn next_note(subscription: &mut async_nats::Subscriber) -> String {
    use futures_util::StreamExt;
    let message = tokio::time::timeout(Duration::from_secs(30), subscription.next()).await.unwrap().unwrap();
    String::from_utf8(message.payload.to_vec()).unwrap()
}

async fn next_alarm(subscription: &mut async_nats::Subscriber) -> muster_proto::witness::WitnessAlarm {
    muster_proto::witness::decode_alarm(next_note(subscription).await.as_bytes()).unwrap()
}
