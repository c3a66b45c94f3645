//! Test support for Muster: a ledger to state rules against (`given`), a
//! naive reference model of `shared/SPEC.md` and a proptest generator of
//! event sequences, so that a property test can check the fast, indexed
//! `muster_domain::Timeline` against the model; real NATS stacks
//! (`nats`, `stack`) and the one way to wait for them (`wait`); a real
//! browser for the workbench's pages (`browser`).
//!
//! ```
//! use muster_domain::{Category, Date, Event, UnitId};
//! use muster_tests::model::Model;
//!
//! let day = Date::parse("2015-01-01").unwrap();
//! let mut model = Model::new();
//! let established = Event::UnitEstablished {
//!     unit: UnitId::from("U0"),
//!     name: "public order".to_owned(),
//!     category: Category::Office,
//!     parent: None,
//!     quota: None,
//! };
//! assert_eq!(model.submit(1, day, &established), Ok(()));
//! assert_eq!(model.tree(day, None).len(), 1);
//! ```
#![deny(missing_docs)]

pub mod browser;
/// The crash test's event stream.
pub mod crash;
pub mod gen;
pub mod given;
pub mod http;
pub mod ingest;
pub mod model;
pub mod nats;
pub mod proxy;
pub mod receipts;
pub mod stack;
pub mod wait;
pub mod wire;

/// Opens the ledger at `path`, waiting (at most 30 s) for another handle in
/// this or another process to let go of sled's directory lock: sled's
/// background threads release it shortly after the last handle is dropped.
pub fn open_ledger(path: &std::path::Path) -> muster_ledger::Ledger {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match muster_ledger::Ledger::open(&muster_ledger::LedgerConfig::new(path)) {
            Ok(ledger) => return ledger,
            Err(e) if e.is_held() && std::time::Instant::now() < deadline => std::thread::yield_now(),
            Err(e) => panic!("opening the ledger at {}: {e}", path.display()),
        }
    }
}

/// The audit's HTML report as `/v1/audit.html` serves it: the
/// workbench's rendering, pinned to the ledger state the audit was asked
/// at (its `known_at_seq`, or the head).
pub fn audit_report(ledger: &muster_ledger::Ledger, audit: &muster_proto::answers::AuditOut) -> String {
    let known_at = audit.known_at_seq.map_or(serde_json::json!({}), |seq| serde_json::json!({"known_at_seq": seq}));
    let request = serde_json::from_value(known_at).expect("a state request");
    let state = muster_query::answer::state(ledger, request).expect("the ledger's state");
    muster_web::audit_document(audit, &state)
}

/// The text of the element with `id` in `html` (up to its first child
/// tag), e.g. a figure of the audit report.
pub fn text_of<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!(r#"id="{id}""#))?;
    let text = &html[at..];
    let text = &text[text.find('>')? + 1..];
    Some(&text[..text.find('<')?])
}

/// Open and close tags balance (void and self-closing tags aside): enough
/// to catch a report that would not parse.
pub fn tags_balance(html: &str) -> Result<(), String> {
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').ok_or("a tag never closes")? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_alphanumeric()).collect();
        if ["meta", "br", "hr", "img", "link", "input"].contains(&name.as_str()) {
            continue;
        }
        if tag.starts_with('/') {
            match open.pop() {
                Some(top) if top == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else {
            open.push(name);
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed: {open:?}"))
    }
}

/// The events of a JSON Lines file (the first `limit`, if given), as the
/// publisher sends them.
pub fn outgoing_from_jsonl(
    path: &std::path::Path,
    limit: Option<usize>,
) -> anyhow::Result<Vec<muster_publisher::Outgoing>> {
    use anyhow::Context;
    use std::io::BufRead;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .take(limit.unwrap_or(usize::MAX))
        .enumerate()
        .map(|(i, line)| {
            let line = line?;
            muster_publisher::input::from_json_line(
                i as u64 + 1,
                line.as_bytes(),
                muster_publisher::input::Encoding::Json,
            )
            .map_err(|e| anyhow::anyhow!("{} line {}: {e:?}", path.display(), i + 1))
        })
        .collect()
}

/// The promise of a `corrections` answer: every unit whose own counts or
/// presence differ between the two points names an event that explains
/// it, and every event it names is one of the answer's.
pub fn assert_corrections_explained(answer: &muster_proto::answers::CorrectionsOut) {
    let listed: Vec<u64> = answer.events.iter().map(|e| e.event.seq).collect();
    for unit in &answer.units {
        let own = |c: &Option<muster_proto::answers::CountsOut>| c.map(|c| (c.posted, c.working));
        if own(&unit.reported) != own(&unit.corrected) {
            assert!(!unit.explained_by.is_empty(), "{} on {} changed unexplained", unit.unit, answer.date);
        }
        assert!(unit.explained_by.iter().all(|seq| listed.contains(seq)), "{}: {:?}", unit.unit, unit.explained_by);
    }
}

/// The workspace's binaries, built once per test run. Rationale: they are
/// other packages' binaries, which cargo does not build for this one's
/// tests; building here keeps them from being stale.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    static TARGET: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let profile_dir = TARGET.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe");
        let profile_dir = exe.parent().and_then(std::path::Path::parent).expect("target/<profile>").to_owned();
        let target_dir = profile_dir.parent().expect("target dir");
        let mut build = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.args(["build", "--quiet", "--bins", "--target-dir"]).arg(target_dir);
        for package in ["muster-cli", "muster-publisher", "muster-ledger-service", "muster-query"] {
            build.args(["-p", package]);
        }
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("running cargo build");
        assert!(status.success(), "building the binaries failed");
        profile_dir
    });
    profile_dir.join(name)
}
