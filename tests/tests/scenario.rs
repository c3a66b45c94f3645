//! The reform scenario (ops/scenarios/reform): the shipped files are what
//! the seed generates, the ledger accepts every event, and the article's
//! figures come out of the audit — computed by the audit from the events,
//! never typed into it. Also: every category of the audit is exercised,
//! and the same figures come back over NATS from the running services.

use muster_ledger::{Incoming, Ledger};
use muster_proto::answers::{AuditOut, LineageEdgeOut, RosterEntryOut, TreeNodeOut};
use muster_proto::entry::ReceiptStatus;
use muster_tests::stack::Stack;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

const SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/scenarios/reform");
const NANHU: (&str, &str, &str) = ("NH", "2013-01-01", "2016-12-01");
const PUJIANG: (&str, &str, &str) = ("PJ", "2015-09-01", "2016-12-01");

fn shipped(file: &str) -> Vec<u8> {
    std::fs::read(format!("{SCENARIO}/{file}")).unwrap_or_else(|e| panic!("{SCENARIO}/{file}: {e}"))
}

fn envelopes() -> Vec<muster_proto::wire::Envelope> {
    shipped("events.jsonl")
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| muster_proto::cloudevents::decode_json(line).expect("every line decodes"))
        .collect()
}

/// The scenario imported into a real ledger on disk; every event accepted.
fn reform_ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = muster_tests::open_ledger(&dir.path().join("ledger"));
    let mut now = 1_480_000_000_000;
    for chunk in envelopes().chunks(500) {
        now += 1000;
        let receipts = ledger.submit_batch(chunk.iter().cloned().map(Incoming::Decoded).collect(), now).unwrap();
        for r in receipts {
            assert_eq!(r.status, ReceiptStatus::Accepted, "{}/{}: {:?} {:?}", r.source, r.id, r.code, r.message);
        }
    }
    (dir, ledger)
}

fn ask<T: serde::de::DeserializeOwned>(ledger: &Ledger, endpoint: &str, body: serde_json::Value) -> T {
    let query = endpoint.parse().expect("an endpoint");
    let answer = muster_query::answer::answer(ledger, query, &serde_json::to_vec(&body).unwrap())
        .unwrap_or_else(|e| panic!("{endpoint}: {e:?}"));
    serde_json::from_value(serde_json::to_value(answer).unwrap()).unwrap()
}

fn audit(ledger: &Ledger, (scope, from, to): (&str, &str, &str), known_at: Option<u64>) -> AuditOut {
    let mut body = json!({"from": from, "to": to, "scope": scope});
    if let Some(seq) = known_at {
        body["known_at_seq"] = json!(seq);
    }
    ask(ledger, "audit", body)
}

fn subunits(audit: &AuditOut, unit: &str) -> (u32, u32) {
    let c = audit.subunits.iter().find(|c| c.unit == unit).unwrap_or_else(|| panic!("{unit} not restructured"));
    (c.from, c.to)
}

fn children<'a>(tree: &'a [TreeNodeOut], parent: &str) -> Vec<&'a TreeNodeOut> {
    tree.iter().filter(|n| n.parent.as_deref() == Some(parent)).collect()
}

#[test]
fn the_shipped_scenario_is_what_the_seed_generates() {
    let scenario = muster_gen::reform::generate(muster_gen::reform::DEFAULT_SEED);
    assert!(
        muster_gen::to_jsonl(&scenario.events) == shipped("events.jsonl"),
        "ops/scenarios/reform/events.jsonl differs from the generator's output: \
         run `cargo run -p muster-gen -- reform` and commit the result"
    );
    assert_eq!(muster_gen::people_csv(&scenario.people).as_bytes(), shipped("staff.csv"), "staff.csv");
    let other = muster_gen::reform::generate(muster_gen::reform::DEFAULT_SEED + 1);
    assert_ne!(muster_gen::to_jsonl(&other.events), shipped("events.jsonl"), "the seed matters");
}

