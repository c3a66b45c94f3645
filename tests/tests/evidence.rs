//! Evidence packs: the Nanhu audit of the reform, gathered from a ledger
//! under a checkpoint it signed, zipped, read back and checked offline
//! with the public key alone — and a pack with one altered figure, one
//! swapped event or one truncated proof fails, naming it.

use muster_evidence::{files, read_pack, verify, Pack, ProblemCode};
use muster_ledger::checkpoint::Signer;
use muster_ledger::{Incoming, Ledger, LedgerConfig};
use muster_proto::answers::{AuditOut, ProvenEntryOut};
use muster_proto::requests::AuditRequest;
use muster_query::answer::{answer, QueryEndpoint};
use muster_query::evidence::gather;
use muster_tests::stack::REFORM_EVENTS;
use sha2::{Digest, Sha256};

const SEED: [u8; 32] = [7; 32];

fn reform_ledger(dir: &std::path::Path) -> Ledger {
    let text = std::fs::read_to_string(REFORM_EVENTS).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut ledger = Ledger::open(&LedgerConfig::new(dir)).unwrap();
    for (i, batch) in lines.chunks(100).enumerate() {
        ledger
            .submit_batch(batch.iter().map(|l| Incoming::json(l.as_bytes())).collect(), 1_700_000_000_000 + i as u64)
            .unwrap();
    }
    ledger
}

fn nanhu() -> AuditRequest {
    AuditRequest {
        from: "2013-01-01".into(),
        to: "2016-12-01".into(),
        scope: Some("NH".into()),
        known_at_seq: None,
        known_at_time: None,
    }
}

/// The Nanhu pack under a checkpoint of the whole reform ledger.
fn nanhu_pack(ledger: &Ledger) -> Pack {
    let head = ledger.head();
    let root = ledger.merkle_root(head.seq).unwrap().unwrap();
    let published = Signer::from_seed(&SEED).sign_tree_head("muster/muster", head, &root).encode();
    let mut ask = |endpoint: QueryEndpoint, body: Vec<u8>| answer(ledger, endpoint, &body).and_then(|a| a.to_json());
    gather(&mut ask, nanhu(), &published).expect("the Nanhu pack")
}

fn key() -> [u8; 32] {
    let vkey = Signer::from_seed(&SEED).public_key();
    muster_ledger::checkpoint::public_key(&vkey).unwrap()
}

/// A forger's edit of one file, with the manifest's hash of it made to
/// match: what is left to catch it is the checking itself.
fn forge(pack: &mut Pack, name: &str, edit: impl FnOnce(&mut Vec<u8>)) {
    edit(pack.files.get_mut(name).unwrap());
    let bytes = &pack.files[name];
    let mut manifest: serde_json::Value = serde_json::from_slice(&pack.files[files::MANIFEST]).unwrap();
    for file in manifest["files"].as_array_mut().unwrap() {
        if file["name"] == name {
            file["sha256"] = muster_ledger::hex(Sha256::digest(bytes).as_slice()).into();
            file["bytes"] = bytes.len().into();
        }
    }
    pack.files.insert(files::MANIFEST.into(), serde_json::to_vec_pretty(&manifest).unwrap());
}

fn codes(pack: &Pack) -> Vec<(ProblemCode, String)> {
    verify(pack, &key()).expect_err("a forged pack fails").into_iter().map(|p| (p.code, p.to_string())).collect()
}

fn edit_audit(pack: &mut Pack, edit: impl FnOnce(&mut AuditOut)) {
    forge(pack, files::AUDIT_JSON, |bytes| {
        let mut audit: AuditOut = serde_json::from_slice(bytes).unwrap();
        edit(&mut audit);
        *bytes = serde_json::to_vec_pretty(&audit).unwrap();
    });
}

