//! The front-line audit, case by case, through the real ledger: each cause,
//! paper moves, round trips, relabelling, quotas, `known_at`, scope, and
//! the reconciliation identity.

use muster_domain::{Audit, MoveCause, UnitId};
use muster_tests::given::*;

fn audit(l: &TestLedger, from: &str, to: &str) -> Audit {
    l.ledger.timeline().audit(date(from), date(to), None, None)
}

fn causes(moves: &[muster_domain::Move]) -> Vec<(String, MoveCause, bool)> {
    moves.iter().map(|m| (m.staff.to_string(), m.cause, m.paper_move)).collect()
}

/// One audit case: what happens between 2015-01-15 and 2015-03-01, and
/// who must show up moved down, how.
struct Case {
    name: &'static str,
    events: Vec<(&'static str, muster_proto::wire::EventBody)>,
    down: Vec<(&'static str, MoveCause, bool)>,
    up: Vec<(&'static str, MoveCause)>,
    round_trips: Vec<&'static str>,
}

fn check(cases: Vec<Case>) {
    for case in cases {
        let mut l = small_bureau();
        l.given(&case.events);
        let a = audit(&l, "2015-01-15", "2015-03-01");
        let down: Vec<(String, MoveCause, bool)> = case.down.iter().map(|(s, c, p)| (s.to_string(), *c, *p)).collect();
        assert_eq!(causes(&a.moved_down), down, "{}: moved down", case.name);
        let up: Vec<(String, MoveCause)> = a.moved_up.iter().map(|m| (m.staff.to_string(), m.cause)).collect();
        let expected_up: Vec<(String, MoveCause)> = case.up.iter().map(|(s, c)| (s.to_string(), *c)).collect();
        assert_eq!(up, expected_up, "{}: moved up", case.name);
        let trips: Vec<String> = a.round_trips.iter().map(|s| s.to_string()).collect();
        assert_eq!(trips, case.round_trips, "{}: round trips", case.name);
        assert!(a.reconciliation.balances(), "{}: {:?}", case.name, a.reconciliation);
    }
}

#[test]
fn every_move_has_exactly_one_cause() {
    use MoveCause::*;
    let p = || vec![new_unit("P1", FRONT, Some("HQ")), new_unit("P2", OFFICE, Some("HQ"))];
    check(vec![
        Case {
            name: "a transfer down",
            events: vec![("2015-02-01", transfer("S1", "U1", "PS"))],
            down: vec![("S1", Transferred, false)],
            up: vec![],
            round_trips: vec![],
        },
        Case {
            name: "a split into a front-line part",
            events: vec![("2015-02-01", split("U1", p(), &[("S1", "P1"), ("S2", "P2"), ("S3", "P1")], &[], &[]))],
            down: vec![("S1", Restructured, false), ("S3", Restructured, false)],
            up: vec![],
            round_trips: vec![],
        },
        Case {
            name: "a merger of an office unit into a station",
            events: vec![("2015-02-01", merge_into(&["U1"], "PS"))],
            down: vec![("S1", Restructured, false), ("S2", Restructured, false), ("S3", Restructured, false)],
            up: vec![],
            round_trips: vec![],
        },
        Case {
            name: "an office unit relabelled front line",
            events: vec![("2015-02-01", reclassify("U1", FRONT))],
            down: vec![("S1", Reclassified, false), ("S2", Reclassified, false), ("S3", Reclassified, false)],
            up: vec![],
            round_trips: vec![],
        },
        Case {
            name: "posted down, seconded back to the office: a paper move",
            events: vec![("2015-02-01", transfer("S1", "U1", "PS")), ("2015-02-02", second("S1", "PS", "U2", None))],
            down: vec![("S1", Transferred, true)],
            up: vec![],
            round_trips: vec![],
        },
        Case {
            name: "a secondment back that ran out before D2 is a real move",
            events: vec![
                ("2015-02-01", transfer("S1", "U1", "PS")),
                ("2015-02-02", second("S1", "PS", "U2", Some("2015-02-20"))),
            ],
            down: vec![("S1", Transferred, false)],
            up: vec![],
            round_trips: vec![],
        },
        Case {
            name: "leaving and joining again at the front counts as a transfer",
            events: vec![("2015-02-01", leave("S2")), ("2015-02-10", join("S2", "PS"))],
            down: vec![("S2", Transferred, false)],
            up: vec![],
            round_trips: vec![],
        },
        Case {
            name: "down and back up again: a round trip, not a move",
            events: vec![("2015-02-01", transfer("S1", "U1", "PS")), ("2015-02-15", transfer("S1", "PS", "U2"))],
            down: vec![],
            up: vec![],
            round_trips: vec!["S1"],
        },
        Case {
            name: "relabelled and relabelled back: a round trip for everyone in it",
            events: vec![("2015-02-01", reclassify("U1", FRONT)), ("2015-02-15", reclassify("U1", OFFICE))],
            down: vec![],
            up: vec![],
            round_trips: vec!["S1", "S2", "S3"],
        },
        Case {
            name: "moved up, mirrored",
            events: vec![("2015-02-01", transfer("S4", "PS", "U2"))],
            down: vec![],
            up: vec![("S4", Transferred)],
            round_trips: vec![],
        },
    ]);
}

#[test]
fn strength_posted_and_working_with_percent_inputs() {
    let mut l = small_bureau();
    l.given(&[("2015-02-01", transfer("S1", "U1", "PS")), ("2015-02-02", second("S1", "PS", "U2", None))]);
    let a = audit(&l, "2015-01-15", "2015-03-01");
    let s1 = a.strength_from;
    let s2 = a.strength_to;
    assert_eq!((s1.office_posted, s1.office_working, s1.front_posted, s1.front_working), (3, 3, 1, 1));
    assert_eq!((s2.office_posted, s2.office_working, s2.front_posted, s2.front_working), (2, 3, 2, 1));
}

#[test]
fn quotas_show_over_establishment_and_vacancies_on_both_days() {
    let mut l = small_bureau();
    l.given(&[
        ("2015-01-02", quota("U1", 2)),
        ("2015-01-02", quota("PS", 3)),
        ("2015-02-01", transfer("S1", "U1", "PS")),
    ]);
    let a = audit(&l, "2015-01-15", "2015-03-01");
    let find = |units: &[muster_domain::UnitQuota], id: &str| {
        let u = units.iter().find(|u| u.unit.as_str() == id).unwrap();
        (u.posted, u.quota, u.over_quota, u.vacancies)
    };
    assert_eq!(find(&a.units_from, "U1"), (3, Some(2), 1, 0));
    assert_eq!(find(&a.units_from, "PS"), (1, Some(3), 0, 2));
    assert_eq!(find(&a.units_to, "U1"), (2, Some(2), 0, 0));
    assert_eq!(find(&a.units_to, "PS"), (2, Some(3), 0, 1));
}

#[test]
fn a_backdated_order_changes_the_audit_but_not_what_was_known_before() {
    let mut l = small_bureau();
    l.given(&[("2015-03-05", quota("U2", 4))]);
    let known_before = l.ledger.head().seq;
    l.given(&[("2015-02-01", transfer("S1", "U1", "PS"))]);
    let now = audit(&l, "2015-01-15", "2015-03-01");
    let then = l.ledger.timeline().audit(date("2015-01-15"), date("2015-03-01"), None, Some(known_before));
    assert_eq!(now.moved_down.len(), 1);
    assert!(then.moved_down.is_empty());
}

#[test]
fn the_reconciliation_adds_up_joins_leaves_and_moves() {
    let mut l = small_bureau();
    l.given(&[
        ("2015-02-01", join("S5", "U2")),
        ("2015-02-01", join("S6", "U2")),
        ("2015-02-02", leave("S2")),
        ("2015-02-03", transfer("S1", "U1", "PS")),
        ("2015-02-04", transfer("S4", "PS", "U2")),
    ]);
    let r = audit(&l, "2015-01-15", "2015-03-01").reconciliation;
    assert_eq!((r.office_posted_from, r.office_posted_to), (3, 4));
    assert_eq!((r.joined, r.left, r.moved_down_transferred, r.moved_up_transferred), (2, 1, 1, 1));
    assert!(r.balances());
}

#[test]
fn a_scope_audits_one_subtree_as_it_stood_each_day() {
    let mut l = small_bureau();
    l.given(&[
        ("2015-01-02", unit("B2", OFFICE, None)),
        ("2015-01-02", unit("B2U", OFFICE, Some("B2"))),
        ("2015-01-02", join("S9", "B2U")),
        ("2015-02-01", transfer("S1", "U1", "PS")),
        ("2015-02-02", transfer("S2", "U1", "B2U")),
    ]);
    let a = l.ledger.timeline().audit(date("2015-01-15"), date("2015-03-01"), Some(&UnitId::from("HQ")), None);
    assert_eq!(causes(&a.moved_down), vec![("S1".to_string(), MoveCause::Transferred, false)]);
    assert_eq!(a.reconciliation.left_scope, 1, "S2 went to another bureau");
    assert!(a.units_to.iter().all(|u| u.unit.as_str() != "B2U"));
    let other = l.ledger.timeline().audit(date("2015-01-15"), date("2015-03-01"), Some(&UnitId::from("B2")), None);
    assert_eq!((other.strength_from.office_posted, other.strength_to.office_posted), (1, 2));
    assert_eq!(other.reconciliation.entered_scope, 1);
}

#[test]
fn strength_from_the_tree_equals_the_audits_count_of_members() {
    let mut l = small_bureau();
    l.given(&[("2015-02-01", transfer("S1", "U1", "PS")), ("2015-02-02", second("S1", "PS", "U2", None))]);
    let a = audit(&l, "2015-01-15", "2015-03-01");
    let timeline = l.ledger.timeline();
    assert_eq!(timeline.strength_on(date("2015-01-15"), None, None), a.strength_from);
    assert_eq!(timeline.strength_on(date("2015-03-01"), None, None), a.strength_to);
}

#[test]
fn the_html_report_parses_and_holds_the_figures() {
    let mut l = small_bureau();
    l.given(&[
        ("2015-02-01", transfer("S1", "U1", "PS")),
        ("2015-02-02", second("S1", "PS", "U2", None)),
        ("2015-03-01", transfer("S2", "U1", "PS")),
        ("2015-04-01", reclassify("U1", FRONT)),
    ]);
    let body = br#"{"from": "2015-01-15", "to": "2015-06-30"}"#;
    let request = serde_json::from_slice(body).unwrap();
    let audit = muster_query::answer::audit(&l.ledger, request).unwrap();
    assert_eq!(audit.moved_down_real, 2);
    assert!(audit.strength_series.len() >= 6, "a point a month");
    let html = muster_tests::audit_report(&l.ledger, &audit);
    assert!(html.starts_with("<!DOCTYPE html>"));
    muster_tests::tags_balance(&html).unwrap();
    assert!(html.contains("<svg"), "the charts are inline SVG");
    assert_eq!(muster_tests::text_of(&html, "fig-real"), Some("2"));
    assert_eq!(muster_tests::text_of(&html, "fig-paper"), Some("1"));
    assert_eq!(muster_tests::text_of(&html, "balances"), Some("The figures balance."));
    assert!(html.contains("U2"), "the tables name the units");
}

#[test]
fn units_whose_number_of_sub_units_changed_are_listed() {
    let mut l = small_bureau();
    l.given(&[
        ("2015-02-01", merge_new(&["U1", "U2"], new_unit("U12", OFFICE, Some("HQ")))),
        ("2015-02-02", unit("C1", FRONT, Some("PS"))),
    ]);
    let a = audit(&l, "2015-01-15", "2015-03-01");
    let changes: Vec<(&str, u32, u32)> = a.subunits.iter().map(|c| (c.unit.as_str(), c.from, c.to)).collect();
    // HQ: U1, U2, PS → U12, PS; the station gained a community office; the
    // new unit was not there on D1, so it has no "before".
    assert_eq!(changes, vec![("HQ", 3, 2), ("PS", 0, 1)]);
}

#[test]
fn the_share_moved_down_leaves_out_paper_moves_and_relabelled_units() {
    let mut l = small_bureau();
    l.given(&[
        ("2015-02-01", transfer("S1", "U1", "PS")),
        ("2015-02-02", transfer("S2", "U1", "PS")),
        ("2015-02-03", second("S2", "PS", "U2", None)),
        ("2015-02-04", reclassify("U1", FRONT)),
    ]);
    let body = br#"{"from": "2015-01-15", "to": "2015-03-01"}"#;
    let request = serde_json::from_slice(body).unwrap();
    let audit = muster_query::answer::audit(&l.ledger, request).unwrap();
    // Office on D1: S1, S2, S3. S1 really moved, S2 only on paper, S3 was
    // relabelled with U1: one of three.
    assert_eq!((audit.moved_down_real, audit.moved_down_at_front), (2, 1));
    assert_eq!(audit.moved_down_share, Some(33.3));
    assert_eq!(audit.office_posted.percent, Some(-100.0));
}

/// Each move names the events behind it, in timeline order, and only
/// those between the audit's days: the transfer (and for a paper move the
/// secondment), the merger that restructured, the reclassification that
/// relabelled.
#[test]
fn every_move_names_the_events_behind_it() {
    let mut l = small_bureau();
    let base = l.ledger.head().seq;
    l.given(&[
        ("2015-01-02", join("S5", "U2")),
        ("2015-01-10", second("S3", "U1", "U2", None)),
        ("2015-02-01", transfer("S1", "U1", "PS")),
        ("2015-02-02", second("S1", "PS", "HQ", None)),
        ("2015-02-03", transfer("S2", "U1", "U2")),
        ("2015-02-05", reclassify("U2", FRONT)),
        ("2015-02-10", merge_into(&["U1"], "PS")),
    ]);
    let [transfer, paper_secondment, into_office, reclassified, merger] =
        [base + 3, base + 4, base + 5, base + 6, base + 7];
    let a = audit(&l, "2015-01-15", "2015-03-01");
    let events: Vec<(String, MoveCause, bool, Vec<u64>)> =
        a.moved_down.iter().map(|m| (m.staff.to_string(), m.cause, m.paper_move, m.events.clone())).collect();
    use MoveCause::*;
    let expected = vec![
        ("S1".to_string(), Transferred, true, vec![transfer, paper_secondment]),
        // Transferred into an office unit, which was then relabelled.
        ("S2".to_string(), Transferred, false, vec![into_office, reclassified]),
        // Its secondment before the first day is not behind its move.
        ("S3".to_string(), Restructured, false, vec![merger]),
        // Nothing of S5's own: its unit was relabelled.
        ("S5".to_string(), Reclassified, false, vec![reclassified]),
    ];
    assert_eq!(events, expected);
}

/// Over the reform (restructurings, mergers, secondments), for every unit
/// as the scope, on days across it and as known at earlier points: the
/// scope's strength from its units' counts equals the whole tree's nodes
/// in the subtree added up; and a scoped audit, which looks only at those
/// ever posted or seconded to the scope, counts as many posted there on
/// each day as the units do — so it missed nobody it had to count.
/// (Working strength differs by design where a secondment crosses the
/// scope's edge: the audit counts the scope's own members by where they
/// work, the units count who works in them.)
#[test]
fn a_scoped_audit_counts_the_members_posted_in_the_subtree_of_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(muster_tests::stack::REFORM_EVENTS).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut ledger = muster_ledger::Ledger::open(&muster_ledger::LedgerConfig::new(dir.path())).unwrap();
    for (i, batch) in lines.chunks(100).enumerate() {
        let batch = batch.iter().map(|l| muster_ledger::Incoming::json(l.as_bytes())).collect();
        ledger.submit_batch(batch, 1_700_000_000_000 + i as u64).unwrap();
    }
    let t = ledger.timeline();
    let head = ledger.head().seq;
    let units: Vec<UnitId> = t.unit_ids().map(UnitId::from).collect();
    let mut checked = 0;
    for (from, to) in [("2013-01-01", "2016-12-01"), ("2014-06-30", "2015-06-30")] {
        for known_at in [None, Some(head / 2), Some(head * 9 / 10)] {
            for scope in &units {
                let a = t.audit(date(from), date(to), Some(scope), known_at);
                for (day, counted) in [(from, &a.strength_from), (to, &a.strength_to)] {
                    let by_units = t.strength_on(date(day), Some(scope), known_at);
                    assert_eq!(by_units, subtree_strength(t, date(day), scope, known_at), "{scope} on {day}");
                    let posted = |s: &muster_domain::Strength| (s.office_posted, s.front_posted);
                    assert_eq!(posted(&by_units), posted(counted), "{scope} on {day} as known at {known_at:?}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

/// The strength of `scope`'s subtree from the whole tree on `day`.
fn subtree_strength(
    t: &muster_domain::Timeline,
    day: muster_domain::Date,
    scope: &UnitId,
    known_at: Option<u64>,
) -> muster_domain::Strength {
    let tree = t.tree(day, known_at);
    let mut strength = muster_domain::Strength::default();
    let Some(start) = tree.iter().position(|n| &n.unit == scope) else { return strength };
    let end = tree[start + 1..].iter().position(|n| n.depth <= tree[start].depth).map_or(tree.len(), |i| start + 1 + i);
    for node in &tree[start..end] {
        match node.category {
            muster_domain::Category::Office => {
                strength.office_posted += node.posted;
                strength.office_working += node.working;
            }
            muster_domain::Category::FrontLine => {
                strength.front_posted += node.posted;
                strength.front_working += node.working;
            }
        }
    }
    strength
}
