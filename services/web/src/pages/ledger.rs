//! `/ledger`: this replica's status, the chain's check (on demand: it
//! re-reads every entry), and the latest signed checkpoints.

use crate::layout::{frame, pinned, Section};
use crate::params::{link, pin, Params};
use crate::{Api, ApiError};
use maud::{html, Markup};
use muster_proto::answers::CheckpointOut;
use muster_proto::requests::{StatusAnswer, VerifyAnswer};

const ACCEPTED: &[&str] = &["verify"];

/// The page; `status` and `checkpoints` were asked before (they await the
/// feed), the rest is asked here.
pub fn page(
    api: &impl Api,
    pairs: &[(String, String)],
    status: StatusAnswer,
    checkpoints: Result<Vec<CheckpointOut>, ApiError>,
) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, ACCEPTED)?;
    let state = pin(api, &params)?;
    let verify = if params.flag("verify")? { Some(api.verify()?) } else { None };
    let body = html! {
        h2 { "This replica" }
        table #status-table {
            tr { th { "Ledger head (published on the feed)" } td.num #ledger-seq { (status.ledger_seq) } }
            tr { th { "Applied here" } td.num #applied-seq { (status.applied_seq) } }
            tr { th { "Behind" } td.num #behind { (status.behind) } }
            tr { th { "Chain head hash" } td { code #head-hash { (status.head_hash) } } }
            tr { th { "Every entry applied verified" } td #chain-ok { @if status.chain_ok { "yes" } @else { strong.down { "no: this replica stopped applying" } } } }
        }
        h2 { "The chain, re-walked" }
        (verified(verify.as_ref()))
        h2 { "Signed checkpoints" }
        (checkpoint_table(checkpoints))
    };
    Ok(frame(Section::Ledger, "The ledger", Some(pinned(&state, "/ledger", &[])), body))
}

fn verified(verify: Option<&VerifyAnswer>) -> Markup {
    match verify {
        None => html! {
            p { "Re-reading every entry and checking each hash against the one before takes a while on a large ledger. "
                a #verify-link href=(link("/ledger", &[("verify", "true")])) { "Verify the chain now" } }
        },
        Some(v) if v.ok => html! {
            p #verify-result.up { "Whole: " (v.entries) " entries, each hash checked; head " code { (v.head_hash.as_deref().unwrap_or("")) } }
        },
        Some(v) => html! {
            p #verify-result.down {
                "Broken at entry #" (v.first_bad_seq.unwrap_or(0)) ": " (v.reason.as_deref().unwrap_or("")) " (" (v.entries) " entries)"
            }
        },
    }
}

fn checkpoint_table(checkpoints: Result<Vec<CheckpointOut>, ApiError>) -> Markup {
    match checkpoints {
        Err(e) => html! { p.down { "Could not read the checkpoints: " (e.answer.message) " (" (e.answer.code) ")" } },
        Ok(list) if list.is_empty() => html! { p.muted { "No checkpoint has been signed yet." } },
        Ok(list) => html! {
            p.note { "The ledger signs its chain head and the Merkle root of its entries with its ed25519 key, as C2SP checkpoints (signed notes); anyone holding the public key can check an export against one offline (" code { "muster verify" } "). Each checkpoint below opens to its text as published, to hand to a third party." }
            table #checkpoints-table {
                tr { th.num { "Entry" } th { "Head hash" } th { "Merkle root" } th { "Recorded" } th { "Signature" } th { "Matches this replica" } th { "Key" } }
                @for c in &list {
                    tr {
                        td.num { details { summary { "#" (c.seq) } pre.published { (c.published) } } }
                        td { code title=(c.head_hash) { (c.head_hash.get(..16).unwrap_or(&c.head_hash)) "…" } }
                        td { @match &c.root { Some(root) => code title=(root) { (root.get(..16).unwrap_or(root)) "…" }, None => span.muted { "(first format: none)" } } }
                        td { (c.recorded_at) }
                        td { @if c.signature_ok { span.up { "valid" } } @else { strong.down { "INVALID" } } }
                        td { @match c.matches_replica { Some(true) => span.up { "yes" }, Some(false) => strong.down { "NO: a different history" }, None => span.muted { "not applied yet" } } }
                        td { code title=(c.public_key) { (c.public_key.get(..16).unwrap_or(&c.public_key)) "…" } }
                    }
                }
            }
        },
    }
}
