//! What every Muster service does at start-up: read an optional config
//! file, set up logging.
//!
//! Settings come from flags, then environment variables, then a config
//! file, then defaults. The config file is `KEY=VALUE` lines using the
//! environment variable names (`MUSTER_NATS_URL=nats://…`); `#` starts a
//! comment. Rationale: one set of names for all three places, documented
//! once in `ops/README.md`, and no config parser to maintain.
//!
//! The NATS URL also falls back on the standard `NATS_URL` (the `nats`
//! tool's): `--nats-url`, then `MUSTER_NATS_URL`, then `NATS_URL`, then
//! the config file, then `nats://127.0.0.1:4222`.
//!
//! Every binary ends with a code of [`Exit`]: one table for all four.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The settings every Muster service and tool shares; flattened into each
/// one's own `Args`.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// A file of MUSTER_*=value lines.
    #[arg(long, env = "MUSTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// NATS server URLs, comma-separated (also from NATS_URL).
    #[arg(long, env = "MUSTER_NATS_URL", default_value = "nats://127.0.0.1:4222", value_delimiter = ',')]
    pub nats_url: Vec<String>,
    /// Subject prefix of the ledger's streams (one per independent ledger).
    #[arg(long, env = "MUSTER_PREFIX", default_value = "muster")]
    pub prefix: String,
    /// Log JSON lines instead of text.
    #[arg(long, env = "MUSTER_LOG_JSON")]
    pub log_json: bool,
    /// Credentials and TLS.
    #[command(flatten)]
    pub auth: NatsAuthArgs,
}

/// Who a client is to NATS, its TLS settings (ops/nats/secure.conf,
/// ops/README.md) and how long it tries to connect. Global, so the
/// `muster` tool takes them after its subcommand too.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NatsAuthArgs {
    /// How long to try reaching NATS at start before giving up (exit 7),
    /// milliseconds; 0: keep trying (for services a supervisor starts
    /// before the server). Reconnections later are always retried.
    #[arg(long, global = true, env = "MUSTER_CONNECT_TIMEOUT_MS", default_value_t = CONNECT_TIMEOUT_MS)]
    pub connect_timeout_ms: u64,
    /// NATS user (with `--nats-password`).
    #[arg(long, global = true, env = "MUSTER_NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password (prefer the environment or the config file to a flag,
    /// which other users of the machine can see).
    #[arg(long, global = true, env = "MUSTER_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// A NATS JWT credentials file (operator mode).
    #[arg(long, global = true, env = "MUSTER_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// A file holding this client's NATS nkey seed.
    #[arg(long, global = true, env = "MUSTER_NATS_NKEY")]
    pub nats_nkey: Option<PathBuf>,
    /// PEM CA certificate to trust for the server; set: TLS required.
    #[arg(long, global = true, env = "MUSTER_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// PEM client certificate, for servers that verify clients (and may
    /// take the user from it).
    #[arg(long, global = true, env = "MUSTER_NATS_TLS_CERT")]
    pub nats_tls_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, global = true, env = "MUSTER_NATS_TLS_KEY")]
    pub nats_tls_key: Option<PathBuf>,
    /// Prefix of this client's reply subjects (`_INBOX_<prefix>_<role>` with
    /// ops/nats/secure.conf; default `_INBOX`).
    #[arg(long, global = true, env = "MUSTER_NATS_INBOX_PREFIX")]
    pub nats_inbox_prefix: Option<String>,
}

impl CommonArgs {
    /// Settings for a server at `url` with the default prefix.
    pub fn for_url(url: &str) -> CommonArgs {
        CommonArgs {
            config: None,
            nats_url: vec![url.to_owned()],
            prefix: "muster".into(),
            log_json: false,
            auth: NatsAuthArgs::default(),
        }
    }

    /// How this service connects, named `name` on the server.
    pub fn connect_config(&self, name: &str) -> Result<crate::ConnectConfig, ConfigError> {
        self.auth.connect_config(self.nats_url.clone(), name)
    }
}

