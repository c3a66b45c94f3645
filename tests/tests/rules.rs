//! Given/when/then: every event kind's effect and every reason code, each
//! through the real ledger on disk.

use muster_domain::{ReasonCode as R, UnitId, UnitStatus};
use muster_ledger::Incoming;
use muster_tests::given::*;

// ---- unit events ----

#[test]
fn unit_established_is_active_from_its_day() {
    let mut l = TestLedger::new();
    l.when("2015-01-10", unit("U1", OFFICE, None)).then_accepted();
    let timeline = l.ledger.timeline();
    let status = |day| timeline.headcount(&UnitId::from("U1"), date(day), None, false).status;
    assert_eq!(status("2015-01-09"), UnitStatus::NotYetEstablished);
    assert_eq!(status("2015-01-10"), UnitStatus::Active);
    assert_eq!(timeline.headcount(&UnitId::from("NOPE"), date("2015-01-10"), None, false).status, UnitStatus::Unknown);
}

#[test]
fn unit_renamed_reclassified_and_quota_set_show_in_the_tree_from_their_day() {
    let mut l = small_bureau();
    l.when("2015-02-01", rename("U1", "Legal brigade")).then_accepted();
    l.when("2015-02-01", reclassify("U1", FRONT)).then_accepted();
    l.when("2015-02-01", quota("U1", 5)).then_accepted();
    let tree = l.ledger.timeline().tree(date("2015-02-01"), None);
    let u1 = tree.iter().find(|n| n.unit.as_str() == "U1").unwrap();
    assert_eq!((&*u1.name, u1.category.as_str(), u1.quota), ("Legal brigade", "front_line", Some(5)));
    let before = l.ledger.timeline().tree(date("2015-01-31"), None);
    let u1 = before.iter().find(|n| n.unit.as_str() == "U1").unwrap();
    assert_eq!((&*u1.name, u1.category.as_str(), u1.quota), ("Unit U1", "office", None));
}

#[test]
fn unit_moved_carries_its_staff_into_the_new_parents_roll_up() {
    let mut l = small_bureau();
    l.when("2015-02-01", move_unit("U1", Some("PS"))).then_accepted();
    assert_eq!(l.rolled("PS", "2015-01-31"), (1, 1));
    assert_eq!(l.rolled("PS", "2015-02-01"), (4, 4));
    l.when("2015-03-01", move_unit("U1", None)).then_accepted();
    assert_eq!(l.rolled("HQ", "2015-03-01"), (1, 1));
}

#[test]
fn units_merged_into_a_new_target_takes_staff_secondees_and_children() {
    let mut l = small_bureau();
    l.given(&[("2015-01-01", unit("U1A", OFFICE, Some("U1"))), ("2015-01-02", second("S4", "PS", "U2", None))]);
    l.when("2015-02-01", merge_new(&["U1", "U2"], new_unit("SUP", OFFICE, Some("HQ")))).then_accepted();
    assert_eq!(l.headcount("SUP", "2015-02-01"), (3, 4));
    assert_eq!(l.headcount("SUP", "2015-01-31").0, 0);
    let status = l.ledger.timeline().headcount(&UnitId::from("U1"), date("2015-02-01"), None, false).status;
    assert_eq!(status, UnitStatus::Closed { on: date("2015-02-01") });
    assert_eq!(l.headcount("U1", "2015-01-31"), (3, 3), "the past is still answerable");
    let tree = l.ledger.timeline().tree(date("2015-02-01"), None);
    assert_eq!(tree.iter().find(|n| n.unit.as_str() == "U1A").unwrap().parent, Some(UnitId::from("SUP")));
    let lineage = l.ledger.timeline().lineage(&UnitId::from("SUP"), None);
    assert_eq!(lineage.len(), 2);
}

#[test]
fn a_merger_into_the_secondees_home_ends_the_secondment() {
    let mut l = small_bureau();
    l.given(&[("2015-01-02", second("S1", "U1", "U2", None))]);
    l.when("2015-02-01", merge_into(&["U2"], "U1")).then_accepted();
    assert_eq!(l.headcount("U1", "2015-02-01"), (3, 3));
    let roster = l.ledger.timeline().roster(&UnitId::from("U1"), date("2015-02-01"), None);
    assert!(roster.iter().all(|r| r.working.as_str() == "U1"));
}

