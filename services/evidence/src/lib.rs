//! Evidence packs: the front-line audit in a form an auditor can hand to
//! a third party who trusts nothing but the ledger's public key.
//!
//! A pack is one zip (or the directory it unpacks to) holding the audit
//! (JSON, and the CSV and HTML report made from it), the signed checkpoint
//! it was computed under (`known_at` = the checkpoint's size), every entry
//! the audit cites with its predecessor's hash and its inclusion proof in
//! that checkpoint's tree, a manifest with every file's SHA-256, and a
//! README saying how to check it. [`verify`] checks all of it offline
//! and names each thing that fails.
//!
//! What a pack proves, and what it does not: every cited event is in the
//! ledger the key signed, as cited, and concerns the member it is cited
//! for; every figure that follows from the member lists, and the audit's
//! own arithmetic, agree; the documents say what the JSON says. It does
//! not prove the member lists complete or the strength figures right
//! (that needs every entry up to the checkpoint: re-run the audit at the
//! checkpoint's size on any replica, or check an export against it).

mod check;
mod pack;

pub use check::{prove_entry, verify, Problem, ProblemCode, Verified};
pub use pack::{assemble, cited_seqs, read_pack, Manifest, ManifestFile, Pack, PackError};

/// The manifest's `format`.
pub const FORMAT: &str = "muster-evidence";
/// The manifest's `version` this build writes and reads.
pub const VERSION: u32 = 1;

/// The files of a pack, by name.
pub mod files {
    /// What the pack holds and every other file's SHA-256.
    pub const MANIFEST: &str = "manifest.json";
    /// For people: what the pack is and how to check it.
    pub const README: &str = "README.txt";
    /// The signed checkpoint (C2SP signed note) the audit was computed under.
    pub const CHECKPOINT: &str = "checkpoint.txt";
    /// The audit as the query service answers it.
    pub const AUDIT_JSON: &str = "audit.json";
    /// Its moves, one a row (as `/v1/audit.csv`).
    pub const AUDIT_CSV: &str = "audit.csv";
    /// The report (as `/v1/audit.html`).
    pub const AUDIT_HTML: &str = "audit.html";
    /// One proven entry a line (`evidence_entries`' `ProvenEntryOut`).
    pub const ENTRIES: &str = "entries.jsonl";
    /// Every file a pack must hold, the manifest first.
    pub const ALL: [&str; 7] = [MANIFEST, README, CHECKPOINT, AUDIT_JSON, AUDIT_CSV, AUDIT_HTML, ENTRIES];
}
