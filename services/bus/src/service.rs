//! What every Muster service does at start-up: read an optional config
//! file, set up logging.
//!
//! Settings come from flags, then environment variables, then a config
//! file, then defaults. The config file is `KEY=VALUE` lines using the
//! environment variable names (`MUSTER_NATS_URL=nats://…`); `#` starts a
//! comment. Rationale: one set of names for all three places, documented
//! once in `ops/README.md`, and no config parser to maintain.

use std::path::{Path, PathBuf};

/// The settings every Muster service and tool shares; flattened into each
/// one's own `Args`.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// A file of MUSTER_*=value lines.
    #[arg(long, env = "MUSTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// NATS server URLs, comma-separated.
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

/// Who a client is to NATS, and its TLS settings (ops/nats/secure.conf,
/// ops/README.md). Global, so the `muster` tool takes them after its
/// subcommand too.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NatsAuthArgs {
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
    pub fn connect_config(&self, name: &str) -> Result<crate::ConnectConfig, String> {
        self.auth.connect_config(self.nats_url.clone(), name)
    }
}

impl NatsAuthArgs {
    /// How to connect to `urls`, named `name` on the server. Errors when
    /// the credentials are half given or given twice.
    pub fn connect_config(&self, urls: Vec<String>, name: &str) -> Result<crate::ConnectConfig, String> {
        use crate::Auth;
        let auth = match (&self.nats_user, &self.nats_password, &self.nats_creds, &self.nats_nkey) {
            (None, None, None, None) => Auth::None,
            (Some(user), Some(password), None, None) => {
                Auth::UserPassword { user: user.clone(), password: password.clone() }
            }
            (None, None, Some(creds), None) => Auth::CredentialsFile(creds.clone()),
            (None, None, None, Some(seed)) => Auth::NkeySeedFile(seed.clone()),
            (Some(_), None, None, None) | (None, Some(_), None, None) => {
                return Err("MUSTER_NATS_USER and MUSTER_NATS_PASSWORD go together".into())
            }
            _ => {
                return Err(
                    "one kind of NATS credentials: a user and password, a credentials file, or an nkey seed".into()
                )
            }
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
        })
    }
}

/// Loads `KEY=VALUE` lines from `path` into the environment, leaving
/// variables that are already set alone (environment beats file). Call
/// before parsing flags. Returns an error naming the bad line.
pub fn load_config_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("{}:{}: expected KEY=VALUE", path.display(), number + 1));
        };
        let key = key.trim();
        if !key.starts_with("MUSTER_") {
            return Err(format!(
                "{}:{}: unknown setting {key} (settings start with MUSTER_)",
                path.display(),
                number + 1
            ));
        }
        if std::env::var_os(key).is_none() {
            // Single-threaded at this point: called before the runtime starts.
            std::env::set_var(key, value.trim());
        }
    }
    Ok(())
}

/// Finds `--config FILE` (or `MUSTER_CONFIG`) before flags are parsed and
/// loads it.
pub fn load_config_from_args() -> Result<(), String> {
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