#[test]
fn unit_split_allocates_everyone_and_closes_the_source() {
    let mut l = small_bureau();
    l.given(&[
        ("2015-01-01", unit("U1A", OFFICE, Some("U1"))),
        ("2015-01-02", second("S4", "PS", "U1", Some("2015-12-31"))),
    ]);
    let parts = vec![new_unit("P1", OFFICE, Some("HQ")), new_unit("P2", FRONT, Some("HQ"))];
    l.when(
        "2015-02-01",
        split("U1", parts, &[("S1", "P1"), ("S2", "P2"), ("S3", "P2")], &[("S4", "P1")], &[("U1A", "P2")]),
    )
    .then_accepted();
    assert_eq!(l.headcount("P1", "2015-02-01"), (1, 2));
    assert_eq!(l.headcount("P2", "2015-02-01"), (2, 2));
    assert_eq!(l.headcount("P1", "2016-01-01"), (1, 1), "S4's secondment ran out on 2015-12-31");
    assert_eq!(l.ledger.timeline().lineage(&UnitId::from("U1"), None).len(), 2);
}

#[test]
fn unit_dissolved_closes_an_empty_unit() {
    let mut l = small_bureau();
    l.when("2015-02-01", dissolve("U2")).then_accepted();
    let status = l.ledger.timeline().headcount(&UnitId::from("U2"), date("2015-02-01"), None, false).status;
    assert_eq!(status, UnitStatus::Closed { on: date("2015-02-01") });
}

#[test]
fn a_quota_is_in_a_units_series_while_it_is_active_only() {
    let mut l = small_bureau();
    l.when("2015-02-01", quota("U2", 3)).then_accepted();
    l.when("2015-02-01", dissolve("U2")).then_accepted();
    let series = l.ledger.timeline().series(&UnitId::from("U2"), date("2015-01-31"), date("2015-02-02"), None, false);
    let quotas: Vec<_> = series.iter().map(|p| (p.date, p.quota)).collect();
    // Set and closed the same day: the closed unit shows no quota.
    assert_eq!(quotas, [(date("2015-01-31"), None), (date("2015-02-01"), None)]);
}

// ---- staff events ----

#[test]
fn staff_joined_transferred_seconded_and_left_move_the_counts() {
    let mut l = small_bureau();
    l.when("2015-02-01", transfer("S1", "U1", "PS")).then_accepted();
    assert_eq!((l.headcount("U1", "2015-02-01"), l.headcount("PS", "2015-02-01")), ((2, 2), (2, 2)));
    l.when("2015-03-01", second("S1", "PS", "U1", Some("2015-03-31"))).then_accepted();
    assert_eq!((l.headcount("U1", "2015-03-31"), l.headcount("PS", "2015-03-31")), ((2, 3), (2, 1)));
    assert_eq!((l.headcount("U1", "2015-04-01"), l.headcount("PS", "2015-04-01")), ((2, 2), (2, 2)));
    l.when("2015-05-01", second("S1", "PS", "U2", None)).then_accepted();
    l.when("2015-05-10", end_secondment("S1")).then_accepted();
    assert_eq!(l.headcount("U2", "2015-05-09"), (0, 1));
    assert_eq!(l.headcount("U2", "2015-05-10"), (0, 0));
    l.when("2015-06-01", leave("S1")).then_accepted();
    assert_eq!(l.headcount("PS", "2015-06-01"), (1, 1));
    l.when("2015-07-01", join("S1", "U2")).then_accepted();
    assert_eq!(l.headcount("U2", "2015-07-01"), (1, 1));
    let history = l.ledger.timeline().staff_history(&"S1".into(), None);
    assert_eq!(history.len(), 7);
}

#[test]
fn a_transfer_to_the_secondment_host_ends_the_secondment() {
    let mut l = small_bureau();
    l.given(&[("2015-02-01", second("S1", "U1", "PS", None))]);
    l.when("2015-03-01", transfer("S1", "U1", "PS")).then_accepted();
    l.when("2015-03-02", end_secondment("S1")).then_rejected(R::NotSeconded);
}

