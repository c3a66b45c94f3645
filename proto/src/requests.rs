//! Query requests as they arrive over NATS (the query micro service) and
//! HTTP: JSON objects, one type per endpoint. Dates are `YYYY-MM-DD`.

use serde::{Deserialize, Serialize};

/// "What did the ledger say then": a sequence, or an RFC 3339 UTC time
/// (`2016-01-05T08:00:00Z`) mapped to the last sequence committed by then.
/// Neither: now.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct KnownAt {
    /// A ledger sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_at_seq: Option<u64>,
    /// A commit time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_at_time: Option<String>,
}

/// A query request's accepted JSON fields, for answering an unknown one
/// with the list (`unknown_field`) and for the index of the endpoints.
pub trait QueryRequest: serde::de::DeserializeOwned {
    /// Every field the request accepts, in the order documented.
    const FIELDS: &'static [&'static str];
}

// The `known_at` fields are written out in each request, not flattened
// from `KnownAt`: serde does not support `deny_unknown_fields` together
// with `flatten` (serde's attribute docs), and with it a misspelt
// `known_at=57` was passed over and answered as of now.
macro_rules! request {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
            /// A ledger sequence (see [`KnownAt`]).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub known_at_seq: Option<u64>,
            /// A commit time (see [`KnownAt`]).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub known_at_time: Option<String>,
        }

        impl $name {
            /// `known_at_seq` / `known_at_time` together.
            pub fn known_at(&self) -> KnownAt {
                KnownAt { known_at_seq: self.known_at_seq, known_at_time: self.known_at_time.clone() }
            }
        }

        impl QueryRequest for $name {
            const FIELDS: &'static [&'static str] = &[$(stringify!($field),)* "known_at_seq", "known_at_time"];
        }
    };
}

request!(
    /// `headcount`: a unit on a day.
    HeadcountRequest {
        /// Unit id.
        unit: String,
        /// Day.
        date: String,
        /// Roll up over the units below.
        #[serde(default)]
        rollup: bool,
    }
);
request!(
    /// `tree`: every active unit on a day.
    TreeRequest {
        /// Day.
        date: String,
    }
);
request!(
    /// `roster`: staff of a unit on a day.
    RosterRequest {
        /// Unit id.
        unit: String,
        /// Day.
        date: String,
    }
);
request!(
    /// `history`: a staff member's events.
    HistoryRequest {
        /// Staff id.
        staff: String,
    }
);
request!(
    /// `lineage`: a unit's mergers and splits.
    LineageRequest {
        /// Unit id.
        unit: String,
    }
);
request!(
    /// `series`: headcount between two days.
    SeriesRequest {
        /// Unit id.
        unit: String,
        /// First day.
        from: String,
        /// Last day.
        to: String,
        /// Roll up over the units below.
        #[serde(default)]
        rollup: bool,
    }
);

request!(
    /// `audit`: the front-line audit between two days.
    AuditRequest {
        /// D1.
        from: String,
        /// D2 (after D1).
        to: String,
        /// A subtree to audit (default: the whole ledger).
        #[serde(default)]
        scope: Option<String>,
    }
);

request!(
    /// `state`: the ledger state a `known_at` resolves to (none: the head).
    /// The workbench asks this first and pins every other question of a
    /// page to its `seq`, so a page is one consistent state.
    StateRequest {}
);

request!(
    /// `unit_events`: every accepted event that touched a unit (named it,
    /// or changed who is posted or working there), in timeline order.
    UnitEventsRequest {
        /// Unit id.
        unit: String,
    }
);

request!(
    /// `corrections`: a unit's subtree on a day as the ledger reported it
    /// at one point (`reported_at_*`) and as corrected at a later one
    /// (`known_at_*`, default now), with the events recorded in between
    /// that explain every difference.
    CorrectionsRequest {
        /// The scope: this unit and every unit below it on `date`.
        unit: String,
        /// The day whose headcounts are compared.
        date: String,
        /// "As reported": a ledger sequence …
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reported_at_seq: Option<u64>,
        /// … or a commit time (exactly one of the two).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reported_at_time: Option<String>,
    }
);

