//! "As reported" against "as corrected": a scope on a day as the ledger
//! knew it at one sequence and at a later one, and the events recorded in
//! between that explain every difference.
//!
//! The explanation is exact, not a guess: a unit's counts on a day as known
//! at K are the sum of the deltas recorded up to K, so the change between
//! two points is the sum of what each entry between them recorded
//! ([`crate::counts::CountIndex::change_by`]); and a unit's place in the
//! scope changes only at an entry whose scope as known at it differs from
//! the scope as known just before it.

use crate::query::{CorrectedUnit, CorrectionEvent, Corrections, TreeNode, UnitCounts, UnitStatus};
use crate::timeline::{Interned, Timeline, UnitIx};
use crate::{Date, Seq, UnitId};
use std::collections::BTreeMap;

/// Each unit of a scope on a day, with its parent (none for the scope).
type Placement = BTreeMap<UnitIx, Option<UnitIx>>;

impl Timeline {
    /// `scope`'s subtree on `date` as the ledger knew it at `reported` and
    /// at `corrected` (None: now), each unit with its counts at both, and
    /// the events recorded in (`reported`, `corrected`] that explain the
    /// differences: every event in force at `corrected`, effective on or
    /// before `date`, that touched a unit of the scope at either point
    /// ([`Timeline::unit_events`]), and every retraction of an event that
    /// was in force at `reported`, effective on or before `date`, and
    /// touched one. An event recorded and retracted in between is in
    /// neither picture, so neither it nor its retraction is listed.
    ///
    /// Panics unless `reported` is before `corrected`: the caller checks.
    pub fn corrections(&self, scope: &UnitId, date: Date, reported: Seq, corrected: Option<Seq>) -> Corrections {
        let corrected = corrected.unwrap_or(self.last_seq).min(self.last_seq);
        assert!(reported < corrected, "corrections from seq {reported} to seq {corrected}: not after it");
        let before = self.scope_tree(scope, date, reported);
        let after = self.scope_tree(scope, date, corrected);
        let mut seen = std::collections::BTreeSet::new();
        let units: Vec<UnitIx> =
            after.iter().chain(&before).map(|node| self.ix(&node.unit)).filter(|u| seen.insert(*u)).collect();
        let events: Vec<CorrectionEvent> = self
            .correcting_events(&units, date, reported, corrected)
            .into_iter()
            .map(|(seq, retracts)| CorrectionEvent { seq, retracts, units: self.explained(&units, scope, date, seq) })
            .collect();
        let units = units.iter().map(|u| self.corrected_unit(*u, &before, &after, &events)).collect();
        Corrections { units, events }
    }

    fn ix(&self, unit: &UnitId) -> UnitIx {
        self.unit_ids.get(unit.as_str()).expect("a unit of the tree is interned")
    }

    /// The tree under `scope` on `date` as known at `known_at`, depth
    /// counted from the scope (empty when the scope is not active then).
    fn scope_tree(&self, scope: &UnitId, date: Date, known_at: Seq) -> Vec<TreeNode> {
        let tree = self.tree(date, Some(known_at));
        let Some(start) = tree.iter().position(|node| &node.unit == scope) else { return Vec::new() };
        let depth = tree[start].depth;
        let end = tree[start + 1..].iter().position(|node| node.depth <= depth).map_or(tree.len(), |i| start + 1 + i);
        let mut nodes = tree[start..end].to_vec();
        nodes.iter_mut().for_each(|node| node.depth -= depth);
        nodes
    }

    /// The events of [`Timeline::corrections`], by sequence, each with the
    /// event it retracts.
    fn correcting_events(
        &self,
        units: &[UnitIx],
        date: Date,
        reported: Seq,
        corrected: Seq,
    ) -> BTreeMap<Seq, Option<Seq>> {
        let mut found = BTreeMap::new();
        let touching = units.iter().flat_map(|u| self.events_touching(*u, Some(corrected)));
        for event in touching.filter(|e| e.seq > reported && e.retracted_by.is_none()) {
            let record = self.record(event.seq).expect("a listed event is recorded");
            match record.ev {
                Interned::EventRetracted { target } => {
                    let target_date = self.record(target).expect("a retracted event is recorded").date;
                    if target <= reported && target_date <= date {
                        found.insert(event.seq, Some(target));
                    }
                }
                _ if event.date <= date => {
                    found.insert(event.seq, None);
                }
                _ => {}
            }
        }
        found
    }