#[test]
fn event_retracted_is_treated_as_never_having_happened_but_the_past_view_keeps_it() {
    let mut l = small_bureau();
    l.when("2015-02-01", transfer("S1", "U1", "PS")).then_accepted();
    let transfer_id = l.last_id();
    let before_retraction = l.ledger.head().seq;
    l.when("2015-02-05", retract(&transfer_id)).then_accepted();
    assert_eq!(l.headcount("PS", "2015-02-01"), (1, 1));
    let then = l.ledger.timeline().headcount(&UnitId::from("PS"), date("2015-02-01"), Some(before_retraction), false);
    assert_eq!((then.posted, then.working), (2, 2));
}

#[test]
fn a_backdated_transfer_is_answered_both_ways() {
    let mut l = small_bureau();
    l.given(&[("2015-03-01", quota("U2", 3))]);
    let known_before = l.ledger.head().seq;
    l.when("2015-02-01", transfer("S2", "U1", "U2")).then_accepted();
    assert_eq!(l.headcount("U2", "2015-02-15"), (1, 1));
    let then = l.ledger.timeline().headcount(&UnitId::from("U2"), date("2015-02-15"), Some(known_before), false);
    assert_eq!(then.posted, 0);
}

#[test]
fn a_backdated_event_that_breaks_a_later_one_is_rejected_naming_it() {
    let mut l = small_bureau();
    l.given(&[("2015-03-01", transfer("S1", "U1", "U2"))]);
    let later = l.last_id();
    let receipt = l.when("2015-02-01", transfer("S1", "U1", "PS")).then_rejected(R::ConflictsWithLaterEvent);
    assert_eq!(receipt.conflicts_with.len(), 1);
    assert_eq!(receipt.conflicts_with[0].id, later);
    assert!(receipt.message.unwrap().contains(&later));
}

#[test]
fn a_backdated_transfer_into_a_unit_later_split_conflicts_with_the_split() {
    let mut l = small_bureau();
    let parts = vec![new_unit("P1", OFFICE, Some("HQ"))];
    l.given(&[("2015-03-01", split("U1", parts, &[("S1", "P1"), ("S2", "P1"), ("S3", "P1")], &[], &[]))]);
    l.when("2015-02-01", transfer("S4", "PS", "U1")).then_rejected(R::ConflictsWithLaterEvent);
}

#[test]
fn a_backdated_transfer_into_a_unit_later_merged_follows_the_merger() {
    let mut l = small_bureau();
    l.given(&[("2015-03-01", merge_into(&["U1"], "U2"))]);
    l.when("2015-02-01", transfer("S4", "PS", "U1")).then_accepted();
    assert_eq!(l.headcount("U2", "2015-03-01"), (4, 4));
    assert_eq!(l.headcount("PS", "2015-03-01"), (0, 0));
}

#[test]
fn a_retraction_that_would_break_a_later_event_is_rejected() {
    let mut l = small_bureau();
    l.given(&[("2015-02-01", transfer("S1", "U1", "U2"))]);
    let first = l.last_id();
    l.given(&[("2015-03-01", transfer("S1", "U2", "PS"))]);
    l.when("2015-03-05", retract(&first)).then_rejected(R::ConflictsWithLaterEvent);
}

#[test]
fn the_timeline_survives_reopening() {
    let mut l = small_bureau();
    l.given(&[("2015-02-01", transfer("S1", "U1", "PS")), ("2015-02-02", second("S2", "U1", "PS", None))]);
    let before = (l.snapshot(), l.ledger.head());
    l.reopen();
    assert_eq!((l.snapshot(), l.ledger.head()), before);
    assert_eq!(l.ledger.verify().unwrap().entries, before.1.seq);
}

// ---- every reason code ----