#[test]
fn the_articles_figures_come_out_of_the_audit() {
    let (_dir, ledger) = reform_ledger();
    let nanhu = audit(&ledger, NANHU, None);
    // Nanhu: 32 internal units merged into 9; 89 office police moved down,
    // one third of the office's strength.
    assert_eq!(subunits(&nanhu, "NH-HQ"), (32, 9));
    assert_eq!(nanhu.office_posted.from, 267);
    assert_eq!(nanhu.moved_down_at_front, 89);
    assert_eq!(nanhu.moved_down_share, Some(33.3));
    assert!(nanhu.reconciliation.balances);
    // Pujiang: 26 internal units merged into 8; office strength −23.2%,
    // all of it moved to front-line units.
    let pujiang = audit(&ledger, PUJIANG, None);
    assert_eq!(subunits(&pujiang, "PJ-HQ"), (26, 8));
    assert_eq!(pujiang.office_posted.percent, Some(-23.2));
    let r = &pujiang.reconciliation;
    assert_eq!(-pujiang.office_posted.change, i64::from(r.moved_down_transferred + r.moved_down_restructured));
    assert!(pujiang.paper_moves.is_empty() && r.moved_down_reclassified == 0);
}

#[test]
fn the_reformed_structure_is_the_articles() {
    let (_dir, ledger) = reform_ledger();
    let nanhu = audit(&ledger, NANHU, None);
    let names = |nodes: Vec<&TreeNodeOut>| -> BTreeSet<String> {
        nodes.iter().map(|n| n.name.split(' ').next().unwrap().to_owned()).collect()
    };
    let nine: BTreeSet<String> = [
        "执法执纪监督中心",
        "政治处",
        "警令处",
        "警务保障处",
        "国内安全保卫局",
        "刑事犯罪侦查局",
        "治安管理局",
        "交通管理局",
        "拘留所",
    ]
    .map(String::from)
    .into();
    assert_eq!(names(children(&nanhu.tree_to, "NH-HQ")), nine);

    // The supervision centre: 3 offices and 2 teams, formed from 8 units.
    let centre = children(&nanhu.tree_to, "NH-SUPERVISION");
    assert_eq!(names(centre.clone()), ["监察室", "受案室", "考评室", "督察队", "法制队"].map(String::from).into());
    let mut sources = BTreeSet::new();
    for unit in &centre {
        let lineage: Vec<LineageEdgeOut> = ask(&ledger, "lineage", json!({"unit": unit.unit}));
        sources.extend(lineage.iter().filter(|e| e.to == unit.unit).map(|e| e.from.clone()));
    }
    assert_eq!(sources.len(), 8, "{sources:?}");

    // The criminal investigation bureau: 3 rooms, 7 specialised teams (office),
    // and the 4 area teams and the anti-gang team (front line).
    let bureau = children(&nanhu.tree_to, "NH-CIB");
    let rooms = bureau.iter().filter(|n| n.name.split(' ').next().unwrap().ends_with('室')).count();
    let office_teams = bureau.iter().filter(|n| n.category == "office" && n.name.contains("队")).count();
    assert_eq!((rooms, office_teams), (3, 7));
    let front: Vec<&&TreeNodeOut> = bureau.iter().filter(|n| n.category == "front_line").collect();
    assert_eq!(front.len(), 5);
    let area_teams: Vec<&&&TreeNodeOut> = front.iter().filter(|n| n.name.contains("片区刑侦")).collect();
    assert_eq!(area_teams.len(), 4);
    for team in area_teams {
        let covered = children(&nanhu.tree_to, &team.unit).len();
        assert!((2..=4).contains(&covered), "{} covers {covered} stations", team.unit);
    }

    // One department of five gave up one officer: the audit office.
    let audit_office = nanhu.units_from.iter().find(|u| u.unit == "NH-AUDIT").unwrap();
    let gave_up = nanhu.moved_down.iter().filter(|m| m.from_unit == "NH-AUDIT").count();
    assert_eq!((audit_office.posted, gave_up), (5, 1));

    // 70 community police offices, one dedicated officer each.
    let offices: Vec<&TreeNodeOut> = nanhu.tree_to.iter().filter(|n| n.name.contains("社区警务室")).collect();
    assert_eq!(offices.len(), 70);
    assert!(offices.iter().all(|o| o.posted == 1 && o.category == "front_line"));
}

