//! `/proof`: one entry proven in the ledger's Merkle tree (RFC 9162), in
//! the tree the nearest signed checkpoint covering it commits to. The page
//! shows the proof and the checkpoint as published, and the browser checks
//! the proof again itself (workbench.js, WebCrypto SHA-256): the auditor
//! need not take the server's word that it holds. Both download, for
//! `muster prove` or any RFC 9162 verifier.

use crate::layout::{frame, pinned, Section};
use crate::params::{link, pin, Params};
use crate::{Api, ApiError};
use maud::{html, Markup};
use muster_proto::answers::{CheckpointOut, InclusionProofOut};
use muster_proto::requests::InclusionProofRequest;

const ACCEPTED: &[&str] = &["seq", "known_at"];

/// The newest-but-nearest signed checkpoint covering `seq` that this
/// replica has checked: the smallest tree that holds the entry.
fn covering(checkpoints: Vec<CheckpointOut>, seq: u64) -> Option<CheckpointOut> {
    let usable = |c: &CheckpointOut| c.seq >= seq && c.root.is_some() && c.matches_replica == Some(true);
    checkpoints.into_iter().filter(usable).min_by_key(|c| c.seq)
}

/// The page; `checkpoints` was asked before (it awaits the bus).
pub fn page(
    api: &impl Api,
    pairs: &[(String, String)],
    checkpoints: Result<Vec<CheckpointOut>, ApiError>,
) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, ACCEPTED)?;
    let state = pin(api, &params)?;
    let seq = params.get("seq").ok_or_else(|| ApiError::bad_request("which entry? give seq"))?;
    let seq: u64 = seq.parse().map_err(|_| ApiError::bad_request(format!("seq {seq:?} is not an entry number")))?;
    let checkpoint = covering(checkpoints?, seq);
    let tree_size = checkpoint.as_ref().map_or(state.seq, |c| c.seq);
    let request = InclusionProofRequest { seq: Some(seq), tree_size: Some(tree_size), ..Default::default() };
    let proof = api.inclusion_proof(request)?;
    let json = link("/v1/proof/inclusion", &[("seq", &seq.to_string()), ("tree_size", &tree_size.to_string())]);
    let body = html! {
        p.lead {
            "Entry #" (seq) ", the event " code { (proof.source) "/" (proof.id) } ", is leaf " (seq - 1)
            " of the ledger's Merkle tree of " (tree_size) " entries. The " (proof.hashes.len())
            " hashes below lead from it to the tree's root; "
            @if checkpoint.is_some() { "the ledger signed that root in the checkpoint below." }
            @else { strong { "no signed checkpoint covers this entry yet" } ": the root is this replica's, unsigned." }
        }
        (verification(&proof))
        (proof_table(&proof))
        p.downloads {
            "Download: " a href=(json) download=(format!("proof-entry-{seq}.json")) { "the proof (JSON)" }
            @if let Some(c) = &checkpoint {
                a href=(data_url(&c.published)) download=(format!("checkpoint-{}.txt", c.seq)) { "the checkpoint" }
            }
        }
        p.note { "Check them anywhere: " code { "muster prove --seq " (seq) " --checkpoint checkpoint-" (tree_size) ".txt --public-key <the ledger's key>" } }
        @if let Some(c) = &checkpoint { (checkpoint_section(c)) }
    };
    let own = [("seq", seq.to_string())];
    let own: Vec<(&str, &str)> = own.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(frame(Section::Ledger, &format!("Proof of entry #{seq}"), Some(pinned(&state, "/proof", &own)), body))
}

/// The browser's own check: workbench.js reads the data attributes,
/// recomputes every hash and writes the verdict.
fn verification(p: &InclusionProofOut) -> Markup {
    html! {
        p #proof-verified.verdict role="status"
            data-leaf-index=(p.seq - 1) data-tree-size=(p.tree_size) data-entry-hash=(p.entry_hash)
            data-root=(p.root) data-hashes=(p.hashes.join(" ")) {
            "Checking the proof in this browser…"
        }
        noscript { p { "This page checks the proof with JavaScript; without it, use " code { "muster prove" } "." } }
    }
}

fn proof_table(p: &InclusionProofOut) -> Markup {
    html! {
        table #proof-table {
            tr { th { "Entry's chain hash (leaf data)" } td { code #entry-hash { (p.entry_hash) } } }
            tr { th { "Leaf hash: SHA-256(0x00 ‖ chain hash)" } td { code { (p.leaf_hash) } } }
            @for (i, h) in p.hashes.iter().enumerate() {
                tr { th { "Path hash " (i + 1) } td { code.path-hash { (h) } } }
            }
            tr { th { "Root at " (p.tree_size) " entries" } td { code #proof-root { (p.root) } } }
        }
    }
}

fn checkpoint_section(c: &CheckpointOut) -> Markup {
    html! {
        h2 { "The signed checkpoint" }
        p {
            "Its signature, checked by this replica against the key it names, is "
            @if c.signature_ok { span.up { "valid" } } @else { strong.down { "INVALID" } }
            "; key " code { (c.public_key) } ". Trust it only if that is the key you were given for this ledger."
        }
        pre.published #checkpoint-text { (c.published) }
    }
}

/// `text` as a `data:` URL (percent-encoded), for a download link.
fn data_url(text: &str) -> String {
    let mut url = String::from("data:text/plain;charset=utf-8,");
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => url.push(byte as char),
            _ => url.push_str(&format!("%{byte:02X}")),
        }
    }
    url
}
