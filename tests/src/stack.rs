//! A whole Muster deployment for tests: a real nats-server, the ledger
//! service (in-process, or a child process that can be SIGKILLed) and
//! query replicas, each with its own sled directory.

use crate::nats::NatsServer;
use muster_bus::Topology;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running in-process service and the switch that stops it.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops the service between batches and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("service task").expect("service result");
    }
}

fn stopper() -> (oneshot::Sender<()>, impl std::future::Future<Output = ()>) {
    let (sender, receiver) = oneshot::channel::<()>();
    (sender, async move {
        let _ = receiver.await;
    })
}

/// A service running as a child process, SIGKILLed by [`Process::kill`]
/// and when dropped (a failed test leaves no process behind).
pub struct Process(Child);

impl Process {
    /// SIGKILL, and wait until it is gone.
    pub fn kill(&mut self) {
        self.0.kill().expect("kill");
        self.0.wait().expect("wait");
    }

    /// Sends `signal` (`STOP` pauses the process, `CONT` resumes it, `TERM`
    /// asks it to stop).
    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").arg(format!("-{signal}")).arg(self.0.id().to_string()).status().expect("running kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits (at most `limit`) for the process to exit by itself; whether
    /// it exited successfully.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<bool> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status.success());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nats-server (or a cluster of them) plus a place for every service's
/// data.
pub struct Stack {
    /// The server (a cluster's first node).
    pub nats: NatsServer,
    /// A cluster's other nodes (none for a single server).
    pub others: Vec<NatsServer>,
    /// Root of the services' directories.
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Starts nats-server.
    pub fn new() -> Stack {
        Stack { nats: NatsServer::start(), others: Vec::new(), dir: tempfile::tempdir().expect("temp dir") }
    }

    /// Starts a 3-node JetStream cluster (`ops/nats/cluster.conf`): every
    /// service of this stack is given all three URLs, and the ledger makes
    /// its streams with 3 replicas.
    pub async fn cluster() -> Stack {
        let mut nodes = NatsServer::start_cluster(3).await;
        let nats = nodes.remove(0);
        Stack { nats, others: nodes, dir: tempfile::tempdir().expect("temp dir") }
    }

    /// Every server's URL.
    pub fn urls(&self) -> Vec<String> {
        std::iter::once(&self.nats).chain(&self.others).map(NatsServer::url).collect()
    }

    /// Node `i` of the cluster (0 for a single server).
    pub fn node(&mut self, i: usize) -> &mut NatsServer {
        match i {
            0 => &mut self.nats,
            i => &mut self.others[i - 1],
        }
    }

    /// How many copies JetStream keeps of each stream: one per node.
    pub fn stream_replicas(&self) -> usize {
        1 + self.others.len()
    }

    /// Starts nats-server with `ops/nats/secure.conf` and the certificates
    /// in `certs`: every service of this stack then connects over TLS as
    /// its role's user.
    pub fn secure(certs: &std::path::Path) -> Stack {
        Stack { nats: NatsServer::start_secure(certs), others: Vec::new(), dir: tempfile::tempdir().expect("temp dir") }
    }

    /// [`Stack::secure`] with the users of the organisations of `prefixes`
    /// (`muster nats-accounts`), their certificates `ROLE@PREFIX` in
    /// `certs`.
    pub fn secure_for(certs: &std::path::Path, prefixes: &[&str]) -> Stack {
        let nats = NatsServer::start_secure_for(certs, prefixes);
        Stack { nats, others: Vec::new(), dir: tempfile::tempdir().expect("temp dir") }
    }

    /// How the service or client of `role` (`ledger`, `query`,
    /// `hr-publisher`, `auditor`) connects: on a secure server with its
    /// certificate and its own inbox prefix.
    pub fn common_args(&self, role: &str) -> muster_bus::service::CommonArgs {
        self.org_args(role, "muster")
    }

    /// How `role` of the organisation of `prefix` connects: under that
    /// prefix, and on a secure server with that organisation's certificate
    /// of the role (`ROLE@PREFIX.pem`; `ROLE.pem` for `muster`).
    pub fn org_args(&self, role: &str, prefix: &str) -> muster_bus::service::CommonArgs {
        let mut common = muster_bus::service::CommonArgs::for_url(&self.nats.url());
        common.nats_url = self.urls();
        common.prefix = prefix.to_owned();
        if let Some(certs) = self.nats.certs() {
            let name = if prefix == "muster" { role.to_owned() } else { format!("{role}@{prefix}") };
            common.auth.nats_tls_ca = Some(certs.join("ca.pem"));
            common.auth.nats_tls_cert = Some(certs.join(format!("{name}.pem")));
            common.auth.nats_tls_key = Some(certs.join(format!("{name}-key.pem")));
            common.auth.nats_inbox_prefix = Some(muster_bus::permissions::inbox_prefix(role, prefix));
        }
        common
    }

