//! C2SP signed notes and checkpoints (muster_proto::note,
//! muster_ledger::checkpoint) against published examples: the signed-note
//! spec's (c2sp.org/signed-note, verify only: no key is published), Go's
//! `golang.org/x/mod/sumdb/note` test key (whose seed is published, so
//! our signature must match byte for byte), and a checkpoint of the
//! RFC 6962 reference tree under RFC 8032's first test key.

use muster_ledger::checkpoint::{
    cosigner_vkey, cosigners, note_key_id, note_vkey, verify_cosignature, verify_note, verify_tree_head,
    CheckpointError, Signer,
};
use muster_ledger::Head;
use muster_proto::hex::unhex;
use muster_proto::note::{CheckpointText, Note};

fn key(text: &str) -> [u8; 32] {
    unhex(text).expect("32 bytes in hex")
}

#[test]
fn our_signature_of_gos_example_note_is_gos_byte_for_byte() {
    let signer = Signer::from_seed(&key("810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173"));
    let public = key(&signer.public_key());
    assert_eq!(
        note_vkey("PeterNeumann", &public),
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    );
    let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    let note = signer.sign_note("PeterNeumann", text.to_owned());
    let expected = format!(
        "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    );
    assert_eq!(note.encode(), expected);
    assert_eq!(Note::parse(expected.as_bytes()), Ok(note.clone()));
    assert_eq!(verify_note(&note, "PeterNeumann", &public).map_err(|e| e.to_string()), Ok(()));
}

#[test]
fn the_specs_example_note_verifies_under_its_key() {
    let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let public = key("e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4");
    assert_eq!(note_key_id("example.com/foo", 1, &public), [0x53, 0x0d, 0x90, 0x3a]);
    let note = Note::parse(note.as_bytes()).expect("a note");
    assert!(verify_note(&note, "example.com/foo", &public).is_ok());
    // Another name under the same key is another key ID: not this signer.
    assert!(matches!(verify_note(&note, "example.com/bar", &public), Err(CheckpointError::Untrusted { .. })));
}

/// The RFC 6962 reference tree of 8 leaves, its checkpoint signed under
/// RFC 8032 §7.1 TEST 1's key (computed independently in Python).
#[test]
fn a_checkpoint_of_the_reference_tree_is_the_independent_computation() {
    let signer = Signer::from_seed(&key("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    let root = key("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
    let text = CheckpointText { origin: "example.com/ledger".into(), size: 8, root, extensions: vec![] };
    assert_eq!(text.encode(), "example.com/ledger\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
    let note = signer.sign_note("example.com/ledger", text.encode());
    let line = note.encode().lines().last().expect("a signature line").to_owned();
    assert_eq!(
        line,
        "\u{2014} example.com/ledger YNtRn2gzE9LAJwGMgl/BVkntTh9PpiPy/kV5jU1IrHQ8tEC00JHqKCIoEpwgkM2AgFamiFXF1o00jTDXQucFLBEpCgc="
    );
    assert_eq!(CheckpointText::parse(&note.text), Ok(text));
}

fn head() -> Head {
    Head {
        seq: 1777,
        hash: key("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        recorded_at_ms: 1_700_000_000_003,
    }
}

#[test]
fn a_muster_checkpoint_names_origin_size_root_and_chain_head_and_verifies() {
    let signer = Signer::from_seed(&[7; 32]);
    let trusted = key(&signer.public_key());
    let root = [9; 32];
    let note = signer.sign_tree_head("muster/hr.nanhu", head(), &root);
    let read = Note::parse(note.encode().as_bytes()).expect("a note");
    let vouched = verify_tree_head(&read, &trusted).expect("verifies");
    assert_eq!((vouched.origin.as_str(), vouched.head, vouched.root), ("muster/hr.nanhu", head(), root));
    assert!(note.text.starts_with("muster/hr.nanhu\n1777\n"));

    // Every changed line of the text, and the signature, fail it.
    let lines: Vec<&str> = note.text.lines().collect();
    for at in 0..lines.len() {
        let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        changed[at] = changed[at].replacen(|c: char| c.is_ascii_alphanumeric(), "1", 1).replacen('1', "2", 1);
        let forged = Note { text: changed.join("\n") + "\n", ..note.clone() };
        assert!(verify_tree_head(&forged, &trusted).is_err(), "line {at} changed: {:?}", forged.text);
    }
    let mut bad = note.clone();
    bad.signatures[0].signature[10] ^= 1;
    assert!(matches!(verify_tree_head(&bad, &trusted), Err(CheckpointError::BadSignature)));
    let other = key(&Signer::from_seed(&[8; 32]).public_key());
    assert!(matches!(verify_tree_head(&note, &other), Err(CheckpointError::Untrusted { .. })));
}

#[test]
fn text_that_is_not_a_signed_checkpoint_is_refused_saying_why() {
    for (text, why) in [
        ("muster/x\n1\nAAAA\n", "no blank line"),
        ("muster/x\n1\n\n", "no signature lines"),
        ("muster/x\n1\n\n\u{2014} k notbase64!\n", "not base64"),
        ("muster/x\n1\n\n- k AAAAAAAA\n", "a signature line"),
        ("muster/x\r\n1\n\n\u{2014} k AAAAAAAA\n", "control character"),
    ] {
        let error = Note::parse(text.as_bytes()).expect_err(text);
        assert!(error.to_string().contains(why), "{text:?}: {error}");
    }
    for (text, why) in [
        ("muster/x\n01\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n", "tree size"),
        ("muster/x\n1\nXcnaeacG\n", "root hash"),
        ("\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n", "origin"),
        ("muster/x\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=", "ends in a newline"),
    ] {
        let error = CheckpointText::parse(text).expect_err(text);
        assert!(error.to_string().contains(why), "{text:?}: {error}");
    }
}

/// A witness's timestamped cosignature (c2sp.org/tlog-cosignature, type
/// 0x04) of the reference tree's checkpoint, with RFC 8032's test keys:
/// the line an independent computation made (Python's `cryptography`),
/// byte for byte; it verifies, counts towards an auditor's N witnesses,
/// and fails for another checkpoint, another time or another key.
#[test]
fn a_witness_cosignature_is_the_independent_computation_and_counts() {
    let log = Signer::from_seed(&key("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    let witness_seed = key("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
    let witness = Signer::from_seed(&witness_seed);
    let witness_key = key("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    let name = "witness.example.com/w1";
    assert_eq!(
        cosigner_vkey(name, &witness_key),
        "witness.example.com/w1+e8498172+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM"
    );
    let root = key("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
    let text = CheckpointText { origin: "example.com/ledger".into(), size: 8, root, extensions: vec![] };
    let mut note = log.sign_note("example.com/ledger", text.encode());
    note.signatures.push(witness.cosign(name, &note.text, 1_679_315_147));
    assert_eq!(
        note.encode().lines().last().unwrap(),
        "\u{2014} witness.example.com/w1 6EmBcgAAAABkGFDLXKm3Lq6OFn9La8x+38URdOYg2VBgIDo8Xs66V5w6z8XwCMYTEtCjYcro1xLjZoLxp45LcVoqMlMXi6yWd3DaCw=="
    );
    let read = Note::parse(note.encode().as_bytes()).unwrap();
    assert_eq!(verify_cosignature(&read, name, &witness_key).ok(), Some(1_679_315_147));
    let other = key("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let witnesses = [(name.to_owned(), witness_key), ("other.example/w2".to_owned(), other)];
    assert_eq!(cosigners(&read, &witnesses), 1, "one of two witnesses cosigned");
    // Another checkpoint under the same cosignature, or another time.
    let moved = Note { text: text.encode().replace("\n8\n", "\n9\n"), ..read.clone() };
    assert!(matches!(verify_cosignature(&moved, name, &witness_key), Err(CheckpointError::BadSignature)));
    let mut retimed = read.clone();
    retimed.signatures[1].signature[7] ^= 1;
    assert!(matches!(verify_cosignature(&retimed, name, &witness_key), Err(CheckpointError::BadSignature)));
    assert!(verify_cosignature(&read, name, &other).is_err());
}
