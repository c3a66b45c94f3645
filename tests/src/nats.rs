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
    /// The secure configuration it runs (`ops/nats/secure.conf`, or a copy
    /// beside accounts of other organisations).
    secure_conf: PathBuf,
    /// Where such a copy lives.
    _conf_dir: Option<tempfile::TempDir>,
    /// Its place in a cluster, when it is a node of one.
    node: Option<Node>,
}

/// A node of a cluster running `ops/nats/cluster.conf`: its name and
/// the addresses the others know it by, kept for restarts.
#[derive(Clone, Debug)]
struct Node {
    name: String,
    route_port: u16,
    http_port: u16,
    /// Every node's route URL, comma-separated (`--routes`).
    routes: String,
}

/// A loopback port free right now (the OS's pick, released at once).
/// Rationale: a cluster's nodes must know each other's route ports before
/// any of them starts; the small race with other processes is a test's.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

impl NatsServer {
    /// Starts a server with `ops/nats/dev.conf` on a port the OS picks,
    /// with a fresh store.
    pub fn start() -> NatsServer {
        let store = tempfile::tempdir().expect("temp dir");
        let (child, port) = spawn(store.path(), None, Conf::Dev);
        NatsServer { child, port, store, certs: None, secure_conf: secure_conf(), _conf_dir: None, node: None }
    }

    /// Starts a JetStream cluster of `nodes` servers running
    /// `ops/nats/cluster.conf` on loopback ports, each with a fresh store,
    /// and waits until they have elected a JetStream meta leader.
    pub async fn start_cluster(nodes: usize) -> Vec<NatsServer> {
        let route_ports: Vec<u16> = (0..nodes).map(|_| free_port()).collect();
        let routes = route_ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let servers: Vec<NatsServer> = std::thread::scope(|scope| {
            let started: Vec<_> = route_ports
                .iter()
                .enumerate()
                .map(|(i, &route_port)| {
                    let node = Node {
                        name: format!("muster-n{i}"),
                        route_port,
                        http_port: free_port(),
                        routes: routes.clone(),
                    };
                    // Side by side: each node waits for the others' routes.
                    scope.spawn(move || {
                        let store = tempfile::tempdir().expect("temp dir");
                        let (child, port) = spawn(store.path(), None, Conf::Node(&node));
                        NatsServer {
                            child,
                            port,
                            store,
                            certs: None,
                            secure_conf: secure_conf(),
                            _conf_dir: None,
                            node: Some(node),
                        }
                    })
                })
                .collect();
            started.into_iter().map(|s| s.join().expect("a node started")).collect()
        });
        wait_for_meta_leader(&servers.iter().map(NatsServer::url).collect::<Vec<_>>()).await;
        servers
    }

    /// Starts a server with `ops/nats/secure.conf` — TLS, a user per role
    /// known by its certificate, no anonymous access — and the
    /// certificates `ops/nats/dev-certs.sh` made in `certs`.
    pub fn start_secure(certs: &Path) -> NatsServer {
        NatsServer::start_secure_with(certs, secure_conf(), None)
    }

