//! The command line: the global options and every subcommand with its
//! arguments, as clap parses them. Rationale: kept apart from what the
//! commands do, so the whole surface can be read (and checked for
//! descriptions) in one place.

use crate::output::Format;
use clap::{Parser, Subcommand, ValueEnum};
use muster_domain::Date;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "muster",
    version,
    about = "Muster: an event-sourced staffing ledger",
    after_help = muster_bus::service::Exit::help()
)]
pub(crate) struct Cli {
    /// The local ledger directory (sled) [env: MUSTER_LEDGER; default:
    /// data/ledger]. Queries need it to exist; only `import` creates it.
    #[arg(long, global = true)]
    pub(crate) ledger: Option<PathBuf>,
    /// Ask the query service over NATS at these URLs instead of a local
    /// ledger (comma-separated) [env: MUSTER_NATS_URL, then NATS_URL, used
    /// when no ledger directory is named].
    #[arg(long, alias = "nats", global = true, value_delimiter = ',', conflicts_with = "ledger")]
    pub(crate) nats_url: Option<Vec<String>>,
    /// Subject prefix of the ledger, with --nats-url.
    #[arg(long, global = true, env = "MUSTER_PREFIX", default_value = "muster")]
    pub(crate) prefix: String,
    /// NATS credentials, TLS and connect timeout, with --nats-url.
    #[command(flatten)]
    pub(crate) auth: muster_bus::service::NatsAuthArgs,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Table)]
    pub(crate) format: FormatArg,
    /// With --format csv: start the output with a UTF-8 byte order mark,
    /// so spreadsheets (Excel) read non-ASCII names correctly.
    #[arg(long, global = true)]
    pub(crate) bom: bool,
    /// With a query: also show, on stderr, the ledger state each answer
    /// was computed at (entry, Merkle tree size and root), to compare with
    /// a signed checkpoint.
    #[arg(long, global = true)]
    pub(crate) proof: bool,
    /// Log as JSON lines instead of text (logs go to stderr).
    #[arg(long, global = true)]
    pub(crate) log_json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The witnesses whose cosignatures a checkpoint must carry (`prove`,
/// `verify`).
#[derive(clap::Args)]
pub(crate) struct Witnessed {
    /// A witness whose cosignature counts: its verifier key
    /// (name+id+base64, as `muster witness` logs it). Repeat for each.
    #[arg(long = "witness", value_name = "VKEY")]
    pub(crate) witnesses: Vec<String>,
    /// How many of the witnesses named must have cosigned each checkpoint
    /// given (default: all of them); fewer is exit 8.
    #[arg(long = "witnesses", value_name = "N", requires = "witnesses")]
    pub(crate) required: Option<usize>,
}

/// The days and scope of an audit (`audit`, `evidence`).
#[derive(clap::Args)]
pub(crate) struct Between {
    /// The first day, YYYY-MM-DD.
    #[arg(long)]
    pub(crate) from: Date,
    /// The last day, YYYY-MM-DD.
    #[arg(long)]
    pub(crate) to: Date,
    /// Audit only this unit's subtree.
    #[arg(long)]
    pub(crate) scope: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// Aligned columns, for people.
    Table,
    /// JSON, as the query service answers.
    Json,
    /// CSV with a header row.
    Csv,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Import a JSONL file of CloudEvents (one per line; `-` for stdin), or
    /// a CSV file of events (proto/README.md, "CSV input") into the local
    /// ledger, creating it if needed.
    Import {
        /// The file: `.jsonl`, `.csv`, or - for stdin (JSONL).
        file: PathBuf,
        /// For CSV rows without a source column: their source.
        #[arg(long)]
        source: Option<String>,
        /// Write the receipts of rejected events here, as JSON lines.
        #[arg(long)]
        rejections: Option<PathBuf>,
        /// Exit with 3 if any event was rejected.
        #[arg(long)]
        strict: bool,
    },
    /// Posted and working headcount of a unit on a day.
    Headcount {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: Date,
        /// Include every unit below it, as the tree stood that day.
        #[arg(long)]
        rollup: bool,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Every active unit on a day with its counts.
    Tree {
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: Date,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Staff posted at or working in a unit on a day.
    Roster {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: Date,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Every event that touched a staff member.
    History {
        /// The staff member's id.
        #[arg(long)]
        staff: String,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// The mergers and splits a unit came from and went into.
    Lineage {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// Headcount of a unit on every day it changed between two dates.
    Series {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// The first day, YYYY-MM-DD.
        #[arg(long)]
        from: Date,
        /// The last day, YYYY-MM-DD.
        #[arg(long)]
        to: Date,
        /// Include every unit below it.
        #[arg(long)]
        rollup: bool,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
    },
    /// The front-line audit between two days: strength, moves by cause,
    /// paper moves, round trips, quotas, and the arithmetic.
    Audit {
        #[command(flatten)]
        between: Between,
        /// What the ledger said at this sequence or time (RFC 3339, UTC).
        #[arg(long)]
        known_at: Option<String>,
        /// Also write a self-contained HTML report (charts included) here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Also write the audit as an XLSX workbook (one table a sheet,
        /// each filterable) here.
        #[arg(long)]
        xlsx: Option<PathBuf>,
        /// List every move in the table.
        #[arg(long)]
        moves: bool,
    },
    /// The receipt of one event.
    Receipt {
        /// The event's source, e.g. hr/nanhu.
        #[arg(long)]
        source: String,
        /// The event's id.
        #[arg(long)]
        id: String,
    },
    /// Prove, with the ledger's Merkle tree, that an event's entry is in
    /// the tree a checkpoint signs (--source/--id or --seq, --checkpoint),
    /// or that one checkpoint's tree is a prefix of another's (--from,
    /// --to). Each proof is verified here against the checkpoints' signed
    /// roots; one that does not verify is exit 8.
    Prove {
        /// The event's source …
        #[arg(long, requires = "id", conflicts_with_all = ["seq", "from"])]
        source: Option<String>,
        /// … and id.
        #[arg(long, requires = "source")]
        id: Option<String>,
        /// Or the entry's sequence.
        #[arg(long, conflicts_with = "from")]
        seq: Option<u64>,
        /// The checkpoint whose tree the entry is proven in (default: the
        /// tree at the head, unsigned).
        #[arg(long, requires = "public_key", conflicts_with = "from")]
        checkpoint: Option<PathBuf>,
        /// The older checkpoint of a consistency proof …
        #[arg(long, requires_all = ["to", "public_key"])]
        from: Option<PathBuf>,
        /// … and the newer.
        #[arg(long, requires = "from")]
        to: Option<PathBuf>,
        /// The ledger's public key the checkpoints must be signed by (hex).
        #[arg(long)]
        public_key: Option<String>,
        #[command(flatten)]
        witnessed: Witnessed,
        /// Also write the proof to this file, to be checked offline with
        /// `muster verify --proof-file`: an entry's with the entry itself (a
        /// checkpoint needed), or the consistency proof.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Re-walk the hash chain on disk; or, with --export, check an export
    /// file offline (no ledger, no service).
    Verify {
        /// The export to check (`muster export`), or - for stdin.
        #[arg(long)]
        export: Option<PathBuf>,
        /// With --export: a checkpoint the ledger signed (a C2SP signed
        /// note, or the first format's JSON); the export must reach its
        /// entry with exactly its hash, and its entries make its Merkle root.
        /// With --proof-file: the checkpoint the proof leads to.
        #[arg(long, requires = "public_key")]
        checkpoint: Option<PathBuf>,
        /// Or a proof file (`muster prove --out`), checked offline against
        /// --checkpoint: an entry, hashed and proven in its tree; or a
        /// consistency proof from the older checkpoint --from.
        #[arg(long, conflicts_with_all = ["export", "evidence"], requires_all = ["checkpoint", "public_key"])]
        proof_file: Option<PathBuf>,
        /// With --proof-file: the older checkpoint of a consistency proof.
        #[arg(long, requires = "proof_file")]
        from: Option<PathBuf>,
        /// Or an evidence pack (`muster evidence`: the zip, or the
        /// directory it was unpacked to), checked offline: its checkpoint's
        /// signature, every entry and proof, that the cited events are
        /// the ones the figures count; whatever fails is named (exit 8).
        #[arg(long, conflicts_with = "export", requires = "public_key")]
        evidence: Option<PathBuf>,
        /// The ledger's public key the checkpoint must be signed by (hex),
        /// as given to the auditor out of band.
        #[arg(long)]
        public_key: Option<String>,
        #[command(flatten)]
        witnessed: Witnessed,
    },
    /// An evidence pack of the front-line audit between two days: the
    /// audit (JSON, CSV, HTML) computed under a signed checkpoint, every
    /// event it cites with its Merkle inclusion proof, a manifest of
    /// hashes; one zip for a third party to check with `muster verify
    /// --evidence` and the ledger's public key.
    Evidence {
        #[command(flatten)]
        between: Between,
        /// The checkpoint to compute it under (a C2SP signed note; default:
        /// the newest the query service holds and has applied).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Where to write the pack (a .zip).
        #[arg(long)]
        out: PathBuf,
        /// Check the pack against this key (hex) once written.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Witness the ledger's checkpoints (with --nats-url): accept each new
    /// one only with a consistency proof from the last accepted (kept in
    /// --state), cosign it with this key and publish it on
    /// <prefix>.witness.cosigned. When the ledger signs two histories that
    /// do not extend each other: log at error, publish an alarm on
    /// <prefix>.witness.alarm, exit 9.
    Witness {
        /// The witness's name in its cosignatures, e.g.
        /// witness.example.org/w1 (no '+', no spaces).
        #[arg(long)]
        name: String,
        /// The witness's own signing key (`muster keygen`).
        #[arg(long, env = "MUSTER_WITNESS_KEY")]
        signing_key: PathBuf,
        /// The ledger's public key (hex) its checkpoints must be signed by.
        #[arg(long)]
        public_key: String,
        /// The file where the witness keeps the last checkpoint it accepted
        /// (made on the first run, when the first checkpoint seen is taken
        /// as the start).
        #[arg(long)]
        state: PathBuf,
        /// Seconds between looks at the checkpoints.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// Look once, then exit (0, or 9 on a fork).
        #[arg(long)]
        once: bool,
    },
    /// Sign the local ledger's head and Merkle root with a key file: a
    /// C2SP checkpoint (signed note) to hand out with an export; its
    /// origin is muster/<--prefix>.
    Checkpoint {
        /// The ledger's signing key (`muster keygen`).
        #[arg(long, env = "MUSTER_SIGNING_KEY")]
        signing_key: PathBuf,
    },
    /// Make a new ed25519 signing key: writes its secret to FILE (mode
    /// 0600), prints the public key auditors are to trust.
    Keygen {
        /// Where to write the secret key (must not exist).
        file: PathBuf,
    },
    /// Print the NATS subjects of SOURCE under --prefix (intake, receipts,
    /// lookup), to scope an HR system's NATS user to its own sources.
    Subjects {
        /// The events' `source`, e.g. hr/nanhu.
        source: String,
    },
    /// Print the `accounts` block of a nats-server configuration with
    /// least-privilege users for the organisations of these subject
    /// prefixes (ops/nats/secure.conf includes it as accounts.conf).
    NatsAccounts {
        /// One subject prefix per organisation, e.g. bureau-a bureau-b.
        #[arg(required = true)]
        prefixes: Vec<String>,
    },
    /// Write every entry, checked as it is read, as an export an auditor
    /// can check offline (`muster verify --export FILE`).
    Export {
        /// Where (default: stdout).
        file: Option<PathBuf>,
    },
    /// How far a query replica is behind the ledger (with --nats-url).
    Status,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Format {
        match format {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_option_has_a_description() {
        assert_eq!(muster_bus::service::undescribed_options(&Cli::command()), Vec::<String>::new());
    }

    /// clap's own check of the whole command line: two arguments of one
    /// name (a global flag and a subcommand's), a `requires` naming no
    /// argument. Rationale: clap finds these only when the command runs,
    /// as a panic.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
