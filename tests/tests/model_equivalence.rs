//! The fast, indexed `muster_domain::Timeline` decides and answers exactly
//! as the naive reference model in `muster_tests::model`.
//!
//! Both get the same generated events with seq = index + 1; they must agree
//! on accept or reject (and on whether a rejection is a conflict with a
//! later event), then on every query over the whole id space, on days
//! before, inside and after the generated range, as known now and at
//! several earlier seqs. `PROPTEST_CASES` sets the number of cases
//! (default 1000).

use muster_domain::{Date, Event, ReasonCode, Seq, Timeline};
use muster_ledger::Incoming;
use muster_proto::entry::ReceiptStatus;
use muster_tests::gen;
use muster_tests::model::Model;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::fmt::{Debug, Write as _};

const EVENTS_HEADING: &str = "events (seq date event => model outcome):";

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(1000)
}

/// Where to look, drawn with the events.
#[derive(Clone, Debug)]
struct Probes {
    /// Taken modulo (number of events + 1), so 0 (nothing known) can occur.
    known_at: Vec<u16>,
    /// Offsets from the first generated day.
    inside_days: Vec<u8>,
}

fn probes() -> impl Strategy<Value = Probes> {
    let known_at = prop::collection::vec(any::<u16>(), 3);
    let inside_days = prop::collection::vec(0..=gen::SPAN_DAYS as u8, 2);
    (known_at, inside_days).prop_map(|(known_at, inside_days)| Probes { known_at, inside_days })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn timeline_decides_and_answers_as_the_model(events in gen::scenario(), probes in probes()) {
        let (timeline, model, log) = feed(&events)?;
        compare_queries(&timeline, &model, &query_points(&events, &probes), &log)?;
    }

    /// The same through the real ledger: sled on disk, events in batches
    /// of random sizes, then again after reopening (replay from the log).
    #[test]
    fn ledger_decides_and_answers_as_the_model(
        events in gen::scenario(),
        probes in probes(),
        batch_sizes in prop::collection::vec(1usize..12, 64),
    ) {
        let (mut ledger, model, log) = feed_ledger(&events, &batch_sizes)?;
        let points = query_points(&events, &probes);
        compare_queries(ledger.ledger.timeline(), &model, &points, &log)?;
        ledger.reopen();
        prop_assert_eq!(ledger.ledger.verify().expect("chain verifies").entries, events.len() as u64);
        compare_queries(ledger.ledger.timeline(), &model, &points, &log)?;
    }
}

/// Every event through the ledger in batches; receipts must agree with the
/// model's decisions.
fn feed_ledger(
    events: &[(Date, Event)],
    batch_sizes: &[usize],
) -> Result<(muster_tests::given::TestLedger, Model, String), TestCaseError> {
    let mut ledger = muster_tests::given::TestLedger::new();
    let mut model = Model::new();
    let mut log = String::new();
    let mut seq: Seq = 0;
    for size in batch_sizes.iter().cycle() {
        if seq as usize >= events.len() {
            break;
        }
        let chunk: Vec<(Seq, Date, Event)> = events[seq as usize..]
            .iter()
            .take(*size)
            .enumerate()
            .map(|(i, (date, event))| (seq + i as Seq + 1, *date, event.clone()))
            .collect();
        let incoming =
            chunk.iter().map(|(s, d, e)| Incoming::Decoded(muster_tests::wire::envelope(*s, *d, e))).collect();
        let receipts = ledger.submit_all(incoming);
        for ((s, date, event), receipt) in chunk.iter().zip(receipts) {
            let expected = model.submit(*s, *date, event);
            let outcome = expected.map_or_else(|code| code.as_str(), |()| "accepted");
            writeln!(log, "  #{s} {date} {event:?} => model: {outcome}").expect("a String");
            prop_assert_eq!(receipt.seq, Some(*s), "every event is recorded in order");
            let accepted = receipt.status == ReceiptStatus::Accepted;
            let conflict = receipt.code.as_deref() == Some(ReasonCode::ConflictsWithLaterEvent.as_str());
            let agree = match expected {
                Ok(()) => accepted,
                Err(code) => !accepted && conflict == (code == ReasonCode::ConflictsWithLaterEvent),
            };
            if !agree {
                return Err(mismatch(
                    &format!("event #{s} decided differently by the ledger"),
                    &receipt,
                    &expected,
                    &log,
                ));
            }
        }
        seq += chunk.len() as Seq;
    }
    Ok((ledger, model, log))
}

