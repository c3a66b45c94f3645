//! Point-in-time queries over the indexes. None of them replays the log:
//! a point headcount is two binary searches.

use crate::counts::CountPair;
use crate::history::Pos;
use crate::query::{Headcount, HistoryEntry, LineageEdge, RosterEntry, SeriesPoint, TreeNode, UnitEvent, UnitStatus};
use crate::timeline::{Interned, Record, StaffIx, StaffState, Timeline, UnitIx, UnitState};
use crate::{Date, Seq, StaffId, UnitId};
use std::collections::BTreeSet;

pub(crate) fn count(value: i64) -> u32 {
    u32::try_from(value).expect("headcount out of range")
}

impl Timeline {
    /// `known_at` at or past the last sequence is the same as now; the
    /// fast paths rely on seeing `None` then.
    pub(crate) fn normalize(&self, known_at: Option<Seq>) -> Option<Seq> {
        known_at.filter(|k| *k < self.last_seq)
    }

    pub(crate) fn unit_on(&self, u: UnitIx, date: Date, known_at: Option<Seq>) -> (UnitStatus, Option<&UnitState>) {
        let history = &self.units[u as usize].history;
        match history.state_on(date, known_at) {
            Some((_, state)) if state.open => (UnitStatus::Active, Some(state)),
            Some((pos, state)) => (UnitStatus::Closed { on: pos.date }, Some(state)),
            None if history.visible(known_at).is_empty() => (UnitStatus::Unknown, None),
            None => (UnitStatus::NotYetEstablished, None),
        }
    }

    pub(crate) fn staff_on(&self, s: StaffIx, date: Date, known_at: Option<Seq>) -> Option<StaffState> {
        let (_, state) = self.staff[s as usize].history.state_on(date, known_at)?;
        state.active.then(|| state.on(date))
    }

    /// Active units below `u` on `date` (not `u` itself), depth-first.
    pub(crate) fn descendants(&self, u: UnitIx, date: Date, known_at: Option<Seq>) -> Vec<UnitIx> {
        let mut found = Vec::new();
        let mut stack = vec![u];
        while let Some(parent) = stack.pop() {
            for child in &self.units[parent as usize].children_ever {
                let (status, state) = self.unit_on(*child, date, known_at);
                if status == UnitStatus::Active && state.and_then(|s| s.parent) == Some(parent) {
                    found.push(*child);
                    stack.push(*child);
                }
            }
            assert!(found.len() <= self.units.len(), "cycle in the unit tree");
        }
        found
    }

    fn assert_keeps_counts(&self) {
        assert!(self.keeps_counts, "a headcount asked of a timeline kept for decisions only (Timeline::for_decisions)");
    }

    pub(crate) fn counts_of(&self, u: UnitIx, date: Date, known_at: Option<Seq>) -> CountPair {
        self.assert_keeps_counts();
        self.units[u as usize].counts.at(date, known_at)
    }

