//! Muster's NATS JetStream topology, in one place: stream names, subjects,
//! header names, and how every service connects.
//!
//! ```text
//! <prefix>.intake.<source token>          MUSTER_INTAKE      events from HR systems (dedupe window)
//! <prefix>.receipts.<source token>        (core NATS)        the receipts of one committed batch and source
//! <prefix>.lookup.<source token>          (request/reply)    the ledger answers: the receipt of (source, id)
//! <prefix>.feed                           MUSTER_FEED        every ledger entry, one stored block per message
//! <prefix>.deadletter                     MUSTER_DEADLETTER  messages with no usable event id
//! <prefix>.checkpoints                    MUSTER_CHECKPOINTS the chain head, signed by the ledger
//! <prefix>.query.<endpoint>               (micro service)    the query service
//! $KV.<PREFIX>_LEASE.ledger               KV_<PREFIX>_LEASE  which ledger service is active (failover)
//! ```
//!
//! **Invariant:** the feed carries the ledger's blocks in order, each once:
//! the ledger publishes each block with `Nats-Expected-Last-Sequence` set
//! to the feed message before it, so a gap, a duplicate or a second writer
//! is refused by the server; each message names the ledger sequences it
//! carries (`Muster-First-Seq`, `Muster-Seq`), and the block's header links
//! it to the entry before.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod permissions;
pub mod service;

use async_nats::jetstream::{self, stream};
use sha2::{Digest, Sha256};
use std::time::Duration;

// An intake message's headers are part of the contract (`proto/`).
pub use muster_proto::intake::{CONTENT_TYPE_HEADER, ID_HEADER, SOURCE_HEADER};
/// On feed messages: the last ledger sequence in the block it carries.
pub const SEQ_HEADER: &str = "Muster-Seq";
/// On feed messages: the instance name of the ledger service that wrote
/// it (several take turns with failover).
pub const WRITER_HEADER: &str = "Muster-Writer";
/// On feed messages: the first ledger sequence in the block.
pub const FIRST_SEQ_HEADER: &str = "Muster-First-Seq";

/// How long JetStream remembers a `Nats-Msg-Id` to drop a re-publish
/// (`limits::DUPLICATE_WINDOW_SECS`).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(muster_proto::limits::DUPLICATE_WINDOW_SECS);

/// The header a checkpoint's publisher names its signer in: the note
/// verifier key (`name+keyid+base64(key)`) it signed with. It says which
/// key signed, not whose to trust: auditors and witnesses are given the
/// ledger's key out of band.
pub const CHECKPOINT_SIGNER_HEADER: &str = "Muster-Checkpoint-Signer";

/// Names of one deployment's streams and subjects. `prefix` lets several
/// independent ledgers share one NATS account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// Subject prefix, e.g. `muster`.
    pub prefix: String,
    /// Stream-name prefix, e.g. `MUSTER`.
    pub stream_prefix: String,
}

impl Default for Topology {
    fn default() -> Topology {
        Topology::new("muster")
    }
}

/// A subject-safe token for a text: hex of its SHA-256, shortened.
/// Rationale: sources and ids may hold `.`, `*`, `>` or spaces, which NATS
/// subjects cannot; a hash keeps every key addressable.
fn token<T: AsRef<[u8]>>(parts: &[T], hex_chars: usize) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        let part = part.as_ref();
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(hex_chars)
        .map(|n| char::from_digit(n.into(), 16).unwrap())
        .collect()
}

impl Topology {
    /// The origin line (and signing key name) of this ledger's C2SP
    /// checkpoints: `muster/<prefix>`, unique per organisation.
    pub fn checkpoint_origin(&self) -> String {
        format!("muster/{}", self.prefix)
    }