#[test]
fn every_male_non_leading_office_officer_aged_50_or_more_moved_down() {
    let (_dir, ledger) = reform_ledger();
    let nanhu = audit(&ledger, NANHU, None);
    let office_on_d1: BTreeSet<String> = nanhu
        .units_from
        .iter()
        .filter(|u| u.category == "office")
        .flat_map(|u| ask::<Vec<RosterEntryOut>>(&ledger, "roster", json!({"unit": u.unit, "date": NANHU.1})))
        .filter(|r| nanhu.units_from.iter().any(|u| u.unit == r.home && u.category == "office"))
        .map(|r| r.staff)
        .collect();
    assert_eq!(office_on_d1.len(), 267);
    let moved: BTreeSet<&str> = nanhu
        .moved_down
        .iter()
        .filter(|m| m.cause != "reclassified" && !m.paper_move)
        .map(|m| m.staff.as_str())
        .collect();
    let staff = String::from_utf8(shipped("staff.csv")).unwrap();
    let d1 = muster_domain::Date::parse(NANHU.1).unwrap();
    let mut fifty_plus = 0;
    for line in staff.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (id, sex, born, leading) = (f[0], f[2], muster_domain::Date::parse(f[3]).unwrap(), f[4] == "true");
        let (by, bm, bd) = born.ymd();
        let (y, m, d) = d1.ymd();
        let age = y - by - i32::from((m, d) < (bm, bd));
        if office_on_d1.contains(id) && sex == "M" && !leading && age >= 50 {
            fifty_plus += 1;
            assert!(moved.contains(id), "{id} (male, non-leading, {age}) did not move to the front line");
        }
    }
    assert!(fifty_plus >= 10, "the rule is exercised: {fifty_plus} officers");
}

#[test]
fn every_category_of_the_audit_is_exercised_and_the_late_order_shows_both_ways() {
    let (_dir, ledger) = reform_ledger();
    let nanhu = audit(&ledger, NANHU, None);
    let r = &nanhu.reconciliation;
    let causes: BTreeMap<&str, usize> = nanhu.moved_down.iter().fold(BTreeMap::new(), |mut m, mv| {
        *m.entry(mv.cause.as_str()).or_default() += 1;
        m
    });
    assert!(causes.keys().copied().eq(["reclassified", "restructured", "transferred"]), "{causes:?}");
    assert!(!nanhu.paper_moves.is_empty() && nanhu.paper_moves.len() < 10, "a handful of paper moves");
    assert_eq!(nanhu.round_trips.len(), 1);
    assert!(!nanhu.moved_up.is_empty());
    assert!(r.joined > 0 && r.left > 0, "recruits and retirements: {r:?}");
    assert!(nanhu.office_working.from != nanhu.office_posted.from, "a long secondment shows in working strength");
    assert!(nanhu.units_to.iter().any(|u| u.over_quota > 0) && nanhu.units_to.iter().any(|u| u.vacancies > 0));

    // The order of 2016-01-04 keyed in seven weeks late: asked about the
    // end of January, the ledger said one fewer had moved down before it
    // was recorded than after; asked now, it counts.
    let late =
        envelopes().into_iter().find(|e| e.note.as_deref().is_some_and(|n| n.contains("keyed in late"))).unwrap();
    let seq = ledger.receipt(&late.source, &late.id).unwrap().expect("recorded").seq.expect("a ledger sequence");
    let january = (NANHU.0, NANHU.1, "2016-01-31");
    let before = audit(&ledger, january, Some(seq - 1));
    let after = audit(&ledger, january, Some(seq));
    assert_eq!(before.moved_down_at_front + 1, after.moved_down_at_front);
    let staff = match &late.body {
        muster_proto::wire::EventBody::StaffTransferred(t) => t.staff.clone(),
        other => panic!("the late order is a transfer, not {other:?}"),
    };
    assert!(!before.moved_down.iter().any(|m| m.staff == staff));
    assert!(after.moved_down.iter().any(|m| m.staff == staff));
    assert!(nanhu.moved_down.iter().any(|m| m.staff == staff && m.cause == "transferred"));

    // A transfer keyed to the wrong community office was retracted.
    let retraction = envelopes()
        .into_iter()
        .find(|e| matches!(e.body, muster_proto::wire::EventBody::EventRetracted(_)))
        .expect("a retraction");
    assert_eq!(ledger.receipt(&retraction.source, &retraction.id).unwrap().unwrap().status, ReceiptStatus::Accepted);
}