    /// Every staff id the timeline has seen, in the order first seen.
    pub fn staff_ids(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.staff_ids.len() as u32).map(|i| self.staff_ids.name(i))
    }

    /// Every unit id the timeline has seen, in the order first seen.
    pub fn unit_ids(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.unit_ids.len() as u32).map(|i| self.unit_ids.name(i))
    }

    /// Whether an accepted event, as the ledger knew it at `known_at`
    /// (None: now), ever established `unit` — on any date. A unit closed
    /// or not yet established on some day is known; an id never
    /// established, or whose establishment was retracted, is not.
    pub fn unit_known(&self, unit: &UnitId, known_at: Option<Seq>) -> bool {
        let known_at = self.normalize(known_at);
        self.unit_ids
            .get(unit.as_str())
            .is_some_and(|u| self.units[u as usize].history.any_visible(known_at, |_, _| true))
    }

    /// Whether an accepted event, as the ledger knew it at `known_at`
    /// (None: now), ever named `staff` (a joining, at the least).
    pub fn staff_known(&self, staff: &StaffId, known_at: Option<Seq>) -> bool {
        let known_at = self.normalize(known_at);
        self.staff_ids
            .get(staff.as_str())
            .is_some_and(|s| self.staff[s as usize].history.any_visible(known_at, |_, _| true))
    }

    /// Posted and working headcount of `unit` on `date`, as the ledger
    /// knew it at `known_at` (None: now), alone or rolled up over the units
    /// below it as the tree stood that day.
    pub fn headcount(&self, unit: &UnitId, date: Date, known_at: Option<Seq>, rolled_up: bool) -> Headcount {
        let known_at = self.normalize(known_at);
        let mut answer =
            Headcount { unit: unit.clone(), date, status: UnitStatus::Unknown, rolled_up, posted: 0, working: 0 };
        let Some(u) = self.unit_ids.get(unit.as_str()) else { return answer };
        answer.status = self.unit_on(u, date, known_at).0;
        if answer.status != UnitStatus::Active {
            return answer;
        }
        let mut total = self.counts_of(u, date, known_at);
        if rolled_up {
            for below in self.descendants(u, date, known_at) {
                let counts = self.counts_of(below, date, known_at);
                total.posted += counts.posted;
                total.working += counts.working;
            }
        }
        answer.posted = count(total.posted);
        answer.working = count(total.working);
        answer
    }

    /// Every active unit on `date` with its counts, depth-first, roots and
    /// siblings in id order.
    pub fn tree(&self, date: Date, known_at: Option<Seq>) -> Vec<TreeNode> {
        let known_at = self.normalize(known_at);
        // Each unit's state and counts on the day: the bulk of the work
        // (two searches per unit in cold memory), split over the cores.
        let per_unit: Vec<Option<(&UnitState, CountPair)>> = crate::parallel::split(self.units.len(), |range| {
            range
                .map(|u| match self.unit_on(u as UnitIx, date, known_at) {
                    (UnitStatus::Active, Some(state)) => Some((state, self.counts_of(u as UnitIx, date, known_at))),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        // Children by parent index (the last slot: roots), in one array:
        // `kids[first[p]..first[p + 1]]` are p's, sorted by id. Rationale:
        // a vector per parent was 48k allocations (and frees) per call.
        let roots = self.units.len();
        let slot = |state: &UnitState| state.parent.map_or(roots, |p| p as usize);
        let mut first = vec![0usize; roots + 3];
        for (state, _) in per_unit.iter().flatten() {
            first[slot(state) + 2] += 1;
        }
        for i in 2..first.len() {
            first[i] += first[i - 1];
        }
        let mut kids: Vec<UnitIx> = vec![0; first[roots + 2]];
        for (u, unit) in per_unit.iter().enumerate() {
            if let Some((state, _)) = unit {
                let at = &mut first[slot(state) + 1];
                kids[*at] = u as UnitIx;
                *at += 1;
            }
        }
        for p in 0..=roots {
            let (start, end) = (first[p], first[p + 1]);
            kids[start..end].sort_by(|a, b| self.unit_ids.name(*a).cmp(self.unit_ids.name(*b)));
        }
        let children = |p: usize| &kids[first[p]..first[p + 1]];
        let mut nodes: Vec<TreeNode> = Vec::new();
        // The index of each node's parent node, for the roll-up.
        let mut parent_of: Vec<Option<usize>> = Vec::new();
        let mut stack: Vec<(u32, Option<usize>, UnitIx)> =
            children(roots).iter().rev().map(|u| (0, None, *u)).collect();
        while let Some((depth, parent, u)) = stack.pop() {
            let (state, counts) = per_unit[u as usize].expect("only active units are in the tree");
            let index = nodes.len();
            nodes.push(TreeNode {
                unit: UnitId(self.unit_ids.shared(u)),
                name: state.name.clone(),
                category: state.category,
                parent: state.parent.map(|p| UnitId(self.unit_ids.shared(p))),
                quota: state.quota,
                depth,
                posted: count(counts.posted),
                working: count(counts.working),
                rolled_posted: 0,
                rolled_working: 0,
            });
            parent_of.push(parent);
            stack.extend(children(u as usize).iter().rev().map(|k| (depth + 1, Some(index), *k)));
        }
        // Roll-up: children come after their parent in depth-first order,
        // so one backward pass adds each subtree's total into its parent.
        for i in (0..nodes.len()).rev() {
            nodes[i].rolled_posted += nodes[i].posted;
            nodes[i].rolled_working += nodes[i].working;
            if let Some(p) = parent_of[i] {
                let (posted, working) = (nodes[i].rolled_posted, nodes[i].rolled_working);
                nodes[p].rolled_posted += posted;
                nodes[p].rolled_working += working;
            }
        }
        nodes
    }

    /// Staff posted at or working in `unit` on `date`, in id order.
    pub fn roster(&self, unit: &UnitId, date: Date, known_at: Option<Seq>) -> Vec<RosterEntry> {
        let known_at = self.normalize(known_at);
        let Some(u) = self.unit_ids.get(unit.as_str()) else { return Vec::new() };
        let mut entries: Vec<RosterEntry> = self.units[u as usize]
            .staff_ever
            .iter()
            .filter_map(|s| {
                let state = self.staff_on(*s, date, known_at)?;
                let working = state.working_on(date);
                (state.home == u || working == u).then(|| RosterEntry {
                    staff: StaffId(self.staff_ids.shared(*s)),
                    home: UnitId(self.unit_ids.shared(state.home)),
                    working: UnitId(self.unit_ids.shared(working)),
                    seconded_until: state.seconded_on(date).and_then(|x| x.until),
                })
            })
            .collect();
        entries.sort_by(|a, b| a.staff.cmp(&b.staff));
        entries
    }

    /// The event in force for `staff` on `date`: the last accepted event
    /// on or before it that touched them (named them, or moved them with a
    /// merger or split): what put them where they are that day.
    pub fn staff_since(&self, staff: &StaffId, date: Date, known_at: Option<Seq>) -> Option<Seq> {
        let s = self.staff_ids.get(staff.as_str())?;
        let (pos, _) = self.staff[s as usize].history.state_on(date, self.normalize(known_at))?;
        Some(pos.seq)
    }

    /// The name `unit` had on `date` (its last name if closed by then), as
    /// known at `known_at`; `None` for a unit not established by then.
    pub fn unit_name_on(&self, unit: &UnitId, date: Date, known_at: Option<Seq>) -> Option<&str> {
        let u = self.unit_ids.get(unit.as_str())?;
        let (_, state) = self.unit_on(u, date, self.normalize(known_at));
        state.map(|state| &*state.name)
    }

    /// Every accepted event that touched `staff`, in timeline order, with
    /// where they stood after it.
    pub fn staff_history(&self, staff: &StaffId, known_at: Option<Seq>) -> Vec<HistoryEntry> {
        let known_at = self.normalize(known_at);
        let Some(s) = self.staff_ids.get(staff.as_str()) else { return Vec::new() };
        self.staff[s as usize]
            .history
            .visible(known_at)
            .into_iter()
            .map(|(pos, state)| HistoryEntry {
                seq: pos.seq,
                date: pos.date,
                kind: self.record(pos.seq).expect("a step's event is recorded").ev.kind(),
                active: state.active,
                home: UnitId(self.unit_ids.shared(state.home)),
                working: UnitId(self.unit_ids.shared(state.working_on(pos.date))),
            })
            .collect()
    }

    /// The mergers and splits `unit` came from and went into, transitively.
    pub fn lineage(&self, unit: &UnitId, known_at: Option<Seq>) -> Vec<LineageEdge> {
        let known_at = self.normalize(known_at);
        let Some(u) = self.unit_ids.get(unit.as_str()) else { return Vec::new() };
        let mut edges: BTreeSet<LineageEdge> = BTreeSet::new();
        for forwards in [false, true] {
            let mut seen = BTreeSet::from([u]);
            let mut stack = vec![u];
            while let Some(x) = stack.pop() {
                for seq in &self.units[x as usize].lineage {
                    let record = self.record(*seq).expect("lineage lists accepted events");
                    if !record.visible_at(*seq, known_at) {
                        continue;
                    }
                    for (from, to) in record.ev.lineage_edges() {
                        let (here, next) = if forwards { (from, to) } else { (to, from) };
                        if here != x {
                            continue;
                        }
                        edges.insert(LineageEdge {
                            date: record.date,
                            seq: *seq,
                            kind: record.ev.kind(),
                            from: UnitId(self.unit_ids.shared(from)),
                            to: UnitId(self.unit_ids.shared(to)),
                        });
                        if seen.insert(next) {
                            stack.push(next);
                        }
                    }
                }
            }
        }
        edges.into_iter().collect()
    }

    /// Headcount of `unit` from `from` to `to` inclusive: a point at `from`
    /// and one on every day the status or either count changes.
    pub fn series(
        &self,
        unit: &UnitId,
        from: Date,
        to: Date,
        known_at: Option<Seq>,
        rolled_up: bool,
    ) -> Vec<SeriesPoint> {
        self.assert_keeps_counts();
        let known_at = self.normalize(known_at);
        let mut candidates: BTreeSet<Date> = BTreeSet::from([from]);
        if let Some(u) = self.unit_ids.get(unit.as_str()) {
            let mut units = BTreeSet::from([u]);
            if rolled_up {
                let mut stack = vec![u];
                while let Some(x) = stack.pop() {
                    for child in &self.units[x as usize].children_ever {
                        if units.insert(*child) {
                            stack.push(*child);
                        }
                    }
                }
            }
            for x in units {
                let record = &self.units[x as usize];
                let dates = record.counts.change_dates().chain(record.history.all_dates());
                candidates.extend(dates.filter(|d| *d > from && *d <= to));
            }
        }
        let mut points: Vec<SeriesPoint> = Vec::new();
        for date in candidates {
            let answer = self.headcount(unit, date, known_at, rolled_up);
            // A quota is an active unit's: a closed unit keeps none, even
            // one set the day it closed.
            let quota = match answer.status {
                UnitStatus::Active => {
                    self.unit_ids.get(unit.as_str()).and_then(|u| self.unit_on(u, date, known_at).1?.quota)
                }
                _ => None,
            };
            let point =
                SeriesPoint { date, status: answer.status, posted: answer.posted, working: answer.working, quota };
            let same = points.last().is_some_and(|last| {
                (last.status, last.posted, last.working, last.quota)
                    == (point.status, point.posted, point.working, point.quota)
            });
            if !same {
                points.push(point);
            }
        }
        points
    }
}

impl Timeline {
    /// Every accepted event that touched `unit` as the ledger knew it at
    /// `known_at` (None: now), in timeline order: those that name it in
    /// any role, those that changed who is posted or working there without
    /// naming it (a member posted there leaving, a backdated event
    /// replayed through it), those that put a child under it or took one
    /// away, and the retractions of any of them. An event retracted by a
    /// retraction known then is listed, with `retracted_by`.
    pub fn unit_events(&self, unit: &UnitId, known_at: Option<Seq>) -> Vec<UnitEvent> {
        match self.unit_ids.get(unit.as_str()) {
            Some(u) => self.events_touching(u, known_at),
            None => Vec::new(),
        }
    }

    pub(crate) fn events_touching(&self, u: UnitIx, known_at: Option<Seq>) -> Vec<UnitEvent> {
        let last = known_at.unwrap_or(self.last_seq).min(self.last_seq);
        let mut found: BTreeSet<(Pos, Option<Seq>)> = BTreeSet::new();
        for seq in self.touch_candidates(u).into_iter().filter(|seq| *seq <= last) {
            let Some(record) = self.record(seq) else { continue };
            // A retraction is listed through its target, which tells
            // whether it touched the unit.
            if matches!(record.ev, Interned::EventRetracted { .. }) || !self.touches(u, seq, record, last) {
                continue;
            }
            let retracted_by = record.retracted_by().filter(|r| *r <= last);
            found.insert((record.pos(seq), retracted_by));
            if let Some(r) = retracted_by {
                let retraction = self.record(r).expect("a retraction is recorded");
                found.insert((retraction.pos(r), None));
            }
        }
        found.into_iter().map(|(pos, retracted_by)| UnitEvent { seq: pos.seq, date: pos.date, retracted_by }).collect()
    }

    /// Every sequence that may have touched `u`: a superset, retracted
    /// events included. The refs lose an event when it is retracted; the
    /// histories (superseded versions), count deltas and lineage keep it.
    fn touch_candidates(&self, u: UnitIx) -> BTreeSet<Seq> {
        let record = &self.units[u as usize];
        let refs = record.own_refs.iter().chain(&record.read_refs).chain(&record.structural_refs);
        let mut seqs: BTreeSet<Seq> = refs.map(|mark| mark.pos().seq).collect();
        seqs.extend(record.history.all_seqs());
        seqs.extend(record.counts.change_seqs());
        seqs.extend(record.lineage.iter().copied());
        for child in &record.children_ever {
            seqs.extend(self.units[*child as usize].history.all_seqs());
        }
        seqs
    }

    /// Whether the event at `seq` touched `u`: names it, changed its
    /// counts, or put a child of it under it or away from it.
    fn touches(&self, u: UnitIx, seq: Seq, record: &Record, last: Seq) -> bool {
        let unit = &self.units[u as usize];
        if record.ev.names_unit(u) || unit.counts.changed_by(seq) {
            return true;
        }
        // A retracted event's versions are visible only before its
        // retraction: judge it as the ledger knew it then.
        let as_of = record.retracted_by().filter(|r| *r <= last).map_or(last, |r| r - 1);
        let children = record.ev.own_units().into_iter().filter(|child| unit.children_ever.contains(*child));
        children.into_iter().any(|child| self.moved_under(u, child, record.pos(seq), as_of))
    }

    /// Whether the step at `pos` of `child`'s history, as known at `as_of`,
    /// made it an open child of `parent` or stopped it being one.
    fn moved_under(&self, parent: UnitIx, child: UnitIx, pos: Pos, as_of: Seq) -> bool {
        let steps = self.units[child as usize].history.visible(self.normalize(Some(as_of)));
        let i = steps.partition_point(|(at, _)| *at < pos);
        let Some((at, after)) = steps.get(i) else { return false };
        let under = |state: &UnitState| state.open && state.parent == Some(parent);
        let before = i.checked_sub(1).is_some_and(|j| under(steps[j].1));
        *at == pos && before != under(after)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Category, Date, Event, Seq, StaffId, Timeline, UnitId};

    fn established(unit: &str) -> Event {
        Event::UnitEstablished {
            unit: unit.into(),
            name: unit.into(),
            category: Category::Office,
            parent: None,
            quota: None,
        }
    }

    #[test]
    fn known_means_established_as_known_then_on_any_day() {
        let mut timeline = Timeline::new();
        let day = |s| Date::parse(s).unwrap();
        let events: [(Seq, &str, Event); 5] = [
            (1, "2013-01-01", established("HQ")),
            (2, "2013-02-01", Event::StaffJoined { staff: "S1".into(), unit: "HQ".into() }),
            (3, "2014-01-01", established("LATE")),
            (4, "2013-01-01", established("GONE")),
            (5, "2013-03-01", Event::EventRetracted { target: 4, reason: "keyed in error".into() }),
        ];
        for (seq, date, event) in &events {
            let decision = timeline.decide(*seq, day(date), event).unwrap();
            timeline.apply(decision);
        }
        let unit = |id: &str, k: Option<Seq>| timeline.unit_known(&UnitId::from(id), k);
        let staff = |id: &str, k: Option<Seq>| timeline.staff_known(&StaffId::from(id), k);
        assert!(unit("HQ", None) && !unit("NOPE", None) && !unit("hq", None));
        // Known whatever the day: established after it is still known.
        assert!(unit("LATE", None) && unit("LATE", Some(3)) && !unit("LATE", Some(2)));
        // A retracted establishment frees the id: known only before it.
        assert!(unit("GONE", Some(4)) && !unit("GONE", None));
        assert!(staff("S1", None) && !staff("S1", Some(1)) && !staff("NOPE", None) && !staff("HQ", None));
    }
}

#[cfg(test)]
mod unit_events {
    use crate::given::{joined, timeline, transferred, unit};
    use crate::{Event, Seq, Timeline, UnitId};

    /// The events listed for `id` as known at `known_at`: (seq, retracted_by).
    fn listed(timeline: &Timeline, id: &str, known_at: Option<Seq>) -> Vec<(Seq, Option<Seq>)> {
        timeline.unit_events(&UnitId::from(id), known_at).iter().map(|e| (e.seq, e.retracted_by)).collect()
    }

    fn moved(id: &str, parent: &str) -> Event {
        Event::UnitMoved { unit: id.into(), parent: Some(parent.into()) }
    }

    #[test]
    fn a_unit_lists_what_named_it_and_what_changed_it_without_naming_it() {
        let t = timeline(&[
            (1, "2015-01-01", unit("HQ", None)),
            (2, "2015-01-01", unit("A", Some("HQ"))),
            (3, "2015-01-01", unit("B", Some("HQ"))),
            (4, "2015-02-01", joined("S1", "A")),
            (5, "2015-02-01", joined("S2", "B")),
            (
                6,
                "2015-03-01",
                Event::StaffSeconded { staff: "S2".into(), from: "B".into(), to: "A".into(), until: None },
            ),
            (7, "2015-04-01", Event::SecondmentEnded { staff: "S2".into() }),
            (8, "2015-05-01", Event::StaffLeft { staff: "S1".into(), reason: "retired".into() }),
            (9, "2015-06-01", moved("B", "A")),
            (10, "2015-07-01", moved("B", "HQ")),
        ]);
        // A: established, S1 joined, S2 seconded in, the secondment ended
        // and S1 left (neither names A), B moved under it and away again.
        assert_eq!(listed(&t, "A", None), [2, 4, 6, 7, 8, 9, 10].map(|s| (s, None)));
        // HQ: its children established under it, B moved away and back.
        assert_eq!(listed(&t, "HQ", None), [1, 2, 3, 9, 10].map(|s| (s, None)));
        // As known at 6: nothing recorded after it.
        assert_eq!(listed(&t, "A", Some(6)), [2, 4, 6].map(|s| (s, None)));
    }

    #[test]
    fn a_retracted_event_is_listed_with_its_retraction_once_that_is_known() {
        let t = timeline(&[
            (1, "2015-01-01", unit("A", None)),
            (2, "2015-01-01", unit("B", None)),
            (3, "2015-02-01", joined("S1", "A")),
            (4, "2015-03-01", transferred("S1", "A", "B")),
            (5, "2015-01-15", crate::given::retracted(4)),
        ]);
        // In timeline order: the retraction's own date comes first.
        assert_eq!(listed(&t, "B", None), [(2, None), (5, None), (4, Some(5))]);
        assert_eq!(listed(&t, "B", Some(4)), [(2, None), (4, None)], "the retraction is not known yet");
    }

    #[test]
    fn a_late_order_is_listed_at_its_effective_date() {
        let t = timeline(&[
            (1, "2015-01-01", unit("A", None)),
            (2, "2015-01-01", unit("B", None)),
            (3, "2015-02-01", joined("S1", "A")),
            (4, "2015-06-01", joined("S2", "B")),
            (5, "2015-03-01", transferred("S1", "A", "B")),
        ]);
        assert_eq!(listed(&t, "B", None), [2, 5, 4].map(|s| (s, None)));
    }
}