    /// Whether `prefix` can name a deployment: one subject token of
    /// letters, digits, `-` and `_`.
    pub fn is_valid_prefix(prefix: &str) -> bool {
        !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    /// A topology under `prefix` (lower case letters, digits, `-`, `_`).
    pub fn new(prefix: &str) -> Topology {
        assert!(Topology::is_valid_prefix(prefix), "a subject prefix is one token of letters, digits, - and _");
        Topology { prefix: prefix.to_owned(), stream_prefix: prefix.to_ascii_uppercase().replace('-', "_") }
    }

    /// The key-value bucket of the ledger lease (which ledger service is
    /// active, with `--failover`).
    pub fn lease_bucket(&self) -> String {
        format!("{}_LEASE", self.stream_prefix)
    }
    /// Stream of incoming events.
    pub fn intake_stream(&self) -> String {
        format!("{}_INTAKE", self.stream_prefix)
    }
    /// Stream of ledger entries.
    pub fn feed_stream(&self) -> String {
        format!("{}_FEED", self.stream_prefix)
    }
    /// Stream of dead letters.
    pub fn deadletter_stream(&self) -> String {
        format!("{}_DEADLETTER", self.stream_prefix)
    }
    /// Stream of signed checkpoints.
    pub fn checkpoints_stream(&self) -> String {
        format!("{}_CHECKPOINTS", self.stream_prefix)
    }

    /// The token that stands for `source` in its subjects (the last token
    /// of its intake, receipts and lookup subjects).
    pub fn source_token(source: &str) -> String {
        token(&[source], 16)
    }

    /// Whether `subject` (an intake or lookup subject) is `source`'s own.
    /// Rationale: permissions scope a publisher by subject; the ledger
    /// takes an event only on its own source's subject, so a publisher
    /// allowed one source's subjects cannot record, or ask about, events of
    /// another.
    pub fn subject_is_of(subject: &str, source: &str) -> bool {
        subject.rsplit('.').next() == Some(Topology::source_token(source).as_str())
    }

    /// Where a publisher sends events of `source`.
    pub fn intake_subject(&self, source: &str) -> String {
        format!("{}.intake.{}", self.prefix, Topology::source_token(source))
    }
    /// Everything the ledger consumes.
    pub fn intake_filter(&self) -> String {
        format!("{}.intake.>", self.prefix)
    }
    /// Where the ledger sends the receipts of `source`'s events: one core
    /// NATS message per committed batch (a JSON array, in submission
    /// order), what a publisher listens to.
    ///
    /// Rationale: a receipt is derived from the ledger, which keeps every
    /// outcome forever and answers lookups ([`Topology::lookup_subject`]);
    /// storing each receipt again in a stream cost the server one write
    /// per event, as much as the event itself. A publisher that missed a
    /// batch looks its events up.
    pub fn receipts_subject(&self, source: &str) -> String {
        format!("{}.receipts.{}", self.prefix, Topology::source_token(source))
    }
    /// Where a receipt of `source` is looked up (request: JSON
    /// `{"source": …, "id": …}`; reply: the receipt, or `null` when the
    /// ledger never recorded it). Per source, so permissions can scope a
    /// publisher to its own.
    pub fn lookup_subject(&self, source: &str) -> String {
        format!("{}.lookup.{}", self.prefix, Topology::source_token(source))
    }
    /// Every lookup subject: what the ledger serves.
    pub fn lookup_filter(&self) -> String {
        format!("{}.lookup.*", self.prefix)
    }
    /// The ledger feed.
    pub fn feed_subject(&self) -> String {
        format!("{}.feed", self.prefix)
    }
    /// Dead letters.
    pub fn deadletter_subject(&self) -> String {
        format!("{}.deadletter", self.prefix)
    }
    /// Signed checkpoints of the chain head (JSON, `muster_proto::checkpoint`).
    pub fn checkpoints_subject(&self) -> String {
        format!("{}.checkpoints", self.prefix)
    }
    /// Where witnesses publish the checkpoints they cosigned (each a
    /// signed note with the ledger's signature and the witness's).
    pub fn witness_cosigned_subject(&self) -> String {
        format!("{}.witness.cosigned", self.prefix)
    }
    /// Where a witness raises its alarm: two signed checkpoints that are
    /// not one history (JSON, `muster_proto::witness::WitnessAlarm`).
    pub fn witness_alarm_subject(&self) -> String {
        format!("{}.witness.alarm", self.prefix)
    }
    /// The query service's subject group.
    pub fn query_group(&self) -> String {
        format!("{}.query", self.prefix)
    }

    /// `Nats-Msg-Id` of a message carrying event (source, id) as
    /// `payload`: all three, so JetStream drops only an exact re-publish.
    /// Rationale: JetStream drops a message whose id it has seen whatever
    /// its content; an id of (source, id) alone made it drop a *changed*
    /// event under a used id, which the ledger must see and reject
    /// (`duplicate_id_different_content`). The same content in other bytes
    /// (key order, white space) still reaches the ledger, which answers it
    /// as the duplicate it is.
    pub fn message_id(source: &str, id: &str, payload: &[u8]) -> String {
        token(&["event".as_bytes(), source.as_bytes(), id.as_bytes(), payload], 40)
    }

    /// `Nats-Msg-Id` of a batched message of `source`'s events: the source
    /// and the whole payload (which holds every event), so only a
    /// re-publish of the very same batch is dropped.
    pub fn batch_message_id(source: &str, payload: &[u8]) -> String {
        token(&["batch".as_bytes(), source.as_bytes(), payload], 40)
    }

    /// Creates the streams if missing (and checks they exist). Idempotent.
    pub async fn ensure_streams(&self, js: &jetstream::Context, replicas: usize) -> Result<(), async_nats::Error> {
        let file = |name: String, subjects: Vec<String>| stream::Config {
            name,
            subjects,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        };
        let configs = [
            stream::Config {
                duplicate_window: DUPLICATE_WINDOW,
                max_message_size: (muster_payload_bytes_max() + 4096) as i32,
                // Publishers' fast-ingest batches (ADR-50): a source's
                // messages pipelined, stored in order (proto/README.md).
                allow_batch_publish: true,
                ..file(self.intake_stream(), vec![self.intake_filter()])
            },
            stream::Config {
                deny_delete: true,
                deny_purge: true,
                ..file(self.feed_stream(), vec![self.feed_subject()])
            },
            stream::Config { allow_direct: true, ..file(self.deadletter_stream(), vec![self.deadletter_subject()]) },
            // Evidence: nothing in it may be taken back; auditors read the last.
            stream::Config {
                allow_direct: true,
                deny_delete: true,
                deny_purge: true,
                ..file(self.checkpoints_stream(), vec![self.checkpoints_subject()])
            },
        ];
        for config in configs {
            let (name, subjects) = (config.name.clone(), config.subjects.clone());
            let batched = config.allow_batch_publish;
            let stream = js.get_or_create_stream(config).await?;
            // A stream of that name made for other subjects is another
            // deployment's: prefixes `bureau-a` and `bureau_a` both name
            // streams BUREAU_A_*. Sharing it would mix two ledgers (and
            // changing it below would change theirs).
            let found = &stream.cached_info().config.subjects;
            if *found != subjects {
                return Err(Box::new(StreamOfAnother(format!(
                    "stream {name} exists for subjects {found:?}, not {subjects:?}: another deployment's (prefix {:?} names streams {}_*)",
                    self.prefix, self.stream_prefix
                ))));
            }
            // An intake made before publishers could batch: turned on.
            if batched && !stream.cached_info().config.allow_batch_publish {
                let config = stream::Config { allow_batch_publish: true, ..stream.cached_info().config.clone() };
                js.update_stream(config).await?;
            }
        }
        Ok(())
    }
}

/// A stream this deployment would use exists for another deployment's
/// subjects (two prefixes that name the same streams): no session can
/// mend it.
#[derive(Debug)]
pub struct StreamOfAnother(pub String);

impl std::fmt::Display for StreamOfAnother {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamOfAnother {}

/// Where the feed ends: its last message's stream sequence and the last
/// ledger sequence that message carries (both 0 for an empty feed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FeedTip {
    /// The feed stream's last sequence.
    pub message_seq: u64,
    /// The last ledger entry on the feed.
    pub ledger_seq: u64,
}

/// Reads the feed's tip from the server.
pub async fn feed_tip(js: &jetstream::Context, topology: &Topology) -> Result<FeedTip, async_nats::Error> {
    Ok(feed_end(js, topology).await?.0)
}

/// The feed's tip and its last message's payload (the last stored block;
/// empty for an empty feed), read once.
pub async fn feed_end(js: &jetstream::Context, topology: &Topology) -> Result<(FeedTip, Vec<u8>), async_nats::Error> {
    let mut feed = js.get_stream(topology.feed_stream()).await?;
    let message_seq = feed.info().await?.state.last_sequence;
    if message_seq == 0 {
        return Ok((FeedTip::default(), Vec::new()));
    }
    let last = feed.get_raw_message(message_seq).await?;
    let ledger_seq = last
        .headers
        .get(SEQ_HEADER)
        .and_then(|v| v.as_str().parse().ok())
        .ok_or_else(|| format!("feed message {message_seq} has no {SEQ_HEADER} header"))?;
    Ok((FeedTip { message_seq, ledger_seq }, last.payload.to_vec()))
}

/// The largest event payload, mirrored here to size the intake stream.
/// Kept equal to `muster_proto::limits::PAYLOAD_BYTES_MAX` (asserted by
/// the services at start-up) without making this crate depend on proto.
pub const fn muster_payload_bytes_max() -> usize {
    1024 * 1024
}

/// How to reach NATS.
#[derive(Clone, Debug, Default)]
pub struct ConnectConfig {
    /// Server URLs, e.g. `nats://127.0.0.1:4222` (`tls://…` to insist on
    /// TLS).
    pub urls: Vec<String>,
    /// A name the server shows for this connection.
    pub name: String,
    /// Who this client is, when the server asks (see ops/nats/secure.conf).
    pub auth: Auth,
    /// TLS: the CA to trust, and this client's certificate and key (a
    /// server with `verify_and_map` takes the user from the certificate).
    pub tls: TlsConfig,
    /// The prefix of this client's reply subjects (`_INBOX` if none).
    /// Rationale: with one prefix per role, each user may subscribe to its
    /// own replies only — with `_INBOX.>` for all, any client could read
    /// another's answers, and the feed messages a replica pulls.
    pub inbox_prefix: Option<String>,
    /// How long the first connection may take (none: retry until it
    /// succeeds). Reconnections later are always retried.
    pub connect_timeout: Option<Duration>,
}

/// A client's credentials. Rationale: the three ways a nats-server
/// configured by file or by operator names its users, so Muster fits the
/// deployment rather than the other way round.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// None beyond a TLS client certificate, if any.
    #[default]
    None,
    /// A user and password (`authorization { users = [...] }`).
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A JWT credentials file (operator mode, `nsc`).
    CredentialsFile(std::path::PathBuf),
    /// A file holding an nkey seed (`SU…`).
    NkeySeedFile(std::path::PathBuf),
}