/// Default of `--connect-timeout-ms` (`limits::CONNECT_TIMEOUT_MS`).
pub const CONNECT_TIMEOUT_MS: u64 = muster_proto::limits::CONNECT_TIMEOUT_MS;

impl NatsAuthArgs {
    /// How to connect to `urls`, named `name` on the server. Errors when
    /// a URL does not parse, or the credentials are half given or given
    /// twice.
    pub fn connect_config(&self, urls: Vec<String>, name: &str) -> Result<crate::ConnectConfig, ConfigError> {
        use crate::Auth;
        if let Some((url, e)) =
            urls.iter().find_map(|url| url.parse::<async_nats::ServerAddr>().err().map(|e| (url, e)))
        {
            return Err(ConfigError::NotNatsUrl { url: url.clone(), reason: e.to_string() });
        }
        let auth = match (&self.nats_user, &self.nats_password, &self.nats_creds, &self.nats_nkey) {
            (None, None, None, None) => Auth::None,
            (Some(user), Some(password), None, None) => {
                Auth::UserPassword { user: user.clone(), password: password.clone() }
            }
            (None, None, Some(creds), None) => Auth::CredentialsFile(creds.clone()),
            (None, None, None, Some(seed)) => Auth::NkeySeedFile(seed.clone()),
            (Some(_), None, None, None) | (None, Some(_), None, None) => return Err(ConfigError::HalfUserPassword),
            _ => return Err(ConfigError::CredentialsOfTwoKinds),
        };
        Ok(crate::ConnectConfig {
            urls,
            name: name.to_owned(),
            auth,
            tls: crate::TlsConfig {
                ca: self.nats_tls_ca.clone(),
                cert: self.nats_tls_cert.clone(),
                key: self.nats_tls_key.clone(),
            },
            inbox_prefix: self.nats_inbox_prefix.clone(),
            connect_timeout: (self.connect_timeout_ms > 0).then(|| Duration::from_millis(self.connect_timeout_ms)),
        })
    }
}

/// Why the settings are not usable: a NATS URL or credentials given
/// wrongly, or a config file that cannot be read or has a bad line. Every
/// binary ends with it as bad input (exit 5); the message names the value,
/// or the file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A `--nats-url` (or `MUSTER_NATS_URL`, `NATS_URL`) that does not
    /// parse as a NATS server address.
    NotNatsUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A NATS user without a password, or a password without a user.
    HalfUserPassword,
    /// Credentials of more than one kind (user and password, credentials
    /// file, nkey seed) at once.
    CredentialsOfTwoKinds,
    /// The config file could not be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// A line of the config file that is not `KEY=VALUE`.
    NotKeyValue {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
    /// A key in the config file that is not a `MUSTER_` setting.
    UnknownSetting {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The key.
        key: String,
    },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NotNatsUrl { url, reason } => write!(f, "{url:?} is not a NATS URL: {reason}"),
            ConfigError::HalfUserPassword => f.write_str("MUSTER_NATS_USER and MUSTER_NATS_PASSWORD go together"),
            ConfigError::CredentialsOfTwoKinds => {
                f.write_str("one kind of NATS credentials: a user and password, a credentials file, or an nkey seed")
            }
            ConfigError::Unreadable { path, reason } => write!(f, "reading {}: {reason}", path.display()),
            ConfigError::NotKeyValue { path, line } => write!(f, "{}:{line}: expected KEY=VALUE", path.display()),
            ConfigError::UnknownSetting { path, line, key } => {
                write!(f, "{}:{line}: unknown setting {key} (settings start with MUSTER_)", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Its message, so a binary can end with it as a [`Failure`]'s
/// (`Failure::new(Exit::BadInput, error)`), as it did when it was a string.
impl From<ConfigError> for String {
    fn from(error: ConfigError) -> String {
        error.to_string()
    }
}

/// Loads `KEY=VALUE` lines from `path` into the environment, leaving
/// variables that are already set alone (environment beats file). Call
/// before parsing flags. Returns an error naming the bad line.
pub fn load_config_file(path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Unreadable { path: path.to_owned(), reason: e.to_string() })?;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError::NotKeyValue { path: path.to_owned(), line: number + 1 });
        };
        let key = key.trim();
        if !key.starts_with("MUSTER_") {
            return Err(ConfigError::UnknownSetting { path: path.to_owned(), line: number + 1, key: key.to_owned() });
        }
        if std::env::var_os(key).is_none() {
            // Single-threaded at this point: called before the runtime starts.
            std::env::set_var(key, value.trim());
        }
    }
    Ok(())
}

