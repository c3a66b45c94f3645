//! Least privilege on NATS, against a real nats-server running
//! `ops/nats/secure.conf` with the certificates `ops/nats/dev-certs.sh`
//! makes: TLS on every connection, each client known by its certificate,
//! one user per role. The services do their work through their own doors,
//! and every other door is shut: a publisher cannot read the feed or
//! another's replies, an auditor cannot publish events, nobody without a
//! certificate of the deployment's CA gets in.

use async_nats::jetstream;
use muster_publisher::{Outcome, Publisher, PublisherConfig};
use muster_tests::stack::Stack;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The development certificates, made once for this test binary.
fn certs() -> &'static Path {
    static CERTS: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &CERTS
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let certs = dir.path().join("certs");
            make_certs(&certs, &[]);
            // A certificate of the deployment's CA for a name that is no user.
            make_certs(&certs, &["stranger"]);
            // The roles of two organisations (county bureaus).
            let org_roles: Vec<String> = ["bureau-a", "bureau-b"]
                .iter()
                .flat_map(|org| ["hr-publisher", "ledger", "query", "auditor"].map(|role| format!("{role}@{org}")))
                .collect();
            make_certs(&certs, &org_roles.iter().map(String::as_str).collect::<Vec<_>>());
            (dir, certs)
        })
        .1
}

/// `ops/nats/dev-certs.sh DIR ROLES…` (no roles: the five of secure.conf).
fn make_certs(dir: &Path, roles: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/nats/dev-certs.sh");
    let status =
        std::process::Command::new("bash").arg(script).arg(dir).args(roles).status().expect("running dev-certs.sh");
    assert!(status.success(), "ops/nats/dev-certs.sh failed");
}

/// A raw client of `role` whose server errors (permission violations)
/// come out of the returned receiver; `None` when the server refuses it.
async fn connect_raw(
    stack: &Stack,
    options: async_nats::ConnectOptions,
) -> Option<(async_nats::Client, tokio::sync::mpsc::Receiver<String>)> {
    // Bounded: the test reads the errors after each refused act (a few).
    let (errors, received) = tokio::sync::mpsc::channel(64);
    let options = options.connection_timeout(Duration::from_secs(3)).event_callback(move |event| {
        if let async_nats::Event::ServerError(error) = event {
            let _ = errors.try_send(error.to_string());
        }
        std::future::ready(())
    });
    let url = stack.nats.url();
    options.connect(url).await.ok().map(|client| (client, received))
}

/// What the server says (until it closes, at most 3 s) to a client that
/// reads its INFO and answers in plain text: CONNECT, then PING.
async fn plain_nats_session(stack: &Stack) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = stack.nats.url().replace("tls://", "");
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("TCP connect");
    let mut info = vec![0u8; 4096];
    let n = socket.read(&mut info).await.expect("INFO");
    assert!(String::from_utf8_lossy(&info[..n]).contains(r#""tls_required":true"#), "the server asks for TLS");
    let _ = socket.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The raw settings of `role`: the deployment's CA, its certificate, its
/// inbox prefix.
fn as_role(role: &str) -> async_nats::ConnectOptions {
    as_role_of(role, "muster", role)
}

/// The raw settings of `role` of the organisation of `prefix`, whose
/// certificate is `cert`.
fn as_role_of(role: &str, prefix: &str, cert: &str) -> async_nats::ConnectOptions {
    let certs = certs();
    async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(certs.join("ca.pem"))
        .add_client_certificate(certs.join(format!("{cert}.pem")), certs.join(format!("{cert}-key.pem")))
        .custom_inbox_prefix(muster_bus::permissions::inbox_prefix(role, prefix))
}

/// A raw client of `role` in the organisation `org`, and its server errors.
async fn org_raw(stack: &Stack, role: &str, org: &str) -> (async_nats::Client, tokio::sync::mpsc::Receiver<String>) {
    connect_raw(stack, as_role_of(role, org, &format!("{role}@{org}"))).await.expect("the role connects")
}

/// Waits (at most 5 s) for the server to name a permissions violation on
/// `subject`.
async fn refused(errors: &mut tokio::sync::mpsc::Receiver<String>, subject: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, errors.recv()).await {
            Ok(Some(error)) if error.contains("Permissions Violation") && error.contains(subject) => return,
            Ok(Some(_)) => continue,
            _ => panic!("the server never refused {subject}"),
        }
    }
}