    /// [`NatsServer::start_secure`] with the users of the organisations of
    /// `prefixes` (`muster nats-accounts`) instead of the shipped
    /// `accounts.conf`.
    pub fn start_secure_for(certs: &Path, prefixes: &[&str]) -> NatsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("secure.conf");
        std::fs::copy(secure_conf(), &conf).expect("copy secure.conf");
        std::fs::write(dir.path().join("accounts.conf"), muster_bus::permissions::accounts_conf(prefixes))
            .expect("write accounts.conf");
        NatsServer::start_secure_with(certs, conf, Some(dir))
    }

    fn start_secure_with(certs: &Path, conf: PathBuf, conf_dir: Option<tempfile::TempDir>) -> NatsServer {
        let store = tempfile::tempdir().expect("temp dir");
        let (child, port) = spawn(store.path(), None, Conf::Secure(certs, &conf));
        NatsServer {
            child,
            port,
            store,
            certs: Some(certs.to_owned()),
            secure_conf: conf,
            _conf_dir: conf_dir,
            node: None,
        }
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

    /// Kills the server (SIGKILL), as a node lost; [`NatsServer::start_again`]
    /// brings it back.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill nats-server");
        self.child.wait().expect("wait nats-server");
    }

    /// Starts a killed server again on the same port and store (a cluster
    /// node rejoins its cluster and catches up).
    pub fn start_again(&mut self) {
        let conf = match (&self.node, &self.certs) {
            (Some(node), _) => Conf::Node(node),
            (None, Some(certs)) => Conf::Secure(certs, &self.secure_conf),
            (None, None) => Conf::Dev,
        };
        let (child, _) = spawn(self.store.path(), Some(self.port), conf);
        self.child = child;
    }

    /// Kills the server, does `meanwhile` to its store directory, and
    /// starts it again on the same port.
    fn restart_with(&mut self, meanwhile: impl FnOnce(&Path)) {
        self.kill();
        meanwhile(self.store.path());
        self.start_again();
    }

    /// The server's name (a cluster node's, e.g. `muster-n1`).
    pub fn name(&self) -> &str {
        self.node.as_ref().map_or("muster-dev", |node| node.name.as_str())
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

/// The shipped secure configuration.
fn secure_conf() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/nats/secure.conf")).to_owned()
}

/// Which of the deployment's server configurations to run.
#[derive(Clone, Copy)]
enum Conf<'a> {
    /// `ops/nats/dev.conf`.
    Dev,
    /// A secure configuration (`ops/nats/secure.conf`), with these
    /// certificates.
    Secure(&'a Path, &'a Path),
    /// `ops/nats/cluster.conf`, as this node.
    Node(&'a Node),
}

/// Waits (at most 120 s) until the cluster at `urls` answers JetStream
/// requests: its nodes have elected a meta leader. Rationale: on a loaded
/// 2-core machine (CI running every test binary) three nodes once took
/// longer than 30 s; the wait ends as soon as one is elected.
async fn wait_for_meta_leader(urls: &[String]) {
    let addrs: Vec<async_nats::ServerAddr> = urls.iter().map(|url| url.parse().expect("a URL")).collect();
    let client = async_nats::connect(addrs).await.expect("connect to the cluster");
    let js = async_nats::jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(120);
    while js.query_account().await.is_err() {
        assert!(Instant::now() < deadline, "the cluster elected no JetStream meta leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn spawn(store: &Path, port: Option<u16>, conf: Conf<'_>) -> (Child, u16) {
    let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
    // The deployment's own settings (max_payload, JetStream limits, sync
    // interval, and for a secure one TLS and users); the flags move it to
    // its own port and store.
    let ops = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/nats/");
    let mut command = Command::new(binary());
    match conf {
        Conf::Dev => command.args(["-c", &format!("{ops}dev.conf")]),
        Conf::Secure(certs, conf) => command
            .arg("-c")
            .arg(conf)
            .env("MUSTER_NATS_CA", certs.join("ca.pem"))
            .env("MUSTER_NATS_SERVER_CERT", certs.join("server.pem"))
            .env("MUSTER_NATS_SERVER_KEY", certs.join("server-key.pem")),
        // The client address is overridden below, the routes here: the
        // file's fixed ports are ops/cluster.sh's.
        Conf::Node(node) => command
            .args(["-c", &format!("{ops}cluster.conf"), "--routes", &node.routes])
            .env("MUSTER_NODE_NAME", &node.name)
            .env("MUSTER_NODE_CLIENT", "127.0.0.1:4222")
            .env("MUSTER_NODE_HTTP", format!("127.0.0.1:{}", node.http_port))
            .env("MUSTER_NODE_ROUTE", format!("127.0.0.1:{}", node.route_port)),
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
            // (A cluster node's routes to nodes not up yet are retried.)
            if (line.contains("[FTL]") || line.contains("[ERR]")) && !line.contains("connect to route") {
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