#[test]
fn the_reports_of_the_reform_parse_and_hold_the_figures() {
    let (_dir, ledger) = reform_ledger();
    for (scope, share) in [(NANHU, "33.3%"), (PUJIANG, "23.2%")] {
        let a = audit(&ledger, scope, None);
        let html = muster_tests::audit_report(&ledger, &a);
        assert!(html.starts_with("<!DOCTYPE html>"));
        muster_tests::tags_balance(&html).unwrap();
        assert!(html.matches("<svg").count() >= 2, "the strength chart and the sub-unit bars");
        assert_eq!(muster_tests::text_of(&html, "moved-share"), Some(share), "{scope:?}");
        assert_eq!(muster_tests::text_of(&html, "fig-at-front"), Some(a.moved_down_at_front.to_string().as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_nats_the_services_give_the_same_figures() {
    let stack = Stack::new();
    let ledger = stack.start_ledger();
    stack.wait_for_streams().await;
    let (query, _http) = stack.start_query("a").await;
    let client = stack.client().await;
    let events = muster_tests::outgoing_from_jsonl(&std::path::Path::new(SCENARIO).join("events.jsonl"), None).unwrap();
    let total = events.len() as u64;
    let publisher = muster_publisher::Publisher::new(
        client.clone(),
        muster_bus::Topology::default(),
        muster_publisher::PublisherConfig::default(),
    );
    let outcomes = publisher.publish_all(events, |_| {}).await.unwrap();
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, muster_publisher::Outcome::Receipt(r) if r.status == ReceiptStatus::Accepted))
        .count() as u64;
    assert_eq!(accepted, total);

    let ask = |endpoint: &'static str, body: serde_json::Value| {
        let client = client.clone();
        async move {
            let reply = client
                .request(format!("muster.query.{endpoint}"), serde_json::to_vec(&body).unwrap().into())
                .await
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&reply.payload).unwrap()
        }
    };
    muster_tests::wait::eventually(std::time::Duration::from_secs(60), "the replica caught up", || async {
        (ask("status", json!({})).await["applied_seq"].as_u64() >= Some(total)).then_some(())
    })
    .await;
    let nanhu: AuditOut =
        serde_json::from_value(ask("audit", json!({"from": NANHU.1, "to": NANHU.2, "scope": "NH"})).await).unwrap();
    assert_eq!(
        (subunits(&nanhu, "NH-HQ"), nanhu.moved_down_at_front, nanhu.moved_down_share),
        ((32, 9), 89, Some(33.3))
    );
    let pujiang: AuditOut =
        serde_json::from_value(ask("audit", json!({"from": PUJIANG.1, "to": PUJIANG.2, "scope": "PJ"})).await).unwrap();
    assert_eq!((subunits(&pujiang, "PJ-HQ"), pujiang.office_posted.percent), ((26, 8), Some(-23.2)));
    query.stop().await;
    ledger.stop().await;
}