    /// A client of `role` of the organisation of `prefix`.
    pub async fn org_client(&self, role: &str, prefix: &str) -> async_nats::Client {
        let config = self.org_args(role, prefix).connect_config(role).expect("connect settings");
        muster_bus::connect(&config).await.expect("connect")
    }

    /// The ledger service of the organisation of `prefix`, in-process, over
    /// its own directory ([`Stack::ledger_dir_of`] `prefix`).
    pub fn start_org_ledger(&self, prefix: &str, failover: bool) -> Running {
        self.start_ledger_with(muster_ledger_service::Args {
            common: self.org_args("ledger", prefix),
            ledger: self.ledger_dir_of(prefix),
            failover,
            instance: Some(format!("{prefix}-ledger")),
            ..self.ledger_args()
        })
    }

    /// A query replica of the organisation of `prefix`, in-process, HTTP
    /// off, over [`Stack::replica_dir`] `prefix`.
    pub async fn start_org_query(&self, prefix: &str) -> Running {
        let args = muster_query::service::Args {
            common: self.org_args("query", prefix),
            replica: self.replica_dir(prefix),
            http: "off".into(),
        };
        self.start_query_args(args).await.0
    }

    /// A client connected as `role` (see [`Stack::common_args`]).
    pub async fn client_as(&self, role: &str) -> async_nats::Client {
        let config = self.common_args(role).connect_config(role).expect("connect settings");
        muster_bus::connect(&config).await.expect("connect")
    }

    /// The ledger service's sled directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    /// A connected client (on a secure server: as the ledger, which may
    /// read every stream).
    pub async fn client(&self) -> async_nats::Client {
        self.client_as("ledger").await
    }

    /// The ledger service, in-process.
    pub fn start_ledger(&self) -> Running {
        self.start_ledger_with(self.ledger_args())
    }

    /// The ledger service's settings in this stack (to change before
    /// [`Stack::start_ledger_with`]).
    pub fn ledger_args(&self) -> muster_ledger_service::Args {
        muster_ledger_service::Args {
            common: self.common_args("ledger"),
            ledger: self.ledger_dir(),
            batch_wait_ms: 5,
            stream_replicas: self.stream_replicas(),
            signing_key: None,
            checkpoint_every: muster_proto::limits::CHECKPOINT_EVERY_ENTRIES,
            ack_wait_ms: muster_proto::limits::ACK_WAIT_SECS * 1000,
            failover: false,
            lease_ms: muster_proto::limits::LEASE_MS,
            instance: None,
        }
    }

    /// The ledger service, in-process, with these settings.
    pub fn start_ledger_with(&self, args: muster_ledger_service::Args) -> Running {
        let (stop, shutdown) = stopper();
        Running { stop: Some(stop), task: tokio::spawn(muster_ledger_service::run(args, shutdown)) }
    }

    /// The ledger service as a child process (SIGKILL it with [`Process::kill`]).
    pub fn spawn_ledger_process(&self) -> Process {
        let ledger = self.ledger_dir();
        let ledger = ledger.to_str().expect("a UTF-8 path");
        let replicas = self.stream_replicas().to_string();
        self.spawn_process(
            "ledger_service",
            &["--ledger", ledger, "--batch-wait-ms", "5", "--stream-replicas", &replicas],
        )
    }

    /// A ledger service named `name` with `--failover` and a lease of
    /// `lease_ms`, as a child process over its own directory
    /// ([`Stack::ledger_dir_of`]).
    pub fn spawn_failover_ledger(&self, name: &str, lease_ms: u64) -> Process {
        let ledger = self.ledger_dir_of(name);
        let ledger = ledger.to_str().expect("a UTF-8 path");
        let lease_ms = lease_ms.to_string();
        let replicas = self.stream_replicas().to_string();
        self.spawn_process(
            "ledger_service",
            &[
                "--ledger",
                ledger,
                "--batch-wait-ms",
                "5",
                "--failover",
                "--lease-ms",
                &lease_ms,
                "--instance",
                name,
                "--stream-replicas",
                &replicas,
            ],
        )
    }

