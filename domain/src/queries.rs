//! Point-in-time queries over the indexes. None of them replays the log:
//! a point headcount is two binary searches.

use crate::counts::CountPair;
use crate::query::{Headcount, HistoryEntry, LineageEdge, RosterEntry, SeriesPoint, TreeNode, UnitStatus};
use crate::timeline::{StaffIx, StaffState, Timeline, UnitIx, UnitState};
use crate::{Date, Seq, StaffId, UnitId};
use std::collections::BTreeSet;

fn count(value: i64) -> u32 {
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

    fn counts_of(&self, u: UnitIx, date: Date, known_at: Option<Seq>) -> CountPair {
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
            let point = SeriesPoint { date, status: answer.status, posted: answer.posted, working: answer.working };
            let same = points.last().is_some_and(|last| {
                (last.status, last.posted, last.working) == (point.status, point.posted, point.working)
            });
            if !same {
                points.push(point);
            }
        }
        points
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