    /// The units (of `units`, in their order) whose own counts on `date`
    /// or place under `scope` the entry `seq` changed.
    fn explained(&self, units: &[UnitIx], scope: &UnitId, date: Date, seq: Seq) -> Vec<UnitId> {
        let (before, after) = match self.moves_units(seq) {
            true => (self.placement(scope, date, seq - 1), self.placement(scope, date, seq)),
            false => (Placement::new(), Placement::new()),
        };
        units
            .iter()
            .filter(|u| {
                !self.units[**u as usize].counts.change_by(seq, date).is_zero() || before.get(u) != after.get(u)
            })
            .map(|u| UnitId(self.unit_ids.shared(*u)))
            .collect()
    }

    /// Whether the entry `seq` can change the tree: a unit event, or the
    /// retraction of one. Staff events change counts only.
    fn moves_units(&self, seq: Seq) -> bool {
        let record = self.record(seq).expect("a listed event is recorded");
        let ev = match record.ev {
            Interned::EventRetracted { target } => &self.record(target).expect("a retracted event is recorded").ev,
            ref ev => ev,
        };
        !matches!(
            ev,
            Interned::StaffJoined { .. }
                | Interned::StaffTransferred { .. }
                | Interned::StaffSeconded { .. }
                | Interned::SecondmentEnded { .. }
                | Interned::StaffLeft { .. }
        )
    }

    /// The scope on `date` as known at `known_at`: each unit in it with its
    /// parent.
    fn placement(&self, scope: &UnitId, date: Date, known_at: Seq) -> Placement {
        let known_at = self.normalize(Some(known_at));
        let Some(root) = self.unit_ids.get(scope.as_str()) else { return Placement::new() };
        if self.unit_on(root, date, known_at).0 != UnitStatus::Active {
            return Placement::new();
        }
        let below = self.descendants(root, date, known_at).into_iter();
        let placed = below.map(|u| (u, self.unit_on(u, date, known_at).1.and_then(|state| state.parent)));
        std::iter::once((root, None)).chain(placed).collect()
    }

    fn corrected_unit(
        &self,
        u: UnitIx,
        before: &[TreeNode],
        after: &[TreeNode],
        events: &[CorrectionEvent],
    ) -> CorrectedUnit {
        let unit = UnitId(self.unit_ids.shared(u));
        let find = |nodes: &[TreeNode]| nodes.iter().find(|node| node.unit == unit).cloned();
        let (reported, corrected) = (find(before), find(after));
        let shown = corrected.as_ref().or(reported.as_ref()).expect("a unit of the scope at one point at least");
        CorrectedUnit {
            name: shown.name.clone(),
            depth: shown.depth,
            reported: reported.as_ref().map(counts),
            corrected: corrected.as_ref().map(counts),
            explained_by: events.iter().filter(|e| e.units.contains(&unit)).map(|e| e.seq).collect(),
            unit,
        }
    }
}

fn counts(node: &TreeNode) -> UnitCounts {
    UnitCounts {
        posted: node.posted,
        working: node.working,
        rolled_posted: node.rolled_posted,
        rolled_working: node.rolled_working,
    }
}

#[cfg(test)]
mod tests {
    use crate::given::{day, joined, retracted, timeline, transferred, unit};
    use crate::{Corrections, Event, Seq, Timeline, UnitId};

    fn corrections(t: &Timeline, scope: &str, date: &str, reported: Seq) -> Corrections {
        let answer = t.corrections(&UnitId::from(scope), day(date), reported, None);
        every_difference_is_explained(&answer);
        answer
    }

    /// The promise of the answer: a unit whose own counts, or presence,
    /// differ between the two points names an event that explains it.
    fn every_difference_is_explained(answer: &Corrections) {
        for unit in &answer.units {
            let own = |c: Option<crate::UnitCounts>| c.map(|c| (c.posted, c.working));
            if own(unit.reported) != own(unit.corrected) {
                assert!(!unit.explained_by.is_empty(), "{} changed unexplained: {answer:?}", unit.unit);
            }
        }
    }