/// TLS settings of a client.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// PEM CA certificate(s) to trust for the server's certificate; set:
    /// TLS is required.
    pub ca: Option<std::path::PathBuf>,
    /// PEM client certificate (with `key`).
    pub cert: Option<std::path::PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<std::path::PathBuf>,
}

/// Why no connection could be made: bad settings, or the server refused.
#[derive(Debug)]
pub struct ConnectError(pub String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// Connects, retrying the first connection too, so services can start
/// before the server — for `connect_timeout` at most: then an error saying
/// the server was not reached.
pub async fn connect(config: &ConnectConfig) -> Result<async_nats::Client, ConnectError> {
    Ok(connect_watched(config).await?.0)
}

/// [`connect`], also counting the connections made: the receiver's value
/// changes whenever the client has (re)connected. Rationale: a server that
/// restarted may hold less than before (what it had not yet synced), so a
/// service that keeps a position in its streams re-derives it after every
/// reconnection instead of trusting what it had.
pub async fn connect_watched(
    config: &ConnectConfig,
) -> Result<(async_nats::Client, tokio::sync::watch::Receiver<u64>), ConnectError> {
    let urls: Vec<async_nats::ServerAddr> = config
        .urls
        .iter()
        .map(|u| u.parse())
        .collect::<Result<_, _>>()
        .map_err(|e| ConnectError(format!("a NATS URL in {:?}: {e}", config.urls)))?;
    let (count, connections) = tokio::sync::watch::channel(0u64);
    let mut options = async_nats::ConnectOptions::new()
        .name(&config.name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            if event == async_nats::Event::Connected {
                count.send_modify(|n| *n += 1);
            }
            std::future::ready(())
        });
    options = match &config.auth {
        Auth::None => options,
        Auth::UserPassword { user, password } => options.user_and_password(user.clone(), password.clone()),
        Auth::CredentialsFile(path) => options
            .credentials_file(path)
            .await
            .map_err(|e| ConnectError(format!("credentials file {}: {e}", path.display())))?,
        Auth::NkeySeedFile(path) => {
            let seed = std::fs::read_to_string(path)
                .map_err(|e| ConnectError(format!("nkey seed file {}: {e}", path.display())))?;
            options.nkey(seed.trim().to_owned())
        }
    };
    if let Some(prefix) = &config.inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    let tls = &config.tls;
    if let Some(ca) = &tls.ca {
        options = options.require_tls(true).add_root_certificates(ca.clone());
    }
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => options = options.add_client_certificate(cert.clone(), key.clone()),
        (None, None) => {}
        _ => return Err(ConnectError("a TLS client certificate needs its key, and a key its certificate".into())),
    }
    let client =
        options.connect(urls).await.map_err(|e| ConnectError(format!("connecting to {:?}: {e}", config.urls)))?;
    // Connected before anything is asked of the server; and the first
    // connection, counted now, is not taken for a reconnection later.
    let mut connections = connections;
    let connected = connections.wait_for(|made| *made > 0);
    let waited = match config.connect_timeout {
        Some(limit) => tokio::time::timeout(limit, connected).await.map_err(|_| {
            ConnectError(format!(
                "NATS at {} not reachable within {:.1} s (is nats-server running there? \
                 --connect-timeout-ms sets the wait)",
                config.urls.join(","),
                limit.as_secs_f64()
            ))
        })?,
        None => connected.await,
    };
    waited.map_err(|_| ConnectError(format!("the connection to {:?} closed", config.urls)))?;
    connections.mark_unchanged();
    Ok((client, connections))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same (source, id) with other content must reach the ledger:
    /// JetStream drops any message whose id it has seen.
    #[test]
    fn a_changed_event_under_a_used_id_has_another_message_id() {
        let first = Topology::message_id("hr/a", "e1", br#"{"effectivedate":"2015-01-01"}"#);
        assert_eq!(first, Topology::message_id("hr/a", "e1", br#"{"effectivedate":"2015-01-01"}"#));
        assert_ne!(first, Topology::message_id("hr/a", "e1", br#"{"effectivedate":"2015-01-02"}"#));
        assert_ne!(Topology::batch_message_id("hr/a", b"[1]"), Topology::batch_message_id("hr/b", b"[1]"));
    }

    #[test]
    fn subjects_are_valid_whatever_the_ids() {
        let t = Topology::default();
        for subject in [
            t.receipts_subject("hr/nanhu sub.bureau>*"),
            t.lookup_subject("hr/nanhu sub.bureau>*"),
            t.intake_subject("a.b c>*"),
        ] {
            assert!(subject.split('.').all(|tok| !tok.is_empty() && !tok.contains([' ', '*', '>'])), "{subject}");
        }
        assert_eq!(t.lookup_subject("x").split('.').count(), t.lookup_filter().split('.').count());
        assert_ne!(Topology::message_id("a", "bc", b"{}"), Topology::message_id("ab", "c", b"{}"));
        assert_ne!(Topology::batch_message_id("a", b"b"), Topology::message_id("a", "b", b""));
        assert_ne!(Topology::batch_message_id("a", b"[1]"), Topology::batch_message_id("a", b"[2]"));
        assert!(Topology::subject_is_of(&t.intake_subject("hr/a"), "hr/a"));
        assert!(Topology::subject_is_of(&t.lookup_subject("hr/a"), "hr/a"));
        assert!(Topology::subject_is_of(&t.receipts_subject("hr/a"), "hr/a"));
        assert!(!Topology::subject_is_of(&t.intake_subject("hr/a"), "hr/b"));
    }
}
