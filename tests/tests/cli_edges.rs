//! The four binaries at their edges, run as a user runs them: the exit
//! code of every mistake (README.md, "Exit codes"), a message that says
//! what is wrong, and nothing changed by a command that failed.
//!
//! Runs the real `muster`, `muster-publish`, `muster-ledger` and
//! `muster-query` (built once here, `cargo build -p …`), a real
//! nats-server where NATS is involved, each command in a temporary
//! working directory with only the environment a case gives it.

use muster_tests::nats::NatsServer;
use muster_tests::workspace_binary as binary;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn closed_url() -> String {
    format!("nats://127.0.0.1:{}", closed_port())
}

/// One command and what it must end with.
struct Case {
    name: &'static str,
    binary: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    exit: i32,
    /// Must appear in stderr or stdout.
    fragment: &'static str,
    /// It must end within this.
    within: Duration,
}

fn case(name: &'static str, binary: &'static str, args: &[&str], exit: i32, fragment: &'static str) -> Case {
    Case {
        name,
        binary,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        exit,
        fragment,
        within: Duration::from_secs(30),
    }
}

impl Case {
    fn env(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.env.push((name, value.into()));
        self
    }

    fn within(mut self, limit: Duration) -> Case {
        self.within = limit;
        self
    }
}

/// What a command printed and how it ended.
struct Ended {
    code: Option<i32>,
    output: String,
    took: Duration,
}