    /// The sled directory of the ledger service named `name`.
    pub fn ledger_dir_of(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("ledger-{name}"))
    }

    /// The test binary `bin` (`tests/src/bin/`) as a child process on this
    /// stack's server, with `args`, logging warnings only.
    fn spawn_process(&self, bin: &str, args: &[&str]) -> Process {
        let exe = std::env::current_exe().expect("test exe");
        let path = exe.parent().and_then(|deps| deps.parent()).expect("target dir").join(bin);
        Command::new(path)
            .args(["--nats-url", &self.urls().join(",")])
            .args(args)
            .env("MUSTER_LOG", std::env::var("MUSTER_CHILD_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .spawn()
            .map(Process)
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"))
    }

    /// A query replica named `name` as a child process (SIGKILL it with
    /// [`Process::kill`]), HTTP off; its directory is [`Stack::replica_dir`].
    pub fn spawn_query_process(&self, name: &str) -> Process {
        let replica = self.replica_dir(name);
        let replica = replica.to_str().expect("a UTF-8 path");
        self.spawn_process("query_service", &["--http", "off", "--replica", replica])
    }

    /// The sled directory of the query replica named `name`.
    pub fn replica_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("query-{name}"))
    }

    /// A query replica named `name`, in-process; returns it and its HTTP
    /// address.
    pub async fn start_query(&self, name: &str) -> (Running, std::net::SocketAddr) {
        let (running, addr) = self.start_query_with(self.replica_dir(name), "127.0.0.1:0").await;
        (running, addr.expect("HTTP on"))
    }

    /// A query replica in-process over the sled directory `replica` (which
    /// may hold a copy of a ledger already), with HTTP on `http` or `off`.
    pub async fn start_query_with(&self, replica: PathBuf, http: &str) -> (Running, Option<std::net::SocketAddr>) {
        self.start_query_args(muster_query::service::Args {
            common: self.common_args("query"),
            replica,
            http: http.into(),
        })
        .await
    }

    async fn start_query_args(&self, args: muster_query::service::Args) -> (Running, Option<std::net::SocketAddr>) {
        let (stop, shutdown) = stopper();
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(muster_query::service::run(args, shutdown, move |addr| {
            let _ = ready_tx.send(addr);
        }));
        let addr = ready_rx.await.expect("query service ready");
        (Running { stop: Some(stop), task }, addr)
    }