/// The NATS URL from the environment: `MUSTER_NATS_URL`, else the
/// standard `NATS_URL`; none if neither is set (or both are empty).
pub fn nats_url_from_env() -> Option<String> {
    ["MUSTER_NATS_URL", "NATS_URL"].into_iter().find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// Finds `--config FILE` (or `MUSTER_CONFIG`) before flags are parsed and
/// loads it; first lets `NATS_URL` stand for an unset `MUSTER_NATS_URL`,
/// so that it beats the file (environment beats file).
pub fn load_config_from_args() -> Result<(), ConfigError> {
    if let Some(url) = nats_url_from_env() {
        // Single-threaded at this point: called before the runtime starts.
        std::env::set_var("MUSTER_NATS_URL", url);
    }
    let args: Vec<String> = std::env::args().collect();
    let from_flag = args.iter().position(|a| a == "--config").and_then(|i| args.get(i + 1)).cloned();
    let from_flag = from_flag.or_else(|| args.iter().find_map(|a| a.strip_prefix("--config=").map(str::to_owned)));
    match from_flag.or_else(|| std::env::var("MUSTER_CONFIG").ok()) {
        Some(path) => load_config_file(Path::new(&path)),
        None => Ok(()),
    }
}

/// Logs to stderr, as text or JSON lines, filtered by `MUSTER_LOG`
/// (default `info` for services).
pub fn init_tracing(json: bool) {
    init_tracing_with(json, "info")
}

/// The same with another default filter (`warn` for command-line tools,
/// whose output is for people).
pub fn init_tracing_with(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUSTER_LOG").unwrap_or_else(|_| default_filter.into());
    use std::io::IsTerminal;
    // Colours only for a person at a terminal, never into log files.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Completes on Ctrl-C or SIGTERM, so a service stops between batches.
pub async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// The whole life of a service binary (`muster-ledger`, `muster-query`):
/// the config file, flags (`--help` with the exit codes), logging, then
/// `run` until it returns; its error printed and turned into an [`Exit`].
/// `log_json` reads the logging setting out of the parsed flags.
pub fn service_main<A, F>(name: &str, log_json: impl Fn(&A) -> bool, run: impl FnOnce(A) -> F) -> std::process::ExitCode
where
    A: clap::Parser,
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    if let Err(e) = load_config_from_args() {
        eprintln!("{name}: {e}");
        return Exit::BadInput.into();
    }
    let matches = A::command().after_help(Exit::help()).get_matches();
    let args = A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_tracing(log_json(&args));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let Err(error) = runtime.block_on(run(args)) else { return Exit::Done.into() };
    eprintln!("{name}: {error:#}");
    Exit::of(error.chain()).into()
}

/// The options and arguments of `command` and its subcommands that have
/// no description in `--help` (every one must have one), as
/// `command --option`.
pub fn undescribed_options(command: &clap::Command) -> Vec<String> {
    let mut missing: Vec<String> = command
        .get_arguments()
        .filter(|arg| arg.get_help().is_none() && arg.get_long_help().is_none())
        .map(|arg| format!("{} --{}", command.get_name(), arg.get_id()))
        .collect();
    for subcommand in command.get_subcommands() {
        missing.extend(undescribed_options(subcommand));
    }
    missing
}

/// How a Muster binary ends: one table for `muster`, `muster-publish`,
/// `muster-ledger` and `muster-query`, so a script can tell the cases
/// apart whichever it ran. **Invariant:** a code means one thing; codes
/// are never renumbered (README.md lists them, so does every `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Done = 0,
    /// 1: an unexpected error (a bug, a disk failing, …).
    Unexpected = 1,
    /// 2: a usage error: an unknown flag, a missing argument (clap's own).
    Usage = 2,
    /// 3: rejected events present (`muster import --strict`,
    /// `muster-publish --strict`).
    Rejected = 3,
    /// 4: some events got no receipt: publish them again (safe).
    NoReceipt = 4,
    /// 5: bad input: a file no line of which decodes, a CSV without the
    /// columns it needs, a bad parameter value (a malformed NATS URL).
    BadInput = 5,
    /// 6: not found: an unknown unit, staff member or scope, an unknown
    /// event, a ledger directory that does not exist or holds no ledger,
    /// an input file that is not there.
    NotFound = 6,
    /// 7: unreachable: NATS not reachable, no query service answering, no
    /// ledger service ever ran under the prefix (no intake stream), a
    /// ledger directory held by a running service.
    Unreachable = 7,
    /// 8: `verify` found the chain broken (or a checkpoint not matching).
    ChainBroken = 8,
    /// 9: `witness` saw the ledger sign two histories that do not extend
    /// each other (a fork); its alarm is published and logged.
    Forked = 9,
}