#[test]
fn the_nanhu_pack_checks_offline_from_its_zip_with_the_public_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = reform_ledger(&dir.path().join("ledger"));
    let pack = nanhu_pack(&ledger);
    let zip = dir.path().join("nanhu.zip");
    std::fs::write(&zip, pack.zip()).unwrap();
    assert_eq!(pack.zip(), nanhu_pack(&ledger).zip(), "the same audit at the same state is the same bytes");
    drop(ledger);
    let read = read_pack(&zip).unwrap();
    assert_eq!(read, pack);
    let verified = verify(&read, &key()).expect("the pack checks");
    let audit: AuditOut = serde_json::from_slice(&pack.files[files::AUDIT_JSON]).unwrap();
    assert_eq!(audit.moved_down_share, Some(33.3), "the reform's one third, in the pack");
    assert_eq!(verified.entries, muster_evidence::cited_seqs(&audit).len(), "every cited event proven");
    assert!(verified.entries > 50, "the Nanhu audit cites many events: {verified:?}");
    assert_eq!(verified.members, audit.moved_down.len() + audit.moved_up.len());
    // Another key: nothing in it can be trusted.
    let other = muster_ledger::checkpoint::public_key(&Signer::from_seed(&[8; 32]).public_key()).unwrap();
    let problems = verify(&read, &other).unwrap_err();
    assert_eq!(problems[0].code, ProblemCode::Signature, "{problems:?}");
}

#[test]
fn an_altered_figure_a_swapped_event_or_a_truncated_proof_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = reform_ledger(&dir.path().join("ledger"));
    let pack = nanhu_pack(&ledger);

    let mut figure = pack.clone();
    edit_audit(&mut figure, |a| a.moved_down_at_front += 1);
    let found = codes(&figure);
    assert!(
        found.iter().any(|(c, m)| *c == ProblemCode::FigureWrong && m.contains("moved_down_at_front")),
        "{found:?}"
    );
    assert!(found.iter().any(|(c, m)| *c == ProblemCode::DocumentDiffers && m.contains("audit.html")), "{found:?}");

    // One member's transfer swapped for another member's.
    let mut swapped = pack.clone();
    edit_audit(&mut swapped, |a| {
        let transfer =
            |m: &muster_proto::answers::MoveOut| m.events.iter().position(|e| e.event_type.contains("transferred"));
        let mut with = a.moved_down.iter().enumerate().filter_map(|(i, m)| transfer(m).map(|e| (i, e)));
        let ((i, e), (j, f)) = (with.next().unwrap(), with.next().unwrap());
        a.moved_down[i].events[e] = a.moved_down[j].events[f].clone();
    });
    let found = codes(&swapped);
    assert!(found.iter().any(|(c, _)| *c == ProblemCode::EventUnrelated), "{found:?}");

    // A cited event's order reference changed.
    let mut relabelled = pack.clone();
    edit_audit(&mut relabelled, |a| a.moved_down[0].events[0].order_ref = Some("南湖公〔2015〕99号".into()));
    assert!(codes(&relabelled).iter().any(|(c, _)| *c == ProblemCode::EventDiffers));

    // The last hash of one entry's proof cut off.
    let mut truncated = pack.clone();
    forge(&mut truncated, files::ENTRIES, |bytes| {
        let text = String::from_utf8(bytes.clone()).unwrap();
        let mut lines: Vec<ProvenEntryOut> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        lines[3].hashes.pop();
        *bytes = lines.iter().flat_map(|l| [serde_json::to_vec(l).unwrap(), b"\n".to_vec()].concat()).collect();
    });
    let seq = {
        let text = std::str::from_utf8(&truncated.files[files::ENTRIES]).unwrap();
        serde_json::from_str::<ProvenEntryOut>(text.lines().nth(3).unwrap()).unwrap().seq
    };
    let found = codes(&truncated);
    assert!(
        found.iter().any(|(c, m)| *c == ProblemCode::ProofFails && m.contains(&format!("entry {seq}:"))),
        "{found:?}"
    );

    // A file changed without the manifest: named as changed.
    let mut changed = pack.clone();
    changed.files.get_mut(files::AUDIT_CSV).unwrap().push(b' ');
    let found = codes(&changed);
    assert!(found.iter().any(|(c, m)| *c == ProblemCode::FileChanged && m.contains("audit.csv")), "{found:?}");

    let mut missing = pack;
    missing.files.remove(files::ENTRIES);
    let found = codes(&missing);
    assert!(found.iter().any(|(c, _)| *c == ProblemCode::Missing), "{found:?}");
    assert!(found.iter().any(|(c, _)| *c == ProblemCode::EventMissing), "{found:?}");
}