/// An auditor goes from a move, a history line or a roster line to the
/// order behind it in one step: every event an answer names is the very
/// event of the scenario file (source, id, type, effective date, order
/// reference), recorded in the ledger at the seq it names, and units come
/// with their names.
#[test]
fn every_move_history_and_roster_line_names_the_orders_behind_it() {
    let (_dir, ledger) = reform_ledger();
    let sent: BTreeMap<String, muster_proto::wire::Envelope> =
        envelopes().into_iter().map(|e| (e.id.clone(), e)).collect();
    let is_sent = |e: &muster_proto::answers::EventRefOut| {
        let envelope = &sent[&e.id];
        let recorded = ledger.entry(e.seq).unwrap().expect("recorded at the seq it names");
        assert_eq!(recorded.body.submission.key(), (e.source.as_str(), e.id.as_str()));
        assert_eq!(
            (e.source.as_str(), e.event_type.as_str(), &e.effective_date, &e.order_ref),
            (
                envelope.source.as_str(),
                envelope.body.type_name(),
                &envelope.effective_date.0.to_string(),
                &envelope.order_ref
            ),
        );
        assert!(e.recorded_at.starts_with("2016-11-") && e.recorded_at.ends_with('Z'), "{}", e.recorded_at);
        envelope
    };
    let nanhu = audit(&ledger, NANHU, None);
    let moves: Vec<_> = nanhu.moved_down.iter().chain(&nanhu.moved_up).collect();
    assert!(moves.len() > 89);
    for m in &moves {
        assert!(m.from_unit_name.is_some() && m.to_unit_name.is_some() && m.working_on_to_name.is_some(), "{m:?}");
        assert!(!m.events.is_empty(), "{} moved with no event behind it", m.staff);
        for e in &m.events {
            let envelope = is_sent(e);
            let day = e.effective_date.as_str();
            assert!(day > NANHU.1 && day <= NANHU.2, "{} is not between the audit's days", e.effective_date);
            if e.event_type.starts_with("org.muster.staff.") {
                let json = String::from_utf8(muster_proto::cloudevents::encode_json(envelope)).unwrap();
                assert!(json.contains(&format!("\"staff\":\"{}\"", m.staff)), "{json} is not {}'s", m.staff);
            }
        }
        let kinds: BTreeSet<&str> = m.events.iter().map(|e| e.event_type.as_str()).collect();
        let behind = match m.cause.as_str() {
            "transferred" => kinds.contains("org.muster.staff.transferred.v1"),
            "restructured" => kinds.iter().any(|k| k.contains("merged") || k.contains("split")),
            _ => kinds.contains("org.muster.unit.reclassified.v1"),
        };
        assert!(behind, "{} {}: {kinds:?}", m.staff, m.cause);
        if m.paper_move {
            assert!(kinds.contains("org.muster.staff.seconded.v1"), "a paper move names its secondment: {kinds:?}");
        }
    }
    let csv = muster_report::moves_csv(&nanhu);
    assert_eq!(csv.lines().count(), moves.len() + 1);
    let first_order = moves[0].events[0].order_ref.clone().expect("the reform's orders carry references");
    assert!(csv.contains(&first_order) && muster_tests::audit_report(&ledger, &nanhu).contains(&first_order));

    let staff = &moves[0].staff;
    let history: Vec<muster_proto::answers::HistoryEntryOut> = ask(&ledger, "history", json!({"staff": staff}));
    for line in &history {
        let envelope = &sent[line.id.as_ref().expect("an id")];
        assert_eq!(
            (&line.order_ref, line.seq),
            (&envelope.order_ref, ledger.receipt(&envelope.source, &envelope.id).unwrap().unwrap().seq.unwrap())
        );
        assert!(line.home_name.is_some() && line.working_name.is_some());
    }
    let roster: Vec<RosterEntryOut> = ask(&ledger, "roster", json!({"unit": moves[0].to_unit, "date": NANHU.2}));
    assert!(!roster.is_empty());
    for line in &roster {
        is_sent(line.since.as_ref().expect("the event behind a roster line"));
        assert!(line.home_name.is_some());
    }
}

/// `corrections` keeps its promise over the whole scenario: for every
/// backdated event (its day before one already recorded) asked alone, and
/// for wide windows over 2016, every unit whose own counts or presence
/// changed is explained by an event of the answer.
#[test]
fn every_correction_of_the_reform_is_explained() {
    let (_dir, ledger) = reform_ledger();
    let mut latest = String::new();
    let mut asked = 0;
    for (i, envelope) in envelopes().iter().enumerate() {
        let (seq, day) = (i as u64 + 1, envelope.effective_date.0.to_string());
        if day < latest {
            let scope = if envelope.source == "hr/nanhu" { "NH" } else { "PJ" };
            for date in [day.as_str(), "2016-12-01"] {
                let body = json!({"unit": scope, "date": date, "reported_at_seq": seq - 1, "known_at_seq": seq});
                muster_tests::assert_corrections_explained(&ask(&ledger, "corrections", body));
                asked += 1;
            }
        }
        latest = latest.max(day);
    }
    assert!(asked > 0, "the scenario has late orders");
    for (scope, date) in [("NH", "2016-01-31"), ("NH", "2016-06-30"), ("PJ", "2016-06-30"), ("PJ", "2016-12-01")] {
        muster_tests::assert_corrections_explained(&ask(
            &ledger,
            "corrections",
            json!({"unit": scope, "date": date, "reported_at_seq": 1000}),
        ));
    }
}