/// Runs `binary` in `dir` with only `env` (and `MUSTER_LOG=warn`); kills it
/// if it is not done within `limit`.
fn run(dir: &Path, binary_name: &str, args: &[String], env: &[(&str, String)], limit: Duration) -> Ended {
    let program = binary(binary_name);
    let started = Instant::now();
    let stdout = tempfile::NamedTempFile::new().expect("stdout file");
    let stderr = tempfile::NamedTempFile::new().expect("stderr file");
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("MUSTER_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(stdout.reopen().expect("stdout"))
        .stderr(stderr.reopen().expect("stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {binary_name}: {e}"));
    let code = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read_to_string(stderr.path()).unwrap_or_default()
        + &std::fs::read_to_string(stdout.path()).unwrap_or_default();
    Ended { code, output, took: started.elapsed() }
}

/// Runs every case in `dir` and checks its exit code, message and time;
/// reports every failing case at once.
fn check(dir: &Path, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        let ended = run(dir, case.binary, &case.args, &case.env, case.within);
        let ok = ended.code == Some(case.exit) && ended.output.contains(case.fragment);
        if !ok {
            failures.push(format!(
                "{}: `{} {}` ended {:?} after {:.1} s, expected {} and {:?}; output:\n{}",
                case.name,
                case.binary,
                case.args.join(" "),
                ended.code,
                ended.took.as_secs_f64(),
                case.exit,
                case.fragment,
                ended.output
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).expect("write input");
    name.to_owned()
}

fn examples() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/examples/events.jsonl").display().to_string()
}

/// Mistakes that need no NATS: usage, bad input, an unknown directory, a
/// broken export. Nothing they touch changes.
#[test]
fn local_mistakes_end_with_their_codes_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write(d, "words.jsonl", "hello\nworld\n");
    std::fs::create_dir(d.join("plain")).expect("a plain directory");
    write(d, "columns.csv", "colour,size\nred,1\n");
    write(d, "nosource.csv", "id,type,effectivedate,staff\ne1,staff.left,2015-01-01,P1\n");
    let sourced =
        "id,source,type,effectivedate,unit,name,category\nc1,hr/csv,unit.established,2013-01-01,CSV1,Csv unit,office\n";
    write(d, "sourced.csv", sourced);
    // A good ledger, and its export with one byte changed inside entry 2.
    let imported = run(
        d,
        "muster",
        &["--ledger".into(), "good".into(), "import".into(), examples()],
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(imported.code, Some(0), "{}", imported.output);
    let exported = run(
        d,
        "muster",
        &["--ledger".into(), "good".into(), "export".into(), "export.jsonl".into()],
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(exported.code, Some(0), "{}", exported.output);
    let export = std::fs::read_to_string(d.join("export.jsonl")).expect("export");
    assert!(export.contains("Legal affairs brigade"));
    write(d, "broken.jsonl", &export.replacen("Legal affairs brigade", "Legal affairs brigadf", 1));
    let closed = closed_url();
    let ledger_before = std::fs::read_dir(d.join("good")).expect("ledger").count();

    check(
        d,
        vec![
            case("an unknown flag", "muster", &["--bogus"], 2, "unexpected argument"),
            case("no file", "muster-publish", &[], 2, "required"),
            case("status of a local ledger", "muster", &["status"], 2, "give --nats-url"),
            case(
                "a witness of a local ledger",
                "muster",
                &["witness", "--name", "w1", "--signing-key", "k", "--public-key", "00", "--state", "s.json"],
                2,
                "witness follows the query service's checkpoints: give --nats-url",
            ),
            case(
                "witnesses required of no checkpoint",
                "muster",
                &["verify", "--export", "e.jsonl", "--witness", "w1+00000000+AA=="],
                2,
                "--witness checks a --checkpoint's cosignatures: give one",
            ),
            case(
                "--ledger and --nats-url",
                "muster",
                &["--ledger", "good", "--nats-url", &closed, "tree", "--date", "2016-01-01"],
                2,
                "cannot be used with",
            ),
            case(
                "a local command with a URL",
                "muster",
                &["--nats-url", &closed, "import", "words.jsonl"],
                2,
                "muster-publish",
            ),
            case(
                "a mistyped ledger",
                "muster",
                &["--ledger", "typo", "headcount", "--unit", "NH", "--date", "2016-01-01"],
                6,
                "no ledger at typo",
            ),
            case(
                "verify on a mistyped ledger",
                "muster",
                &["--ledger", "typo", "verify"],
                6,
                "only `muster import` creates one",
            ),
            case("an input file not there", "muster", &["--ledger", "new", "import", "nofile.jsonl"], 6, "no file"),
            case("the publisher's file not there", "muster-publish", &["nofile.jsonl"], 6, "no file nofile.jsonl"),
            case("a bad URL, ledger service", "muster-ledger", &["--nats-url", "not a url::"], 5, "not a NATS URL"),
            case(
                "a directory that is no ledger",
                "muster",
                &["--ledger", "plain", "headcount", "--unit", "NH", "--date", "2016-01-01"],
                6,
                "no ledger at plain: the directory holds no ledger",
            ),
            case(
                "an unknown unit",
                "muster",
                &["--ledger", "good", "headcount", "--unit", "NOPE", "--date", "2016-01-01"],
                6,
                "unit_unknown",
            ),
            case(
                "an unknown staff member",
                "muster",
                &["--ledger", "good", "history", "--staff", "NOPE"],
                6,
                "staff_unknown",
            ),
            case(
                "an unknown event",
                "muster",
                &["--ledger", "good", "receipt", "--source", "hr/x", "--id", "nope"],
                6,
                "not_found",
            ),
            case(
                "import of a file of no events",
                "muster",
                &["--ledger", "new", "import", "words.jsonl"],
                5,
                "no line decodes as an event; line 1: malformed_payload",
            ),
            case(
                "import of a CSV of unknown columns",
                "muster",
                &["--ledger", "new", "import", "columns.csv"],
                5,
                "line 1: unknown column 'colour'",
            ),
            case(
                "import of a CSV without source",
                "muster",
                &["--ledger", "new", "import", "nosource.csv"],
                5,
                "no column source (and no --source",
            ),
            case(
                "publish of a file of no events",
                "muster-publish",
                &["words.jsonl", "--nats-url", &closed],
                5,
                "words.jsonl: no line decodes as an event; line 1:",
            ),
            case(
                "publish of a CSV without source",
                "muster-publish",
                &["nosource.csv", "--nats-url", &closed],
                5,
                "nosource.csv: line 1: no column source",
            ),
            case(
                "a bad NATS URL",
                "muster-publish",
                &["sourced.csv", "--nats-url", "nats://[::1"],
                5,
                "is not a NATS URL",
            ),
            case("a broken export", "muster", &["verify", "--export", "broken.jsonl"], 8, "first_bad_seq"),
            case("a whole export", "muster", &["verify", "--export", "export.jsonl"], 0, "head_hash"),
            case(
                "a CSV with --bom",
                "muster",
                &["--ledger", "good", "--format", "csv", "--bom", "tree", "--date", "2016-01-01"],
                0,
                "\u{FEFF}unit,",
            ),
        ],
    );
    for untouched in ["typo", "new"] {
        assert!(!d.join(untouched).exists(), "a failed command created {untouched}");
    }
    assert_eq!(std::fs::read_dir(d.join("plain")).expect("plain").count(), 0, "a read made a ledger there");
    assert_eq!(std::fs::read_dir(d.join("good")).expect("ledger").count(), ledger_before);
    // A CSV with the columns it needs imports (the same reader as muster-publish).
    check(d, vec![case("import of a CSV", "muster", &["--ledger", "csv", "import", "sourced.csv"], 0, "accepted")]);
}

/// Every binary that connects says NATS is not reachable, within the time
/// asked, with exit 7; the publisher within its default too.
#[test]
fn unreachable_nats_ends_quickly_with_7() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write(d, "one.jsonl", std::fs::read_to_string(examples()).expect("examples").lines().next().unwrap_or_default());
    let closed = closed_url();
    let quick = ["--connect-timeout-ms", "1000"];
    let limit = Duration::from_secs(8);
    let not_reachable = "not reachable within";
    let args = |head: &[&str]| -> Vec<String> { head.iter().chain(quick.iter()).map(|a| a.to_string()).collect() };
    let with = |name, binary, head: &[&str]| Case {
        args: args(head),
        ..case(name, binary, &[], 7, not_reachable).within(limit)
    };
    check(
        d,
        vec![
            with("muster-publish", "muster-publish", &["one.jsonl", "--nats-url", &closed]),
            with("muster", "muster", &["--nats-url", &closed, "tree", "--date", "2016-01-01"]),
            with("muster-ledger", "muster-ledger", &["--nats-url", &closed, "--ledger", "ledger"]),
            with("muster-query", "muster-query", &["--nats-url", &closed, "--replica", "replica", "--http", "off"]),
            with("the old --nats", "muster", &["--nats", &closed, "status"]),
            with("NATS_URL, publisher", "muster-publish", &["one.jsonl"]).env("NATS_URL", closed.clone()),
            with("NATS_URL, muster", "muster", &["tree", "--date", "2016-01-01"]).env("NATS_URL", closed.clone()),
            with("MUSTER_NATS_URL, muster", "muster", &["status"]).env("MUSTER_NATS_URL", closed.clone()),
            // The default: well under the minutes it used to hang.
            case("the default wait", "muster-publish", &["one.jsonl", "--nats-url", &closed], 7, not_reachable)
                .within(Duration::from_secs(15)),
        ],
    );
    // A ledger directory named beats a URL in the environment.
    check(
        d,
        vec![case(
            "MUSTER_LEDGER over NATS_URL",
            "muster",
            &["tree", "--date", "2016-01-01"],
            6,
            "no ledger at nowhere",
        )
        .env("NATS_URL", closed.clone())
        .env("MUSTER_LEDGER", "nowhere")],
    );
}

/// Against a running nats-server, ledger service and query service (the
/// real binaries): the URL from each place reaches them, the publisher
/// reports its head and lines, a held ledger is refused at once, and a
/// publisher with no ledger answering says it is waiting.
#[test]
fn over_a_running_deployment() {
    let nats = NatsServer::start();
    let url = nats.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let common = |extra: &[&str]| -> Vec<String> {
        ["--nats-url", url.as_str()].iter().chain(extra).map(|a| a.to_string()).collect()
    };
    let spawn = |binary_name: &str, args: Vec<String>| {
        Command::new(binary(binary_name))
            .args(args)
            .current_dir(d)
            .env_clear()
            .env("MUSTER_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn service")
    };
    // Before any ledger service ran here: no stream will ever take the
    // events, which is said, and is "unreachable", not a silent loss.
    write(d, "one.jsonl", std::fs::read_to_string(examples()).expect("examples").lines().next().unwrap_or_default());
    let one = common(&["one.jsonl"]);
    check(d, vec![Case { args: one, ..case("no ledger ever ran", "muster-publish", &[], 7, "no intake stream") }]);
    let mut ledger = Service(spawn("muster-ledger", common(&["--ledger", "ledger", "--batch-wait-ms", "5"])));
    let mut query = Service(spawn("muster-query", common(&["--replica", "replica", "--http", "off"])));
    // One rejected event, on line 3 of its file.
    let mut lines: Vec<String> =
        std::fs::read_to_string(examples()).expect("examples").lines().map(str::to_owned).collect();
    lines.insert(2, r#"{"specversion":"1.0","id":"x-1","source":"hr/x","type":"org.muster.staff.left.v1","effectivedate":"2015-01-01","data":{"staff":"NOBODY","reason":"resigned"}}"#.into());
    write(d, "events.jsonl", &(lines.join("\n") + "\n"));
    // Until the ledger service has made its streams, the publisher says
    // there is none; publishing again is safe.
    let ready = Instant::now() + Duration::from_secs(60);
    let published = loop {
        let args = common(&["events.jsonl", "--summary", "summary.json", "--rejections", "rejected.jsonl", "--quiet"]);
        let published = run(d, "muster-publish", &args, &[], Duration::from_secs(120));
        if !published.output.contains("no intake stream") || Instant::now() > ready {
            break published;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(published.code, Some(0), "{}", published.output);
    assert!(published.output.contains("line 3: hr/x/x-1 rejected:"), "{}", published.output);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).expect("summary")).expect("summary JSON");
    let head_seq = summary["summary"]["head_seq"].as_u64().expect("head_seq");
    assert_eq!(head_seq, 64, "63 example entries and the rejected one: {summary}");
    assert_eq!(summary["summary"]["head_hash"].as_str().map(str::len), Some(64), "{summary}");
    let rejected: Vec<serde_json::Value> = std::fs::read_to_string(d.join("rejected.jsonl"))
        .expect("rejections")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a rejection"))
        .collect();
    assert!(rejected.iter().any(|r| r["id"] == "x-1" && r["line"] == 3), "{rejected:?}");

    // The replica has everything once it says so.
    muster_tests::wait::eventually_blocking(Duration::from_secs(60), "the replica caught up", || {
        let status = run(d, "muster", &common(&["--format", "json", "status"]), &[], Duration::from_secs(20));
        (status.code == Some(0) && status.output.contains(&format!("\"applied_seq\": {head_seq}"))).then_some(())
    });
    let headcount = ["headcount", "--unit", "NH", "--date", "2016-01-01"];
    let remote = |name, head: &[&str]| case(name, "muster", &[head, &headcount[..]].concat(), 0, "posted");
    check(
        d,
        vec![
            remote("--nats-url", &["--nats-url", &url]),
            remote("the old --nats", &["--nats", &url]),
            remote("MUSTER_NATS_URL", &[]).env("MUSTER_NATS_URL", url.clone()),
            remote("NATS_URL", &[]).env("NATS_URL", url.clone()),
            remote("MUSTER_NATS_URL over NATS_URL", &[])
                .env("MUSTER_NATS_URL", url.clone())
                .env("NATS_URL", closed_url()),
            case(
                "an unknown unit, remote",
                "muster",
                &["--nats-url", &url, "headcount", "--unit", "NOPE", "--date", "2016-01-01"],
                6,
                "unit_unknown",
            ),
            case(
                "another prefix: no query service",
                "muster",
                &["--nats-url", &url, "--prefix", "other", "status"],
                7,
                "no query service answers",
            ),
            case("a ledger a service holds", "muster", &["--ledger", "ledger", "verify"], 7, "with --nats-url instead")
                .within(Duration::from_secs(3)),
            // A second service on a held directory: its lock wait (10 s,
            // for a restart whose old process is still stopping), then 7.
            case(
                "a replica another service holds",
                "muster-query",
                &["--nats-url", &url, "--replica", "replica", "--http", "off"],
                7,
                "in use by a running service",
            )
            .within(Duration::from_secs(40)),
            case(
                "a replica a service holds",
                "muster",
                &["--ledger", "replica", "tree", "--date", "2016-01-01"],
                7,
                "in use by a running service",
            )
            .within(Duration::from_secs(3)),
        ],
    );
    // The ledger service stopped (its streams stay): the publisher says
    // it is waiting, then gives up (exit 4) after its few short attempts.
    ledger.stop();
    let event = r#"{"specversion":"1.0","id":"x-2","source":"hr/x","type":"org.muster.staff.left.v1","effectivedate":"2015-01-01","data":{"staff":"NOBODY","reason":"resigned"}}"#;
    write(d, "one.jsonl", event);
    let args = ["one.jsonl", "--receipt-wait-ms", "200", "--waiting-notice-ms", "300"];
    check(
        d,
        vec![case("no ledger answering", "muster-publish", &args, 4, "events outstanding; waiting up to")
            .env("NATS_URL", url.clone())
            .within(Duration::from_secs(60))],
    );
    query.stop();
}

/// A child service, killed when the test ends however it ends.
struct Service(std::process::Child);

impl Service {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An auditor at the terminal goes from a move, a history line or a roster
/// line to the order behind it: the reform imported into a local ledger,
/// every figure shown with its order reference, event key and seq, and
/// units with their names.
#[test]
fn the_terminal_traces_moves_history_and_rosters_to_their_orders() {
    let dir = tempfile::tempdir().unwrap();
    let reform = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/scenarios/reform/events.jsonl");
    let ask = |args: &[&str]| {
        let args: Vec<String> = ["--ledger", "ledger"].iter().chain(args).map(|a| a.to_string()).collect();
        let ended = run(dir.path(), "muster", &args, &[], Duration::from_secs(120));
        assert_eq!(ended.code, Some(0), "muster {}: {}", args.join(" "), ended.output);
        ended.output
    };
    ask(&["import", reform.to_str().unwrap()]);
    let moves = ask(&[
        "audit",
        "--scope",
        "NH",
        "--from",
        "2013-01-01",
        "--to",
        "2016-12-01",
        "--moves",
        "--html",
        "nh.html",
        "--xlsx",
        "nh.xlsx",
    ]);
    // The documents beside the table: the report, and the workbook (a zip).
    let html = std::fs::read_to_string(dir.path().join("nh.html")).expect("the report");
    assert_eq!(muster_tests::text_of(&html, "fig-at-front"), Some("89"), "the report's headline");
    let xlsx = std::fs::read(dir.path().join("nh.xlsx")).expect("the workbook");
    assert!(xlsx.starts_with(b"PK\x03\x04") && xlsx.len() > 10_000, "{} bytes", xlsx.len());
    // NH00059: posted down by an order, seconded back to the office by
    // another (its paper move), both named with their keys and seqs.
    let line = moves.lines().find(|l| l.starts_with("down") && l.contains(" NH00059 ")).expect("NH00059's move");
    assert!(line.contains("宣传科 Publicity section"), "the unit's name: {line}");
    let orders = line.matches("南湖公〔").count();
    assert!(orders >= 2 && line.contains("hr/nanhu/nanhu-") && line.contains("seq "), "{line}");
    let history = ask(&["history", "--staff", "NH00059"]);
    assert!(history.lines().next().unwrap().contains("order_ref"), "{history}");
    assert!(history.contains("南湖公〔") && history.contains("hr/nanhu") && history.contains("Publicity section"));
    let roster = ask(&["roster", "--unit", "NH-PS07", "--date", "2016-06-01", "--format", "csv"]);
    let header = roster.lines().next().unwrap();
    assert!(header.contains("home_name") && header.contains("since_order_ref") && header.contains("since_event"));
    assert!(roster.lines().skip(1).all(|l| l.contains("hr/nanhu/")), "every line names its event:\n{roster}");
}

/// `muster ARGS` in `dir`.
fn muster_in(dir: &Path, args: &[&str]) -> Ended {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run(dir, "muster", &args, &[], Duration::from_secs(120))
}

/// `muster ARGS` in `dir`, which must succeed: its output.
fn muster_ok(dir: &Path, args: &[&str]) -> String {
    let ended = muster_in(dir, args);
    assert_eq!(ended.code, Some(0), "muster {}: {}", args.join(" "), ended.output);
    ended.output
}

/// An auditor's round: the operator signs the ledger (C2SP checkpoints
/// naming head and Merkle root) at 40 entries and at 63, and exports it;
/// the auditor verifies the export against the later checkpoint, proves
/// an event is in the earlier one's tree and the earlier tree a prefix of
/// the later, with the public key alone. Another key, or a checkpoint of
/// another history, is exit 8; the first format (JSON) still verifies.
#[test]
fn an_auditor_checks_exports_and_proofs_against_the_clis_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/examples/events.jsonl");
    let lines = std::fs::read_to_string(&example).unwrap();
    let first_40: String = lines.lines().take(40).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("first-40.jsonl"), first_40).unwrap();
    let muster = |args: &[&str]| muster_in(dir.path(), args);
    let ok = |args: &[&str]| muster_ok(dir.path(), args);
    let public_key = ok(&["keygen", "ledger.key"]).trim().to_owned();
    let other_key = ok(&["keygen", "other.key"]).trim().to_owned();
    let sign = |ledger: &str, file: &str| {
        let note = ok(&["--ledger", ledger, "--prefix", "bureau-a", "checkpoint", "--signing-key", "ledger.key"]);
        std::fs::write(dir.path().join(file), &note).unwrap();
        note
    };
    ok(&["--ledger", "ledger", "import", "first-40.jsonl"]);
    let early = sign("ledger", "at-40.txt");
    assert!(early.starts_with("muster/bureau-a\n40\n") && early.contains("\n\n\u{2014} muster/bureau-a "), "{early}");
    ok(&["--ledger", "ledger", "import", example.to_str().unwrap()]);
    let late = sign("ledger", "at-63.txt");
    ok(&["--ledger", "ledger", "export", "ledger.jsonl"]);
    // An answer with --proof names the tree it was computed at: the one
    // the checkpoint of that size signs.
    let answered = ok(&["--ledger", "ledger", "--proof", "tree", "--date", "2016-01-01"]);
    let signed_root = muster_proto::note::unbase64(late.lines().nth(2).unwrap()).unwrap();
    let stated = format!("Merkle tree of 63 entries, root {}", muster_ledger::hex(&signed_root));
    assert!(answered.contains(&stated), "{answered}");

    let verified =
        ok(&["verify", "--export", "ledger.jsonl", "--checkpoint", "at-63.txt", "--public-key", &public_key]);
    assert!(verified.contains("63"), "{verified}");
    let refused =
        muster(&["verify", "--export", "ledger.jsonl", "--checkpoint", "at-63.txt", "--public-key", &other_key]);
    assert_eq!(refused.code, Some(8), "{}", refused.output);

    // An event of the first 40, proven in the tree signed at 40.
    let event = lines.lines().nth(7).unwrap();
    let event: serde_json::Value = serde_json::from_str(event).unwrap();
    let (source, id) = (event["source"].as_str().unwrap(), event["id"].as_str().unwrap());
    let key = ["--public-key", public_key.as_str()];
    let proven =
        ok(&[&["--ledger", "ledger", "prove", "--source", source, "--id", id, "--checkpoint", "at-40.txt"][..], &key]
            .concat());
    assert!(proven.contains("verified") && proven.contains("yes, against the root the checkpoint signs"), "{proven}");
    let extended =
        ok(&[&["--ledger", "ledger", "prove", "--from", "at-40.txt", "--to", "at-63.txt"][..], &key].concat());
    assert!(extended.contains("yes, against both checkpoints"), "{extended}");

    // The same two proofs as files, checked offline (no ledger, no
    // service): the entry itself hashed and proven, then the consistency.
    let entry_args = ["--ledger", "ledger", "prove", "--source", source, "--id", id, "--checkpoint", "at-40.txt"];
    ok(&[&entry_args[..], &key, &["--out", "entry.proof"]].concat());
    let offline = ok(&[&["verify", "--proof-file", "entry.proof", "--checkpoint", "at-40.txt"][..], &key].concat());
    assert!(offline.contains(&format!("{source} {id}")) && offline.contains("yes, against the root"), "{offline}");
    let between = ["--ledger", "ledger", "prove", "--from", "at-40.txt", "--to", "at-63.txt", "--out", "40-63.proof"];
    ok(&[&between[..], &key].concat());
    let offline = ["verify", "--proof-file", "40-63.proof", "--from", "at-40.txt", "--checkpoint", "at-63.txt"];
    assert!(ok(&[&offline[..], &key].concat()).contains("yes, against both checkpoints"));
    // Checked against another tree, or with its entry altered: exit 8.
    let elsewhere =
        muster(&[&["verify", "--proof-file", "entry.proof", "--checkpoint", "at-63.txt"][..], &key].concat());
    assert_eq!(elsewhere.code, Some(8), "{}", elsewhere.output);
    let text = std::fs::read_to_string(dir.path().join("entry.proof")).unwrap();
    std::fs::write(dir.path().join("altered.proof"), text.replacen(id, &format!("{id}x"), 1)).unwrap();
    let altered =
        muster(&[&["verify", "--proof-file", "altered.proof", "--checkpoint", "at-40.txt"][..], &key].concat());
    assert_eq!(altered.code, Some(8), "{}", altered.output);
    assert!(altered.output.contains("entry_broken"), "{}", altered.output);

    // Another history of the same 40 events (recorded at other times):
    // its checkpoint at 40 is not a prefix of this ledger's tree at 63.
    ok(&["--ledger", "fork", "import", "first-40.jsonl"]);
    sign("fork", "fork-at-40.txt");
    let forked =
        muster(&[&["--ledger", "ledger", "prove", "--from", "fork-at-40.txt", "--to", "at-63.txt"][..], &key].concat());
    assert_eq!(forked.code, Some(8), "{}", forked.output);
    assert!(forked.output.contains("NO"), "{}", forked.output);

    // The first format, as earlier versions wrote it.
    let ledger = muster_tests::open_ledger(&dir.path().join("ledger"));
    let signer = muster_ledger::checkpoint::Signer::from_file(&dir.path().join("ledger.key")).unwrap();
    let old = muster_proto::checkpoint::encode(&signer.sign(ledger.head()));
    drop(ledger);
    std::fs::write(dir.path().join("old.json"), old).unwrap();
    ok(&["verify", "--export", "ledger.jsonl", "--checkpoint", "old.json", "--public-key", &public_key]);
}

/// The auditor's evidence pack, made and checked with the CLI alone: the
/// Nanhu audit of the reform under the checkpoint the operator signed,
/// checked offline with the public key; another key, a pack whose proof
/// file lost a line, or a local ledger without --checkpoint, each fail
/// with their documented exit.
#[test]
fn an_evidence_pack_is_made_and_checked_offline_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let muster = |args: &[&str]| muster_in(dir.path(), args);
    let ok = |args: &[&str]| muster_ok(dir.path(), args);
    let public_key = ok(&["keygen", "ledger.key"]).trim().to_owned();
    let other_key = ok(&["keygen", "other.key"]).trim().to_owned();
    ok(&["--ledger", "ledger", "import", muster_tests::stack::REFORM_EVENTS]);
    let note = ok(&["--ledger", "ledger", "checkpoint", "--signing-key", "ledger.key"]);
    std::fs::write(dir.path().join("cp.txt"), note).unwrap();
    let nanhu = ["--scope", "NH", "--from", "2013-01-01", "--to", "2016-12-01"];
    let made = ok(&[
        &["--ledger", "ledger", "evidence"][..],
        &nanhu,
        &["--checkpoint", "cp.txt", "--out", "nanhu.zip", "--public-key", &public_key],
    ]
    .concat());
    assert!(made.contains("entries proven"), "{made}");
    let checked = ok(&["verify", "--evidence", "nanhu.zip", "--public-key", &public_key]);
    assert!(checked.contains("yes") && checked.contains("muster/muster"), "{checked}");

    let refused = muster(&["verify", "--evidence", "nanhu.zip", "--public-key", &other_key]);
    assert_eq!(refused.code, Some(8), "{}", refused.output);
    assert!(refused.output.contains("[signature]"), "{}", refused.output);

    // Unpacked, one proven entry dropped: the events it proved are named.
    let unpacked = dir.path().join("unpacked");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(dir.path().join("nanhu.zip")).unwrap()).unwrap();
    archive.extract(&unpacked).unwrap();
    let entries = std::fs::read_to_string(unpacked.join("entries.jsonl")).unwrap();
    let fewer: String = entries.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(unpacked.join("entries.jsonl"), fewer).unwrap();
    let cut = muster(&["verify", "--evidence", "unpacked", "--public-key", &public_key]);
    assert_eq!(cut.code, Some(8), "{}", cut.output);
    assert!(cut.output.contains("[file_changed]") && cut.output.contains("[event_missing]"), "{}", cut.output);

    let local = muster(&[&["--ledger", "ledger", "evidence"][..], &nanhu, &["--out", "x.zip"]].concat());
    assert_eq!(local.code, Some(2), "{}", local.output);
    assert!(local.output.contains("--checkpoint"), "{}", local.output);
}