/// A JetStream context for requests the server will refuse: no answer
/// comes, so a short wait.
fn denied_js(client: &async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new().timeout(Duration::from_secs(1)).build(client.clone())
}

async fn example_events(stack: &Stack) -> Vec<Outcome> {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/examples/events.jsonl"));
    let events = muster_tests::outgoing_from_jsonl(path, None).expect("the example events");
    let publisher = Publisher::new(stack.client_as("hr-publisher").await, stack.topology(), PublisherConfig::default());
    publisher.publish_all(events, |_| {}).await.expect("published")
}

async fn intake_messages(stack: &Stack) -> u64 {
    let js = jetstream::new(stack.client().await);
    js.get_stream(stack.topology().intake_stream()).await.unwrap().info().await.unwrap().state.messages
}

async fn feed_messages(stack: &Stack) -> u64 {
    let js = jetstream::new(stack.client().await);
    js.get_stream(stack.topology().feed_stream()).await.unwrap().info().await.unwrap().state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_works_through_its_own_door_and_no_other() {
    let stack = Stack::secure(certs());
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let (replica, _) = stack.start_query_with(stack.replica_dir("a"), "off").await;

    // The HR system publishes over TLS as its user and gets every receipt.
    let outcomes = example_events(&stack).await;
    assert!(!outcomes.is_empty());
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Receipt(_))), "a receipt for every event");
    let (intake, feed) = (intake_messages(&stack).await, feed_messages(&stack).await);

    // The auditor asks a query and is answered by the replica.
    let (auditor, mut auditor_errors) = connect_raw(&stack, as_role("auditor")).await.expect("the auditor connects");
    let status = muster_tests::wait::eventually(Duration::from_secs(20), "the replica caught up", || async {
        let reply = auditor.request("muster.query.status", "{}".into()).await.expect("the auditor may ask");
        let status: muster_proto::requests::StatusAnswer = serde_json::from_slice(&reply.payload).unwrap();
        (status.behind == 0 && status.applied_seq == outcomes.len() as u64).then_some(status)
    })
    .await;
    assert_eq!(status.applied_seq, outcomes.len() as u64, "the replica applied every entry");
    let reply = auditor
        .request("muster.query.tree", r#"{"date": "2016-06-30"}"#.into())
        .await
        .expect("the auditor may ask for the tree");
    assert!(reply.payload.starts_with(b"["), "a tree: {:?}", String::from_utf8_lossy(&reply.payload));

    // The auditor cannot publish events: the server refuses the publish,
    // JetStream never sees it (no PubAck), the intake stays as it was.
    let forged = muster_tests::crash::outgoing(1);
    let subject = stack.topology().intake_subject(&forged.source);
    let js = denied_js(&auditor);
    let ack = js.publish(subject.clone(), forged.payload.clone().into()).await.expect("sent").await;
    assert!(ack.is_err(), "no stream took the auditor's event");
    refused(&mut auditor_errors, &subject).await;
    // Nor read the feed.
    assert!(
        js.get_stream(stack.topology().feed_stream()).await.is_err(),
        "the auditor may not even look at the feed stream"
    );
    refused(&mut auditor_errors, "$JS.API.STREAM.INFO.MUSTER_FEED").await;

    // The publisher cannot read the feed: not live, not through a
    // consumer, not the replies the replica's pulls bring it.
    let (publisher, mut publisher_errors) =
        connect_raw(&stack, as_role("hr-publisher")).await.expect("the publisher connects");
    let _feed = publisher.subscribe("muster.feed").await.expect("sent");
    refused(&mut publisher_errors, "muster.feed").await;
    let _inbox = publisher.subscribe("_INBOX_muster_query.>").await.expect("sent");
    refused(&mut publisher_errors, "_INBOX_muster_query.>").await;
    let _all = publisher.subscribe(">").await.expect("sent");
    refused(&mut publisher_errors, "\">\"").await;
    let js = denied_js(&publisher);
    assert!(js.get_stream(stack.topology().feed_stream()).await.is_err(), "no feed stream for a publisher");
    refused(&mut publisher_errors, "$JS.API.STREAM.INFO.MUSTER_FEED").await;
    let consumer = js
        .create_consumer_on_stream(
            jetstream::consumer::pull::Config { name: Some("peek".into()), ..Default::default() },
            stack.topology().feed_stream(),
        )
        .await;
    assert!(consumer.is_err(), "no consumer on the feed for a publisher");
    refused(&mut publisher_errors, "$JS.API.CONSUMER.CREATE.MUSTER_FEED").await;
    // Nor forge feed entries or receipts.
    publisher.publish("muster.feed", "forged".into()).await.expect("sent");
    refused(&mut publisher_errors, "muster.feed").await;
    let receipts = stack.topology().receipts_subject(&forged.source);
    publisher.publish(receipts.clone(), "[]".into()).await.expect("sent");
    refused(&mut publisher_errors, &receipts).await;

    // Nor learn of another source's events by asking on its own source's
    // lookup subject: the ledger answers a lookup only on the source's own.
    let asked = publisher
        .request(stack.topology().lookup_subject("hr/nanhu"), r#"{"source":"hr/pujiang","id":"pujiang-0001"}"#.into())
        .await
        .expect("answered");
    let answer = String::from_utf8_lossy(&asked.payload);
    assert!(answer.contains("source_not_of_subject"), "{answer}");

    // The replica cannot publish events either.
    let (query, mut query_errors) = connect_raw(&stack, as_role("query")).await.expect("the replica's user connects");
    query.publish(subject.clone(), forged.payload.clone().into()).await.expect("sent");
    refused(&mut query_errors, &subject).await;

    // Nothing the refused clients did changed anything.
    assert_eq!((intake_messages(&stack).await, feed_messages(&stack).await), (intake, feed));
    replica.stop().await;
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_gets_in_without_a_certificate_of_the_deployments_ca() {
    let stack = Stack::secure(certs());
    // The right certificate: in.
    assert!(connect_raw(&stack, as_role("auditor")).await.is_some(), "the auditor's certificate opens");
    // No TLS at all: a client speaking plain NATS on the socket (a NATS
    // client library would upgrade to TLS when the server asks) is told
    // TLS is required, and never gets a PONG.
    let answer = plain_nats_session(&stack).await;
    assert!(!answer.contains("PONG"), "a plain client was answered: {answer}");
    assert!(answer.contains("-ERR") || answer.is_empty(), "a plain client is refused: {answer}");
    // TLS, trusting the server, but no client certificate.
    let anonymous = async_nats::ConnectOptions::new().require_tls(true).add_root_certificates(certs().join("ca.pem"));
    assert!(connect_raw(&stack, anonymous).await.is_none(), "a client without a certificate is refused");
    // A certificate for the same name from another CA.
    let elsewhere = tempfile::tempdir().unwrap();
    make_certs(elsewhere.path(), &[]);
    let forged = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(certs().join("ca.pem"))
        .add_client_certificate(elsewhere.path().join("auditor.pem"), elsewhere.path().join("auditor-key.pem"));
    assert!(connect_raw(&stack, forged).await.is_none(), "a certificate of another CA is refused");
    // A certificate of the deployment's CA for a name that is no user.
    assert!(connect_raw(&stack, as_role("stranger")).await.is_none(), "a certificate that names no user is refused");
    // The server's own certificate (of the CA, but not for clients).
    let server = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(certs().join("ca.pem"))
        .add_client_certificate(certs().join("server.pem"), certs().join("server-key.pem"));
    assert!(connect_raw(&stack, server).await.is_none(), "a server certificate is no client's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_organisations_users_reach_their_own_ledger_and_no_other() {
    let (a, b) = (muster_bus::Topology::new("bureau-a"), muster_bus::Topology::new("bureau-b"));
    let stack = Stack::secure_for(certs(), &["bureau-a", "bureau-b"]);
    // Bureau A's ledger with failover: its lease bucket is within its
    // user's permissions too.
    let ledger_a = stack.start_org_ledger("bureau-a", true);
    let ledger_b = stack.start_org_ledger("bureau-b", false);
    let js = jetstream::new(stack.org_client("ledger", "bureau-a").await);
    muster_tests::stack::stream_made(&js, &a.feed_stream(), "bureau A's ledger made its streams").await;

    // Bureau A's HR system records its events through its own doors.
    let publisher =
        Publisher::new(stack.org_client("hr-publisher", "bureau-a").await, a.clone(), PublisherConfig::default());
    let outcomes = publisher.publish_all((1..=50).map(muster_tests::crash::outgoing), |_| {}).await.unwrap();
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Receipt(r) if r.seq.is_some())), "{outcomes:?}");

    // And through no door of bureau B's.
    let (hr_a, mut hr_a_errors) = org_raw(&stack, "hr-publisher", "bureau-a").await;
    let event = muster_tests::crash::outgoing(51);
    let b_intake = b.intake_subject(&event.source);
    let ack = denied_js(&hr_a).publish(b_intake.clone(), event.payload.clone().into()).await.expect("sent").await;
    assert!(ack.is_err(), "no stream took bureau A's event for bureau B");
    refused(&mut hr_a_errors, &b_intake).await;
    let b_receipts = b.receipts_subject(&event.source);
    let _receipts = hr_a.subscribe(b_receipts.clone()).await.expect("sent");
    refused(&mut hr_a_errors, &b_receipts).await;
    let b_lookup = b.lookup_subject(&event.source);
    hr_a.publish(b_lookup.clone(), "{}".into()).await.expect("sent");
    refused(&mut hr_a_errors, &b_lookup).await;
    assert!(denied_js(&hr_a).get_stream(b.intake_stream()).await.is_err());
    refused(&mut hr_a_errors, &format!("$JS.API.STREAM.INFO.{}", b.intake_stream())).await;
    // Bureau B's inbox of the same role is not A's to read.
    let b_inbox = format!("{}.>", muster_bus::permissions::inbox_prefix("hr-publisher", "bureau-b"));
    let _inbox = hr_a.subscribe(b_inbox.clone()).await.expect("sent");
    refused(&mut hr_a_errors, &b_inbox).await;

    // Bureau A's ledger user cannot consume bureau B's intake, answer its
    // lookups, write its feed or take its lease.
    let (ledger_user, mut ledger_errors) = org_raw(&stack, "ledger", "bureau-a").await;
    let consumer = denied_js(&ledger_user)
        .create_consumer_on_stream(jetstream::consumer::pull::Config::default(), b.intake_stream())
        .await;
    assert!(consumer.is_err(), "no consumer on bureau B's intake");
    refused(&mut ledger_errors, &format!("$JS.API.CONSUMER.CREATE.{}", b.intake_stream())).await;
    let _lookups = ledger_user.subscribe(b.lookup_filter()).await.expect("sent");
    refused(&mut ledger_errors, &b.lookup_filter()).await;
    ledger_user.publish(b.feed_subject(), "forged".into()).await.expect("sent");
    refused(&mut ledger_errors, &b.feed_subject()).await;
    let b_lease = format!("$KV.{}.ledger", b.lease_bucket());
    ledger_user.publish(b_lease.clone(), "a".into()).await.expect("sent");
    refused(&mut ledger_errors, &b_lease).await;

    // Bureau A's auditor cannot ask bureau B's replicas.
    let (auditor, mut auditor_errors) = org_raw(&stack, "auditor", "bureau-a").await;
    let b_status = format!("{}.status", b.query_group());
    auditor.publish(b_status.clone(), "{}".into()).await.expect("sent");
    refused(&mut auditor_errors, &b_status).await;

    // Bureau B's intake never held anything.
    let js_b = jetstream::new(stack.org_client("ledger", "bureau-b").await);
    assert_eq!(js_b.get_stream(b.intake_stream()).await.unwrap().info().await.unwrap().state.messages, 0);
    ledger_a.stop().await;
    ledger_b.stop().await;
}