impl Exit {
    /// Every code, in order.
    pub const ALL: [Exit; 10] = [
        Exit::Done,
        Exit::Unexpected,
        Exit::Usage,
        Exit::Rejected,
        Exit::NoReceipt,
        Exit::BadInput,
        Exit::NotFound,
        Exit::Unreachable,
        Exit::ChainBroken,
        Exit::Forked,
    ];

    /// The process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// What it means, in a few words.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Done => "done",
            Exit::Unexpected => "unexpected error",
            Exit::Usage => "usage error (unknown flag, missing argument)",
            Exit::Rejected => "rejected events present (--strict)",
            Exit::NoReceipt => "some events got no receipt (publish again; safe)",
            Exit::BadInput => "bad input (no line decodes, CSV columns missing, bad value)",
            Exit::NotFound => "not found (unknown unit, staff, scope, event, ledger directory, input file)",
            Exit::Unreachable => "unreachable (NATS, no query service or ledger, ledger held by a service)",
            Exit::ChainBroken => "verify found the chain broken",
            Exit::Forked => "witness: the ledger signed two histories (a fork)",
        }
    }

    /// The table, for each binary's `--help` (`after_help`).
    pub fn help() -> String {
        let mut text = String::from("Exit codes (the same for every Muster binary):\n");
        for exit in Exit::ALL {
            text.push_str(&format!("  {}  {}\n", exit.code(), exit.meaning()));
        }
        text
    }

    /// The code for an error: that of the first [`Failure`] in its chain
    /// (error, then its sources), [`Exit::Unreachable`] for a
    /// [`crate::ConnectError`], else [`Exit::Unexpected`].
    pub fn of<'a>(chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>) -> Exit {
        for error in chain {
            if let Some(failure) = error.downcast_ref::<Failure>() {
                return failure.exit;
            }
            if error.is::<crate::ConnectError>() {
                return Exit::Unreachable;
            }
        }
        Exit::Unexpected
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(exit.code())
    }
}

/// An error a binary ends with, and its [`Exit`] code: the kind for code
/// and tests, the message for people.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong and, where there is one, what to do instead.
    pub message: String,
}

impl Failure {
    /// A failure ending with `exit`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure { exit, message: message.into() }
    }
}