/// One rejection case: what is already there, what arrives, what it gets.
struct Case {
    name: &'static str,
    given: Vec<(&'static str, muster_proto::wire::EventBody)>,
    when: (&'static str, muster_proto::wire::EventBody),
    code: R,
}

fn case(
    name: &'static str,
    given: Vec<(&'static str, muster_proto::wire::EventBody)>,
    when: (&'static str, muster_proto::wire::EventBody),
    code: R,
) -> Case {
    Case { name, given, when, code }
}

fn check(cases: Vec<Case>) {
    for case in cases {
        let mut l = small_bureau();
        l.given(&case.given);
        let receipt = l.when(case.when.0, case.when.1).then_rejected(case.code);
        assert!(receipt.seq.is_some(), "{}: a rejected event is still recorded", case.name);
    }
}

#[test]
fn every_validation_rule_has_its_reason_code() {
    let p1 = || vec![new_unit("P1", OFFICE, Some("HQ"))];
    check(vec![
        case(
            "transfer to a unit never established",
            vec![],
            ("2015-02-01", transfer("S1", "U1", "NOPE")),
            R::UnitUnknown,
        ),
        case(
            "join a unit not yet established",
            vec![("2015-03-01", unit("LATE", FRONT, None))],
            ("2015-02-01", join("S9", "LATE")),
            R::UnitNotActive,
        ),
        case(
            "join a closed unit",
            vec![("2015-02-01", dissolve("U2"))],
            ("2015-02-02", join("S9", "U2")),
            R::UnitNotActive,
        ),
        case(
            "rename a closed unit",
            vec![("2015-02-01", dissolve("U2"))],
            ("2015-02-02", rename("U2", "x")),
            R::UnitNotActive,
        ),
        case("reuse a unit id", vec![], ("2015-02-01", unit("U1", OFFICE, None)), R::UnitIdAlreadyUsed),
        case(
            "reuse a closed unit's id",
            vec![("2015-02-01", dissolve("U2"))],
            ("2015-03-01", unit("U2", OFFICE, None)),
            R::UnitIdAlreadyUsed,
        ),
        case("merge a unit twice", vec![], ("2015-02-01", merge_into(&["U1", "U1"], "U2")), R::DuplicateUnitInEvent),
        case(
            "move a unit under its own child",
            vec![("2015-01-02", unit("U1A", OFFICE, Some("U1")))],
            ("2015-02-01", move_unit("U1", Some("U1A"))),
            R::UnitCycle,
        ),
        case("move a unit under itself", vec![], ("2015-02-01", move_unit("U1", Some("U1"))), R::UnitCycle),
        case("reclassify to the same category", vec![], ("2015-02-01", reclassify("U1", OFFICE)), R::CategoryUnchanged),
        case(
            "merge into a source",
            vec![],
            ("2015-02-01", merge_into(&["U1", "U2"], "U2")),
            R::MergeTargetInsideSources,
        ),
        case(
            "merge into a unit below a source",
            vec![("2015-01-02", unit("U1A", OFFICE, Some("U1")))],
            ("2015-02-01", merge_into(&["U1"], "U1A")),
            R::MergeTargetInsideSources,
        ),
        case(
            "new merge target under a source",
            vec![],
            ("2015-02-01", merge_new(&["U1"], new_unit("N", OFFICE, Some("U1")))),
            R::MergeTargetInsideSources,
        ),
        case(
            "split part under the source",
            vec![],
            ("2015-02-01", split("U2", vec![new_unit("P1", OFFICE, Some("U2"))], &[], &[], &[])),
            R::SplitPartInsideSource,
        ),
        case(
            "split leaving someone out",
            vec![],
            ("2015-02-01", split("U1", p1(), &[("S1", "P1"), ("S2", "P1")], &[], &[])),
            R::SplitAllocationIncomplete,
        ),
        case(
            "split leaving a secondee out",
            vec![("2015-01-02", second("S4", "PS", "U1", None))],
            ("2015-02-01", split("U1", p1(), &[("S1", "P1"), ("S2", "P1"), ("S3", "P1")], &[], &[])),
            R::SplitAllocationIncomplete,
        ),
        case(
            "split leaving a child unit out",
            vec![("2015-01-02", unit("U1A", OFFICE, Some("U1")))],
            ("2015-02-01", split("U1", p1(), &[("S1", "P1"), ("S2", "P1"), ("S3", "P1")], &[], &[])),
            R::SplitAllocationIncomplete,
        ),
        case(
            "split allocating someone from elsewhere",
            vec![],
            ("2015-02-01", split("U1", p1(), &[("S1", "P1"), ("S2", "P1"), ("S3", "P1"), ("S4", "P1")], &[], &[])),
            R::SplitAllocationExtra,
        ),
        case(
            "split allocating someone twice",
            vec![],
            ("2015-02-01", split("U1", p1(), &[("S1", "P1"), ("S1", "P1"), ("S2", "P1"), ("S3", "P1")], &[], &[])),
            R::SplitAllocationExtra,
        ),
        case(
            "split allocating to a non-part",
            vec![],
            ("2015-02-01", split("U1", p1(), &[("S1", "U2"), ("S2", "P1"), ("S3", "P1")], &[], &[])),
            R::SplitAllocationUnknownPart,
        ),
        case("dissolve a unit with staff", vec![], ("2015-02-01", dissolve("U1")), R::UnitNotEmpty),
        case(
            "dissolve a unit with a secondee",
            vec![("2015-01-02", second("S4", "PS", "U2", None))],
            ("2015-02-01", dissolve("U2")),
            R::UnitNotEmpty,
        ),
        case(
            "dissolve a unit with a child",
            vec![("2015-01-02", unit("U2A", OFFICE, Some("U2")))],
            ("2015-02-01", dissolve("U2")),
            R::UnitNotEmpty,
        ),
        case("transfer someone who never joined", vec![], ("2015-02-01", transfer("S99", "U1", "U2")), R::StaffUnknown),
        case("join twice", vec![], ("2015-02-01", join("S1", "U2")), R::StaffAlreadyActive),
        case(
            "transfer someone who left",
            vec![("2015-02-01", leave("S1"))],
            ("2015-03-01", transfer("S1", "U1", "U2")),
            R::StaffNotActive,
        ),
        case(
            "leave before joining",
            vec![("2015-03-01", join("S9", "U2"))],
            ("2015-02-01", leave("S9")),
            R::StaffNotActive,
        ),
        case("transfer from the wrong unit", vec![], ("2015-02-01", transfer("S1", "U2", "PS")), R::StaffNotInUnit),
        case("second from the wrong unit", vec![], ("2015-02-01", second("S1", "U2", "PS", None)), R::StaffNotInUnit),
        case("transfer to the same unit", vec![], ("2015-02-01", transfer("S1", "U1", "U1")), R::SameUnit),
        case("second to the home unit", vec![], ("2015-02-01", second("S1", "U1", "U1", None)), R::SameUnit),
        case(
            "second twice",
            vec![("2015-02-01", second("S1", "U1", "PS", None))],
            ("2015-02-02", second("S1", "U1", "U2", None)),
            R::AlreadySeconded,
        ),
        case("end a secondment never begun", vec![], ("2015-02-01", end_secondment("S1")), R::NotSeconded),
        case(
            "end a secondment already run out",
            vec![("2015-02-01", second("S1", "U1", "PS", Some("2015-02-10")))],
            ("2015-02-11", end_secondment("S1")),
            R::NotSeconded,
        ),
        case(
            "second until before it starts",
            vec![],
            ("2015-02-01", second("S1", "U1", "PS", Some("2015-01-31"))),
            R::UntilBeforeEffectiveDate,
        ),
        case("retract an unknown event", vec![], ("2015-02-01", retract("no-such-event")), R::RetractionTargetUnknown),
        case(
            "a backdated join conflicting with a later join",
            vec![("2015-03-01", join("S9", "U2"))],
            ("2015-02-01", join("S9", "U1")),
            R::ConflictsWithLaterEvent,
        ),
        case(
            "a backdated dissolution conflicting with a later join",
            vec![("2015-03-01", join("S9", "U2"))],
            ("2015-02-01", dissolve("U2")),
            R::ConflictsWithLaterEvent,
        ),
        case(
            "a backdated secondment overlapping a later one",
            vec![("2015-03-01", second("S1", "U1", "U2", None))],
            ("2015-02-01", second("S1", "U1", "PS", Some("2015-03-05"))),
            R::ConflictsWithLaterEvent,
        ),
        case(
            "a backdated move making a later move a cycle",
            vec![("2015-01-02", unit("U1A", OFFICE, Some("HQ"))), ("2015-03-01", move_unit("U1", Some("U1A")))],
            ("2015-02-01", move_unit("U1A", Some("U1"))),
            R::ConflictsWithLaterEvent,
        ),
    ]);
}

#[test]
fn retraction_reason_codes() {
    let mut l = small_bureau();
    // A rejected event cannot be retracted.
    l.when("2015-02-01", transfer("S1", "U2", "PS")).then_rejected(R::StaffNotInUnit);
    let rejected = l.last_id();
    l.when("2015-02-02", retract(&rejected)).then_rejected(R::RetractionTargetRejected);
    // Nor a retraction, nor anything twice.
    l.given(&[("2015-02-03", transfer("S1", "U1", "PS"))]);
    let moved = l.last_id();
    l.given(&[("2015-02-04", retract(&moved))]);
    let retraction = l.last_id();
    l.when("2015-02-05", retract(&retraction)).then_rejected(R::RetractionTargetIsRetraction);
    l.when("2015-02-05", retract(&moved)).then_rejected(R::AlreadyRetracted);
}

#[test]
fn the_same_id_again_is_a_duplicate_or_a_conflict() {
    let mut l = small_bureau();
    let envelope = l.envelope("2015-02-01", transfer("S1", "U1", "PS"));
    let first = l.submit_all(vec![Incoming::Decoded(envelope.clone())]).remove(0);
    let head = l.ledger.head();
    let again = l.submit_all(vec![Incoming::Decoded(envelope.clone())]).remove(0);
    assert!(again.duplicate);
    assert_eq!((again.seq, again.hash.clone()), (first.seq, first.hash.clone()));
    assert_eq!(l.ledger.head(), head, "a duplicate records nothing");
    let mut changed = envelope;
    changed.body = transfer("S2", "U1", "PS");
    l.when_raw(Incoming::Decoded(changed)).then_rejected(R::DuplicateIdDifferentContent);
    // The original outcome still stands and is what a lookup returns.
    let looked_up = l.ledger.receipt(SOURCE, &first.id).unwrap().unwrap();
    assert_eq!(looked_up.seq, first.seq);
}

#[test]
fn undecodable_payloads_get_rejected_receipts_with_their_codes() {
    let counter = std::cell::Cell::new(0);
    let line = |ty: &str, date: &str, data: &str| {
        counter.set(counter.get() + 1);
        let n = counter.get();
        format!(
            r#"{{"specversion":"1.0","id":"x-{n}","source":"hr/test","type":"{ty}","effectivedate":"{date}","data":{data}}}"#
        )
    };
    let cases: Vec<(String, R)> = vec![
        (line("org.muster.staff.joined.v1", "2015-02-01", r#"{"staff":"S9"}"#), R::MissingField),
        (line("org.muster.staff.joined.v1", "2015-02-01", r#"{"staff":7,"unit":"U1"}"#), R::InvalidField),
        (line("org.muster.staff.joined.v1", "2015-02-01", r#"{"staff":"S9","unit":"U1","extra":1}"#), R::InvalidField),
        (line("org.muster.staff.joined.v1", "1899-12-31", r#"{"staff":"S9","unit":"U1"}"#), R::InvalidDate),
        (line("org.muster.staff.joined.v1", "2015-02-30", r#"{"staff":"S9","unit":"U1"}"#), R::InvalidDate),
        (line("org.muster.staff.promoted.v1", "2015-02-01", r#"{"staff":"S9"}"#), R::UnknownEventType),
        (line("org.muster.staff.joined.v1", "2015-02-01", &format!(r#"{{"staff":"{}","unit":"U1"}}"#, "S".repeat(200))), R::FieldTooLong),
        (line("org.muster.staff.seconded.v1", "2015-02-01", r#"{"staff":"S1","from":"U1","to":"PS","until":"someday"}"#), R::InvalidDate),
        (r#"{"specversion":"0.3","id":"x-old","source":"hr/test","type":"org.muster.staff.joined.v1","effectivedate":"2015-02-01","data":{"staff":"S9","unit":"U1"}}"#.to_string(), R::UnsupportedVersion),
    ];
    let mut l = small_bureau();
    for (payload, code) in cases {
        let receipt = l.when_raw(Incoming::json(payload.as_bytes())).then_rejected(code);
        assert!(receipt.seq.is_some(), "recorded, so its publisher can look it up: {payload}");
    }
    // Without an id nothing can be recorded; the receipt says why.
    for (payload, code) in [
        ("{not json".to_string(), R::MalformedPayload),
        (format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024)), R::PayloadTooLarge),
        (r#"{"specversion":"1.0","source":"hr/test"}"#.to_string(), R::MissingField),
    ] {
        let head = l.ledger.head();
        let receipt = l.when_raw(Incoming::json(payload.as_bytes())).then_rejected(code);
        assert_eq!((receipt.seq, l.ledger.head()), (None, head));
    }
    let receipt = l.when_raw(Incoming::bincode(&[9, 1, 2, 3])).then_rejected(R::UnsupportedVersion);
    assert_eq!(receipt.seq, None);
}

#[test]
fn a_repeated_json_key_is_malformed_not_guessed_at() {
    let mut l = small_bureau();
    let payload = r#"{"specversion":"1.0","id":"a","id":"b","source":"hr/test","type":"org.muster.staff.joined.v1","effectivedate":"2015-02-01","data":{"staff":"S9","unit":"U1"}}"#;
    let receipt = l.when_raw(Incoming::json(payload.as_bytes())).then_rejected(R::MalformedPayload);
    assert_eq!(receipt.seq, None);
    let nested = r#"{"specversion":"1.0","id":"c","source":"hr/test","type":"org.muster.staff.joined.v1","effectivedate":"2015-02-01","data":{"staff":"S9","staff":"S8","unit":"U1"}}"#;
    l.when_raw(Incoming::json(nested.as_bytes())).then_rejected(R::MalformedPayload);
    let typed_time = r#"{"specversion":"1.0","id":"d","source":"hr/test","type":"org.muster.staff.joined.v1","time":20150401,"effectivedate":"2015-02-01","data":{"staff":"S9","unit":"U1"}}"#;
    l.when_raw(Incoming::json(typed_time.as_bytes())).then_rejected(R::InvalidField);
}

#[test]
fn a_bincode_event_that_does_not_decode_is_still_recorded_under_its_id() {
    let mut l = small_bureau();
    let envelope = l.envelope("2015-02-01", join("S9", "U1"));
    let mut bytes = muster_proto::codec::encode_envelope(&envelope);
    // The effective date is the varint after id and source: make it a day
    // number past 2199-12-31 (u32 varint marker 0xfc + 4 bytes).
    let date_at = 1 + 1 + envelope.id.len() + 1 + envelope.source.len();
    let tail = bytes.split_off(date_at);
    let rest = &tail[3..]; // the day number was written as 0xfb + u16
    bytes.extend_from_slice(&[0xfc, 0xff, 0xff, 0xff, 0x00]);
    bytes.extend_from_slice(rest);
    let receipt = l.when_raw(Incoming::bincode(&bytes)).then_rejected(R::InvalidDate);
    assert_eq!((receipt.source.as_str(), receipt.id.as_str()), (SOURCE, envelope.id.as_str()));
    assert!(receipt.seq.is_some(), "recorded, so its publisher can look it up");
}

#[test]
fn a_rejection_never_quotes_unbounded_input() {
    let mut l = small_bureau();
    let numbers = vec!["1e15"; 200_000].join(",");
    let payload = format!(
        r#"{{"specversion":"1.0","id":"big","source":"hr/test","type":"org.muster.staff.joined.v1","time":[{numbers}],"effectivedate":"2015-02-01","data":{{"staff":"S9","unit":"U1"}}}}"#
    );
    assert!(payload.len() < muster_proto::limits::PAYLOAD_BYTES_MAX);
    let receipt = l.when_raw(Incoming::json(payload.as_bytes())).then_rejected(R::InvalidField);
    assert!(receipt.message.unwrap().len() <= muster_proto::limits::MESSAGE_BYTES_MAX);
    let long_value = format!(
        r#"{{"specversion":"1.0","id":"long","source":"hr/test","type":"org.muster.staff.joined.v1","effectivedate":"2015-02-01","data":{{"staff":"S9","unit":"U1","x":"{}"}}}}"#,
        "y".repeat(500_000)
    );
    let receipt = l.when_raw(Incoming::json(long_value.as_bytes())).then_rejected(R::InvalidField);
    assert!(receipt.message.unwrap().len() <= muster_proto::limits::MESSAGE_BYTES_MAX);
    l.reopen();
    assert!(l.ledger.verify().is_ok());
}

#[test]
fn bytes_that_are_not_utf8_are_malformed_not_a_crash() {
    let mut l = small_bureau();
    let receipt = l.when_raw(Incoming::json(&[0xff, 0xfe, b'{', b'}'])).then_rejected(R::MalformedPayload);
    assert_eq!(receipt.seq, None);
}
