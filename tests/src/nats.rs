//! A real nats-server for tests: started on a free loopback port with a
//! temporary JetStream store, killed on drop.
//!
//! The binary is the pinned one `ops/install-nats.sh` provides (installed
//! on first use), or `MUSTER_NATS_SERVER` if set.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The nats-server binary to run.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Ok(path) = std::env::var("MUSTER_NATS_SERVER") {
            return PathBuf::from(path);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let output = Command::new("bash")
            .arg(root.join("ops/install-nats.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running ops/install-nats.sh");
        assert!(output.status.success(), "ops/install-nats.sh failed");
        PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
    })
}

/// A running nats-server with JetStream.
pub struct NatsServer {
    child: Child,
    port: u16,
    store: tempfile::TempDir,
    /// The certificates of `ops/nats/secure.conf`, when it runs that.
    certs: Option<PathBuf>,
}

impl NatsServer {
    /// Starts a server with `ops/nats/dev.conf` on a port the OS picks,
    /// with a fresh store.
    pub fn start() -> NatsServer {
        let store = tempfile::tempdir().expect("temp dir");
        let (child, port) = spawn(store.path(), None, None);
        NatsServer { child, port, store, certs: None }
    }

    /// Starts a server with `ops/nats/secure.conf` — TLS, a user per role
    /// known by its certificate, no anonymous access — and the
    /// certificates `ops/nats/dev-certs.sh` made in `certs`.
    pub fn start_secure(certs: &Path) -> NatsServer {
        let store = tempfile::tempdir().expect("temp dir");
        let (child, port) = spawn(store.path(), None, Some(certs));
        NatsServer { child, port, store, certs: Some(certs.to_owned()) }
    }

    /// `nats://127.0.0.1:<port>` (`tls://…` for a secure server).
    pub fn url(&self) -> String {
        let scheme = if self.certs.is_some() { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The certificates of a secure server.
    pub fn certs(&self) -> Option<&Path> {
        self.certs.as_deref()
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and
    /// store, as after a crash.
    pub fn restart(&mut self) {
        self.restart_with(|_| {});
    }

    /// Kills the server, does `meanwhile` to its store directory, and
    /// starts it again on the same port.
    fn restart_with(&mut self, meanwhile: impl FnOnce(&Path)) {
        self.child.kill().expect("kill nats-server");
        self.child.wait().expect("wait nats-server");
        meanwhile(self.store.path());
        let (child, _) = spawn(self.store.path(), Some(self.port), self.certs.as_deref());
        self.child = child;
    }

    /// A copy of the JetStream store as it stands (the server is stopped
    /// for it and started again), for [`NatsServer::restore`].
    pub fn backup(&mut self) -> tempfile::TempDir {
        let backup = tempfile::tempdir().expect("temp dir");
        self.restart_with(|store| copy_dir(store, backup.path()));
        backup
    }

    /// Puts a [`NatsServer::backup`] back in place of the store, as an
    /// operator restoring one would: every stream loses what came after.
    pub fn restore(&mut self, backup: &Path) {
        self.restart_with(|store| {
            std::fs::remove_dir_all(store).expect("remove the store");
            copy_dir(backup, store);
        });
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(store: &Path, port: Option<u16>, certs: Option<&Path>) -> (Child, u16) {
    let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
    // The deployment's own settings (max_payload, JetStream limits, sync
    // interval, and for a secure one TLS and users); the flags move it to
    // its own port and store.
    let ops = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/nats/");
    let mut command = Command::new(binary());
    match certs {
        None => command.args(["-c", &format!("{ops}dev.conf")]),
        Some(certs) => command
            .args(["-c", &format!("{ops}secure.conf")])
            .env("MUSTER_NATS_CA", certs.join("ca.pem"))
            .env("MUSTER_NATS_SERVER_CERT", certs.join("server.pem"))
            .env("MUSTER_NATS_SERVER_KEY", certs.join("server-key.pem")),
    };
    let mut child = command
        .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting nats-server");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    // The server says where it listens and when it is ready; the thread
    // keeps draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut port = None;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("[FTL]") || line.contains("[ERR]") {
                eprintln!("nats-server: {line}");
            }
            if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                port = rest.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok());
            }
            if line.contains("Server is ready") {
                let _ = sender.send(port);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    match receiver.recv_timeout(deadline - Instant::now()) {
        Ok(Some(port)) => (child, port),
        other => {
            let _ = child.kill();
            panic!("nats-server did not become ready: {other:?}");
        }
    }
}