/// A store (a ledger or replica directory) that would not open, as a
/// binary ends with it: one a running service holds (`held`) is
/// unreachable (exit 7), its message saying to ask that service; anything
/// else is unexpected, naming the path.
pub fn open_failed<E>(held: bool, error: E, path: &std::path::Path) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    if held {
        Failure::new(Exit::Unreachable, error.to_string()).into()
    } else {
        anyhow::Error::new(error).context(format!("opening the ledger at {}", path.display()))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Opens an input file a user named: one that is not there is "not found"
/// (exit 6), saying which; any other failure to open it is unexpected.
pub fn open_input(path: &Path) -> Result<std::fs::File, Failure> {
    std::fs::File::open(path).map_err(|e| input_failure(path, e))
}

/// Reads a whole input file a user named, as [`open_input`] opens one.
pub fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| input_failure(path, e))
}

fn input_failure(path: &Path, error: std::io::Error) -> Failure {
    match error.kind() {
        std::io::ErrorKind::NotFound => Failure::new(Exit::NotFound, format!("no file {}", path.display())),
        _ => Failure::new(Exit::Unexpected, format!("opening {}: {error}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_their_place_in_the_table() {
        for (code, exit) in Exit::ALL.into_iter().enumerate() {
            assert_eq!(exit.code() as usize, code);
        }
        assert!(Exit::help().contains("  8  verify found the chain broken\n"));
    }

    /// Each bad setting is its own kind, and says what it always said.
    #[test]
    fn bad_settings_are_typed_errors_with_their_messages() {
        let urls = || vec!["nats://127.0.0.1:4222".to_owned()];
        let half = NatsAuthArgs { nats_user: Some("u".into()), ..NatsAuthArgs::default() };
        let error = half.connect_config(urls(), "test").unwrap_err();
        assert_eq!(error, ConfigError::HalfUserPassword);
        assert_eq!(error.to_string(), "MUSTER_NATS_USER and MUSTER_NATS_PASSWORD go together");
        let two = NatsAuthArgs { nats_creds: Some("c.creds".into()), nats_nkey: Some("n.nk".into()), ..half };
        assert_eq!(two.connect_config(urls(), "test").unwrap_err(), ConfigError::CredentialsOfTwoKinds);
        let error = NatsAuthArgs::default().connect_config(vec!["not a url::".into()], "test").unwrap_err();
        assert!(matches!(&error, ConfigError::NotNatsUrl { url, .. } if url == "not a url::"), "{error:?}");
        assert!(error.to_string().starts_with("\"not a url::\" is not a NATS URL: "), "{error}");

        let path = std::env::temp_dir().join(format!("muster-config-test-{}.conf", std::process::id()));
        std::fs::write(&path, "# a comment\nNATS_URL=nats://elsewhere\n").unwrap();
        let error = load_config_file(&path).unwrap_err();
        let want = ConfigError::UnknownSetting { path: path.clone(), line: 2, key: "NATS_URL".into() };
        assert_eq!(error, want);
        std::fs::write(&path, "MUSTER_PREFIX\n").unwrap();
        assert_eq!(load_config_file(&path).unwrap_err(), ConfigError::NotKeyValue { path: path.clone(), line: 1 });
        assert_eq!(
            ConfigError::NotKeyValue { path: path.clone(), line: 1 }.to_string(),
            format!("{}:1: expected KEY=VALUE", path.display())
        );
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(load_config_file(&path).unwrap_err(), ConfigError::Unreadable { .. }));
    }

    #[test]
    fn a_failure_in_a_chain_gives_its_code() {
        let failure = Failure::new(Exit::NotFound, "no such ledger");
        assert_eq!(Exit::of([&failure as &(dyn std::error::Error + 'static)]), Exit::NotFound);
        let refused = crate::ConnectError("refused".into());
        assert_eq!(Exit::of([&refused as &(dyn std::error::Error + 'static)]), Exit::Unreachable);
        assert_eq!(Exit::of([]), Exit::Unexpected);
    }
}