/// Every event to both, in order; the decisions must agree — and a
/// timeline kept for decisions only (the ledger service's) must decide
/// every event exactly as the full one.
fn feed(events: &[(Date, Event)]) -> Result<(Timeline, Model, String), TestCaseError> {
    let mut timeline = Timeline::new();
    let mut deciding_only = Timeline::for_decisions();
    let mut model = Model::new();
    let mut log = String::new();
    for (index, (date, event)) in events.iter().enumerate() {
        let seq = index as Seq + 1;
        let expected = model.submit(seq, *date, event);
        let outcome = expected.map_or_else(|code| code.as_str(), |()| "accepted");
        writeln!(log, "  #{seq} {date} {event:?} => model: {outcome}").expect("a String");
        let actual = no_panic(&format!("decide/apply #{seq}"), &log, || match timeline.decide(seq, *date, event) {
            Ok(decision) => {
                timeline.apply(decision);
                Ok(())
            }
            Err(rejection) => Err(rejection),
        })?;
        let lean = no_panic(&format!("decide/apply #{seq}, decisions only"), &log, || {
            match deciding_only.decide(seq, *date, event) {
                Ok(decision) => {
                    deciding_only.apply(decision);
                    Ok(())
                }
                Err(rejection) => Err(rejection),
            }
        })?;
        if lean != actual {
            return Err(mismatch(
                &format!("event #{seq} decided differently for decisions only"),
                &lean,
                &actual,
                &log,
            ));
        }
        let is_conflict = |code: ReasonCode| code == ReasonCode::ConflictsWithLaterEvent;
        let agree = match (&actual, &expected) {
            (Ok(()), Ok(())) => true,
            (Err(rejection), Err(code)) => is_conflict(rejection.code) == is_conflict(*code),
            _ => false,
        };
        if !agree {
            let what = format!("event #{seq} decided differently");
            return Err(mismatch(&what, &actual, &expected, &log));
        }
    }
    Ok((timeline, model, log))
}

/// Runs `f`, turning a panic into a failure that lists the events.
/// Rationale: a panic inside `Timeline` would otherwise lose the event log.
fn no_panic<T>(what: &str, log: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        TestCaseError::fail(format!("Timeline panicked in {what}: {message}\n{EVENTS_HEADING}\n{log}"))
    })
}

struct QueryPoints {
    dates: Vec<Date>,
    known_at: Vec<Option<Seq>>,
    series_from: Date,
    series_to: Date,
}

fn query_points(events: &[(Date, Event)], probes: &Probes) -> QueryPoints {
    let before = Date::from_day_number(gen::first_day().day_number() - 3).expect("in range");
    let mut dates = vec![before, gen::first_day(), gen::day(gen::SPAN_DAYS), gen::day(gen::SPAN_DAYS + 10)];
    dates.extend(probes.inside_days.iter().map(|offset| gen::day(u32::from(*offset))));
    let last_seq = events.len() as Seq;
    let mut known_at = vec![None];
    known_at.extend(probes.known_at.iter().map(|k| Some(Seq::from(*k) % (last_seq + 1))));
    QueryPoints {
        dates,
        known_at,
        series_from: Date::from_day_number(gen::first_day().day_number() - 2).expect("in range"),
        series_to: gen::day(gen::SPAN_DAYS + 2),
    }
}

/// Asks the timeline and the model the same query; returns a failure
/// naming the query and both answers if they differ.
macro_rules! same {
    ($timeline:expr, $model:expr, $log:expr, $query:ident($($arg:expr),*)) => {{
        let what = || format!("{}{:?}", stringify!($query), ($($arg,)*));
        let fast = no_panic(&what(), $log, || $timeline.$query($($arg),*))?;
        let naive = $model.$query($($arg),*);
        if fast != naive {
            let what = what();
            return Err(mismatch(&what, &fast, &naive, $log));
        }
    }};
}

fn compare_queries(timeline: &Timeline, model: &Model, points: &QueryPoints, log: &str) -> Result<(), TestCaseError> {
    let units = gen::unit_ids();
    for known_at in points.known_at.iter().copied() {
        for staff in &gen::staff_ids() {
            same!(timeline, model, log, staff_history(staff, known_at));
        }
        for unit in &units {
            same!(timeline, model, log, lineage(unit, known_at));
        }
        for date in points.dates.iter().copied() {
            same!(timeline, model, log, tree(date, known_at));
            for unit in &units {
                same!(timeline, model, log, headcount(unit, date, known_at, false));
                same!(timeline, model, log, headcount(unit, date, known_at, true));
                same!(timeline, model, log, roster(unit, date, known_at));
            }
        }
    }
    // Series are the costliest query for the model: two views suffice.
    let (from, to) = (points.series_from, points.series_to);
    for known_at in points.known_at.iter().copied().take(2) {
        for unit in &units {
            same!(timeline, model, log, series(unit, from, to, known_at, false));
            same!(timeline, model, log, series(unit, from, to, known_at, true));
        }
    }
    Ok(())
}

fn mismatch(what: &str, fast: &dyn Debug, naive: &dyn Debug, log: &str) -> TestCaseError {
    TestCaseError::fail(format!("{what}\n  timeline: {fast:?}\n  model:    {naive:?}\n{EVENTS_HEADING}\n{log}"))
}