/// `checkpoints`: the latest signed checkpoints of the chain head.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsRequest {
    /// At most this many, newest first (default and limit:
    /// `limits::CHECKPOINTS_LISTED_MAX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl QueryRequest for CheckpointsRequest {
    const FIELDS: &'static [&'static str] = &["limit"];
}

/// `inclusion_proof`: that an entry is in the ledger's Merkle tree of a
/// given size. The entry by its event (`source` and `id`: the first entry
/// recorded under them) or by `seq`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofRequest {
    /// The event's source …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// … and id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Or the entry's sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The tree's size, a checkpoint's as a rule (default: the head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
}

impl QueryRequest for InclusionProofRequest {
    const FIELDS: &'static [&'static str] = &["source", "id", "seq", "tree_size"];
}

/// `consistency_proof`: that the ledger's tree of `from_size` entries is a
/// prefix of its tree of `to_size` (two checkpoints' sizes as a rule).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofRequest {
    /// The older tree's size.
    pub from_size: u64,
    /// The newer tree's size (default: the head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_size: Option<u64>,
}

impl QueryRequest for ConsistencyProofRequest {
    const FIELDS: &'static [&'static str] = &["from_size", "to_size"];
}

/// `evidence_entries`: entries by sequence, each with what proves it
/// offline: the chain hash of the entry before it (an entry's own is
/// SHA-256 of that and its body) and its inclusion in the Merkle tree of
/// `tree_size` entries (a checkpoint's). For evidence packs.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct EvidenceEntriesRequest {
    /// The entries, at most `limits::EVIDENCE_ENTRIES_PER_REQUEST_MAX`.
    pub seqs: Vec<u64>,
    /// The tree they are proven in.
    pub tree_size: u64,
}

impl QueryRequest for EvidenceEntriesRequest {
    const FIELDS: &'static [&'static str] = &["seqs", "tree_size"];
}

/// `receipt`: the outcome of one event.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    /// Its source.
    pub source: String,
    /// Its id.
    pub id: String,
}

impl QueryRequest for ReceiptRequest {
    const FIELDS: &'static [&'static str] = &["source", "id"];
}

/// `status` and `verify`: no fields (an empty body, or `{}`).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

impl QueryRequest for EmptyRequest {
    const FIELDS: &'static [&'static str] = &[];
}

/// `status`: how far a replica is behind the ledger.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct StatusAnswer {
    /// The last entry the ledger has published on its feed.
    pub ledger_seq: u64,
    /// The last entry this replica has applied.
    pub applied_seq: u64,
    /// `ledger_seq - applied_seq`.
    pub behind: u64,
    /// This replica's chain head hash, hex.
    pub head_hash: String,
    /// Whether every entry applied so far verified against the chain.
    pub chain_ok: bool,
}

/// `verify`: the replica re-walked its copy of the chain.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct VerifyAnswer {
    /// Whether the chain is whole.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// The head hash, hex (when ok).
    pub head_hash: Option<String>,
    /// The first bad sequence (when not ok).
    pub first_bad_seq: Option<u64>,
    /// What is wrong (when not ok).
    pub reason: Option<String>,
}

impl VerifyAnswer {
    /// A whole chain of `entries`, ending at `head_hash` (hex).
    pub fn whole(entries: u64, head_hash: String) -> VerifyAnswer {
        VerifyAnswer { ok: true, entries, head_hash: Some(head_hash), first_bad_seq: None, reason: None }
    }

    /// A chain broken at `first_bad_seq`, of `entries` in all.
    pub fn broken(entries: u64, first_bad_seq: u64, reason: String) -> VerifyAnswer {
        VerifyAnswer { ok: false, entries, head_hash: None, first_bad_seq: Some(first_bad_seq), reason: Some(reason) }
    }
}

/// Any endpoint's error: a stable code and a message (the codes:
/// proto/README.md, "Query errors").
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct ErrorAnswer {
    /// `bad_request`, `unknown_field`, `unit_unknown`, `staff_unknown`,
    /// `not_found`, `method_not_allowed`, `not_yet_applied` or `internal`.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// With `unknown_field`: the field (or query parameter) not understood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `unknown_field`: every field the endpoint accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Vec<String>>,
}