    /// A unit as reported and corrected: (unit, posted then, posted now,
    /// explained_by).
    type Posted<'a> = (&'a str, Option<u32>, Option<u32>, Vec<Seq>);

    fn posted(answer: &Corrections) -> Vec<Posted<'_>> {
        let posted = |c: Option<crate::UnitCounts>| c.map(|c| c.posted);
        answer
            .units
            .iter()
            .map(|u| (u.unit.as_str(), posted(u.reported), posted(u.corrected), u.explained_by.clone()))
            .collect()
    }

    fn events(answer: &Corrections) -> Vec<(Seq, Option<Seq>, Vec<&str>)> {
        answer.events.iter().map(|e| (e.seq, e.retracts, e.units.iter().map(UnitId::as_str).collect())).collect()
    }

    fn office() -> Vec<(Seq, &'static str, Event)> {
        vec![
            (1, "2016-01-01", unit("HQ", None)),
            (2, "2016-01-01", unit("A", Some("HQ"))),
            (3, "2016-01-01", unit("B", Some("HQ"))),
            (4, "2016-01-02", joined("S1", "A")),
            (5, "2016-01-02", joined("S2", "A")),
        ]
    }

    #[test]
    fn a_late_transfer_moves_one_from_a_to_b_and_names_both() {
        let mut given = office();
        given.push((6, "2016-01-04", transferred("S1", "A", "B")));
        let answer = corrections(&timeline(&given), "HQ", "2016-01-31", 5);
        assert_eq!(
            posted(&answer),
            [("HQ", Some(0), Some(0), vec![]), ("A", Some(2), Some(1), vec![6]), ("B", Some(0), Some(1), vec![6])]
        );
        assert_eq!(answer.units[0].reported.unwrap().rolled_posted, 2);
        assert_eq!(events(&answer), [(6, None, vec!["A", "B"])]);
    }

    #[test]
    fn an_event_after_the_day_or_outside_the_scope_is_not_a_correction() {
        let mut given = office();
        given.push((6, "2016-01-01", unit("ELSEWHERE", None)));
        given.push((7, "2016-02-10", transferred("S1", "A", "B")));
        given.push((8, "2016-01-02", joined("S3", "ELSEWHERE")));
        let answer = corrections(&timeline(&given), "HQ", "2016-01-31", 5);
        assert_eq!(events_of(&answer), Vec::<Seq>::new());
        assert!(answer.units.iter().all(|u| u.reported == u.corrected && u.explained_by.is_empty()));
    }

    fn events_of(answer: &Corrections) -> Vec<Seq> {
        answer.events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_retraction_names_what_it_undid_and_an_undone_late_event_is_in_neither_picture() {
        let mut given = office();
        given.push((6, "2016-01-03", joined("S3", "B")));
        given.push((7, "2016-01-03", retracted(5)));
        given.push((8, "2016-01-03", retracted(6)));
        let answer = corrections(&timeline(&given), "HQ", "2016-01-31", 5);
        // S2's joining (5) was reported; its retraction (7) corrects A.
        // S3 joined B (6) and was retracted (8) between the two points.
        assert_eq!(events(&answer), [(7, Some(5), vec!["A"])]);
        assert_eq!(posted(&answer)[1], ("A", Some(2), Some(1), vec![7]));
        assert_eq!(posted(&answer)[2], ("B", Some(0), Some(0), vec![]));
    }

    #[test]
    fn a_unit_moved_out_late_is_listed_last_explained_by_the_move() {
        let mut given = office();
        given.push((6, "2016-01-01", unit("OTHER", None)));
        given.push((7, "2016-01-01", unit("A1", Some("A"))));
        given.push((8, "2016-01-02", joined("S3", "A1")));
        given.push((9, "2016-01-10", Event::UnitMoved { unit: "A".into(), parent: Some("OTHER".into()) }));
        let answer = corrections(&timeline(&given), "HQ", "2016-01-31", 8);
        assert_eq!(
            posted(&answer),
            [
                ("HQ", Some(0), Some(0), vec![]),
                ("B", Some(0), Some(0), vec![]),
                ("A", Some(2), None, vec![9]),
                ("A1", Some(1), None, vec![9]),
            ]
        );
        assert_eq!((answer.units[2].depth, answer.units[3].depth), (1, 2), "depth as reported");
        assert_eq!(events(&answer), [(9, None, vec!["A", "A1"])]);
    }
}