    /// Waits (bounded) until the ledger service has created its streams,
    /// so publishing can begin.
    pub async fn wait_for_streams(&self) {
        let js = async_nats::jetstream::new(self.client().await);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while js.get_stream(self.topology().feed_stream()).await.is_err() {
            assert!(std::time::Instant::now() < deadline, "the ledger service never created its streams");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// The deployment's names.
    pub fn topology(&self) -> Topology {
        Topology::default()
    }

    /// Waits (at most 20 s) until the dead-letter stream holds `n` letters
    /// — no more — and reads them all, oldest first.
    pub async fn dead_letters(&self, n: u64) -> Vec<muster_proto::entry::DeadLetter> {
        let js = async_nats::jetstream::new(self.client().await);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut stream = js.get_stream(self.topology().deadletter_stream()).await.expect("dead-letter stream");
        loop {
            let held = stream.info().await.expect("stream info").state.messages;
            if held >= n {
                assert_eq!(held, n, "no more dead letters than expected");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{held} of {n} dead letters came");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let mut letters = Vec::new();
        for seq in 1..=n {
            let message = stream.direct_get(seq).await.expect("dead letter");
            letters.push(serde_json::from_slice(&message.payload).expect("a dead letter"));
        }
        letters
    }
}

impl Default for Stack {
    fn default() -> Stack {
        Stack::new()
    }
}

/// Waits (at most 30 s) until `stream` exists: a ledger service makes its
/// deployment's streams when its first session starts.
pub async fn stream_made(js: &async_nats::jetstream::Context, stream: &str, what: &str) {
    crate::wait::eventually(std::time::Duration::from_secs(30), what, || async {
        js.get_stream(stream).await.ok().map(|_| ())
    })
    .await
}

/// Waits (at most 60 s) until the intake stream of `stack` holds
/// `messages` messages: a test that starts its ledger late, with a backlog.
pub async fn intake_holds(stack: &Stack, messages: u64) {
    let js = async_nats::jetstream::new(stack.client().await);
    let (stream, what) = (stack.topology().intake_stream(), format!("the intake held {messages} messages"));
    crate::wait::eventually(std::time::Duration::from_secs(60), &what, || async {
        let mut intake = js.get_stream(&stream).await.ok()?;
        (intake.info().await.ok()?.state.last_sequence >= messages).then_some(())
    })
    .await
}

/// The reform scenario's events (`ops/scenarios/reform/events.jsonl`).
pub const REFORM_EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/scenarios/reform/events.jsonl");

/// nats-server, the ledger service and one query replica with HTTP on,
/// holding the reform scenario: every event published through the
/// publisher, every one accepted, the replica caught up.
pub struct ReformStack {
    /// The server and the services' directories.
    pub stack: Stack,
    ledger: Running,
    query: Running,
    /// The replica's HTTP address.
    pub addr: std::net::SocketAddr,
    /// How many entries the ledger holds (one per event).
    pub entries: u64,
    /// The ledger's checkpoint key (hex), which signed at least
    /// [`REFORM_CHECKPOINTS`] checkpoints before `start` returned.
    pub public_key: String,
}

/// The reform stack's ledger signs a checkpoint every this many entries,
/// and the scenario is published in two parts, the first this long …
const REFORM_CHECKPOINT_EVERY: u64 = 500;
const REFORM_FIRST_PART: usize = 1000;
/// … so its 1,777 entries have at least this many signed checkpoints, of
/// different sizes, whatever the commits' sizes.
pub const REFORM_CHECKPOINTS: usize = 2;

impl ReformStack {
    /// Starts it all and publishes the scenario.
    pub async fn start() -> ReformStack {
        let stack = Stack::new();
        let (signer, secret) = muster_ledger::checkpoint::Signer::generate().expect("a signing key");
        let key_file = stack.dir.path().join("ledger.key");
        std::fs::write(&key_file, format!("{secret}\n")).expect("writing the key file");
        let args = muster_ledger_service::Args {
            signing_key: Some(key_file),
            checkpoint_every: REFORM_CHECKPOINT_EVERY,
            ..stack.ledger_args()
        };
        let ledger = stack.start_ledger_with(args);
        stack.wait_for_streams().await;
        let (query, addr) = stack.start_query("a").await;
        let events = crate::outgoing_from_jsonl(std::path::Path::new(REFORM_EVENTS), None).expect("reform events");
        let entries = events.len() as u64;
        let publisher = muster_publisher::Publisher::new(
            stack.client().await,
            stack.topology(),
            muster_publisher::PublisherConfig::default(),
        );
        // In two parts, each waited for: the ledger signs when a commit
        // ends 500 entries past the last checkpoint, and how many events a
        // commit takes depends on the machine's speed; 1,000 then 777
        // always make two checkpoints.
        let mut events = events;
        let rest = events.split_off(REFORM_FIRST_PART);
        for part in [events, rest] {
            let outcomes = publisher.publish_all(part, |_| {}).await.expect("publishing the reform");
            for outcome in &outcomes {
                let accepted = matches!(outcome, muster_publisher::Outcome::Receipt(r)
                    if r.status == muster_proto::entry::ReceiptStatus::Accepted);
                assert!(accepted, "the reform's events are all accepted: {outcome:?}");
            }
        }
        crate::http::caught_up(addr, entries).await;
        // Every checkpoint signed: the ledger signs once a commit ends 500
        // past the last, so the newest is within 500 of the head (waiting
        // for two alone let a test see 500 and 1,000 before 1,500 came).
        crate::wait::eventually(Duration::from_secs(60), "the reform's signed checkpoints", || async {
            let (_, listed) = crate::http::http_get(addr, "/v1/checkpoints").await;
            let listed = listed.as_array().cloned().unwrap_or_default();
            let newest = listed.first().and_then(|c| c["seq"].as_u64()).unwrap_or(0);
            (listed.len() >= REFORM_CHECKPOINTS && newest + REFORM_CHECKPOINT_EVERY > entries).then_some(())
        })
        .await;
        ReformStack { stack, ledger, query, addr, entries, public_key: signer.public_key() }
    }

    /// `http://ADDR/PATH` of the replica (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the replica, then the ledger service, then nats-server.
    pub async fn stop(self) {
        self.query.stop().await;
        self.ledger.stop().await;
        drop(self.stack);
    }
}
