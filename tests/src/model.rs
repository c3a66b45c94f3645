//! A deliberately naive reference model of `shared/SPEC.md`.
//!
//! Rationale: the fast `muster_domain::Timeline` keeps indexes; this model
//! keeps nothing but the list of accepted events. Every decision inserts the
//! candidate into that list, sorts it by (effective date, sequence) and
//! replays it from scratch over plain `BTreeMap`s, checking each event's
//! "valid when" rule at its place. Every query replays the events known at
//! `known_at` up to the day asked about. It is slow on purpose: obviously
//! correct beats fast here, so that a property test can hold the fast
//! implementation to it.
//!
//! The only concession to speed is a memo of replayed states per
//! (`known_at`, day), cleared by every [`Model::submit`]; a replay is a pure
//! function of the accepted events, so the memo cannot change an answer.

use muster_domain::{
    Allocation, Category, Date, Event, EventKind, Headcount, HistoryEntry, LineageEdge, MergeTarget, NewUnit,
    ReasonCode, RosterEntry, Seq, SeriesPoint, StaffId, TreeNode, UnitId, UnitStatus,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// One event the model accepted, with the retraction that undid it, if any.
#[derive(Clone, Debug)]
struct Record {
    seq: Seq,
    date: Date,
    event: Event,
    retracted_by: Option<Seq>,
}

/// An event of a timeline to replay: an accepted one or the candidate.
#[derive(Clone, Copy, Debug)]
struct Entry<'a> {
    seq: Seq,
    date: Date,
    event: &'a Event,
}

#[derive(Clone, Debug)]
struct UnitState {
    name: String,
    category: Category,
    parent: Option<UnitId>,
    quota: Option<u32>,
    closed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Secondment {
    host: UnitId,
    /// The last day away.
    until: Option<Date>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct StaffState {
    active: bool,
    home: UnitId,
    /// Kept after `until` has passed; [`State::secondment_on`] decides
    /// whether it is in force on a day.
    secondment: Option<Secondment>,
}

/// The whole state after replaying a prefix of a timeline.
#[derive(Clone, Debug, Default)]
struct State {
    /// Every unit established so far, closed ones included.
    units: BTreeMap<UnitId, UnitState>,
    /// Every staff member who joined so far, inactive ones included.
    staff: BTreeMap<StaffId, StaffState>,
}

/// How many events of the whole timeline establish each unit id.
///
/// Rationale: "id never used before" is global in time. A backdated
/// establishment of an id that a later event establishes is as invalid as
/// one that an earlier event established.
struct Census {
    establishing_event_count: BTreeMap<UnitId, u32>,
}

/// Replayed states by (`known_at`, day); see the module documentation.
type StateMemo = RefCell<BTreeMap<(Option<Seq>, Date), Rc<State>>>;

/// The naive reference model; see the module documentation.
#[derive(Debug, Default)]
pub struct Model {
    accepted: Vec<Record>,
    rejected: BTreeSet<Seq>,
    last_seq: Seq,
    states: StateMemo,
}

use ReasonCode as R;

/// The ids of the units an event establishes (a split's parts deduplicated).
fn established_ids(event: &Event) -> BTreeSet<&UnitId> {
    match event {
        Event::UnitEstablished { unit, .. } => BTreeSet::from([unit]),
        Event::UnitsMerged { target: MergeTarget::New(new_unit), .. } => BTreeSet::from([&new_unit.unit]),
        Event::UnitSplit { parts, .. } => parts.iter().map(|part| &part.unit).collect(),
        _ => BTreeSet::new(),
    }
}

/// The ids of the units an event closes, with no check.
fn closed_ids(event: &Event) -> Vec<&UnitId> {
    match event {
        Event::UnitsMerged { sources, .. } => sources.iter().collect(),
        Event::UnitSplit { source, .. } => vec![source],
        Event::UnitDissolved { unit } => vec![unit],
        _ => Vec::new(),
    }
}

/// The staff member an event names directly, if any (a split's lists aside).
fn named_staff(event: &Event) -> Vec<&StaffId> {
    match event {
        Event::StaffJoined { staff, .. }
        | Event::StaffTransferred { staff, .. }
        | Event::StaffSeconded { staff, .. }
        | Event::SecondmentEnded { staff }
        | Event::StaffLeft { staff, .. } => vec![staff],
        Event::UnitSplit { posted, seconded, .. } => {
            posted.iter().chain(seconded).map(|allocation| &allocation.item).collect()
        }
        _ => Vec::new(),
    }
}

fn has_duplicates<T: Ord>(items: &[T]) -> bool {
    let distinct: BTreeSet<&T> = items.iter().collect();
    distinct.len() != items.len()
}

fn fail_if(condition: bool, code: ReasonCode) -> Result<(), ReasonCode> {
    if condition {
        Err(code)
    } else {
        Ok(())
    }
}

impl Census {
    fn of(entries: &[Entry<'_>]) -> Census {
        let mut establishing_event_count = BTreeMap::new();
        for entry in entries {
            for unit in established_ids(entry.event) {
                *establishing_event_count.entry(unit.clone()).or_insert(0) += 1;
            }
        }
        Census { establishing_event_count }
    }

    fn is_established_somewhere(&self, unit: &UnitId) -> bool {
        self.establishing_event_count.contains_key(unit)
    }

    /// Called for an event that establishes `unit`, so one count is its own.
    fn require_unused(&self, unit: &UnitId) -> Result<(), ReasonCode> {
        let count = self.establishing_event_count.get(unit).copied().unwrap_or(0);
        fail_if(count > 1, R::UnitIdAlreadyUsed)
    }
}

/// Whether a secondment is in force on a day: through `until` inclusive.
fn secondment_in_force(secondment: &Option<Secondment>, date: Date) -> Option<&Secondment> {
    secondment.as_ref().filter(|s| s.until.is_none_or(|until| date <= until))
}

impl StaffState {
    fn secondment_on(&self, date: Date) -> Option<&Secondment> {
        if self.active {
            secondment_in_force(&self.secondment, date)
        } else {
            None
        }
    }

    fn working_unit(&self, date: Date) -> &UnitId {
        self.secondment_on(date).map_or(&self.home, |secondment| &secondment.host)
    }
}

impl State {
    fn is_active(&self, unit: &UnitId) -> bool {
        self.units.get(unit).is_some_and(|state| !state.closed)
    }

    fn require_active(&self, unit: &UnitId, census: &Census) -> Result<(), ReasonCode> {
        if self.is_active(unit) {
            Ok(())
        } else if self.units.contains_key(unit) || census.is_established_somewhere(unit) {
            Err(R::UnitNotActive)
        } else {
            Err(R::UnitUnknown)
        }
    }

    /// Whether `unit` is strictly below `ancestor` in the tree (walking parents).
    fn is_below(&self, unit: &UnitId, ancestor: &UnitId) -> bool {
        let mut current = self.units.get(unit).and_then(|state| state.parent.as_ref());
        let mut steps = 0;
        while let Some(parent) = current {
            if parent == ancestor {
                return true;
            }
            steps += 1;
            assert!(steps <= self.units.len(), "the model let a cycle in at {unit}");
            current = self.units.get(parent).and_then(|state| state.parent.as_ref());
        }
        false
    }

    fn active_staff(&self) -> impl Iterator<Item = (&StaffId, &StaffState)> {
        self.staff.iter().filter(|(_, state)| state.active)
    }

    fn posted_at(&self, unit: &UnitId) -> BTreeSet<StaffId> {
        self.active_staff().filter(|(_, state)| &state.home == unit).map(|(staff, _)| staff.clone()).collect()
    }

    fn seconded_into(&self, unit: &UnitId, date: Date) -> BTreeSet<StaffId> {
        self.active_staff()
            .filter(|(_, state)| state.secondment_on(date).is_some_and(|s| &s.host == unit))
            .map(|(staff, _)| staff.clone())
            .collect()
    }

    fn active_children(&self, unit: &UnitId) -> BTreeSet<UnitId> {
        self.units
            .iter()
            .filter(|(_, state)| !state.closed && state.parent.as_ref() == Some(unit))
            .map(|(child, _)| child.clone())
            .collect()
    }

    /// The unit and every active unit below it.
    fn subtree(&self, unit: &UnitId) -> BTreeSet<UnitId> {
        self.units
            .keys()
            .filter(|other| *other == unit || (self.is_active(other) && self.is_below(other, unit)))
            .cloned()
            .collect()
    }

    fn require_staff_active(&self, staff: &StaffId) -> Result<&StaffState, ReasonCode> {
        let state = self.staff.get(staff).ok_or(R::StaffUnknown)?;
        fail_if(!state.active, R::StaffNotActive)?;
        Ok(state)
    }

    fn require_posted(&self, staff: &StaffId, unit: &UnitId) -> Result<&StaffState, ReasonCode> {
        let state = self.require_staff_active(staff)?;
        fail_if(&state.home != unit, R::StaffNotInUnit)?;
        Ok(state)
    }
}

/// Validation: the "valid when" column of SPEC.md.
impl State {
    fn check(&self, date: Date, event: &Event, census: &Census) -> Result<(), ReasonCode> {
        match event {
            Event::UnitEstablished { unit, parent, .. } => {
                census.require_unused(unit)?;
                parent.as_ref().map_or(Ok(()), |parent| self.require_active(parent, census))
            }
            Event::UnitRenamed { unit, .. } | Event::UnitQuotaSet { unit, .. } => self.require_active(unit, census),
            Event::UnitMoved { unit, parent } => self.check_move(unit, parent.as_ref(), census),
            Event::UnitReclassified { unit, category } => {
                self.require_active(unit, census)?;
                fail_if(self.units[unit].category == *category, R::CategoryUnchanged)
            }
            Event::UnitsMerged { sources, target } => self.check_merge(sources, target, census),
            Event::UnitSplit { source, parts, posted, seconded, children } => {
                self.check_split_parts(source, parts, census)?;
                let part_ids: BTreeSet<&UnitId> = parts.iter().map(|part| &part.unit).collect();
                check_allocation(posted, &self.posted_at(source), &part_ids)?;
                check_allocation(seconded, &self.seconded_into(source, date), &part_ids)?;
                check_allocation(children, &self.active_children(source), &part_ids)
            }
            Event::UnitDissolved { unit } => {
                self.require_active(unit, census)?;
                let empty = self.posted_at(unit).is_empty()
                    && self.seconded_into(unit, date).is_empty()
                    && self.active_children(unit).is_empty();
                fail_if(!empty, R::UnitNotEmpty)
            }
            Event::StaffJoined { staff, unit } => {
                let active = self.staff.get(staff).is_some_and(|state| state.active);
                fail_if(active, R::StaffAlreadyActive)?;
                self.require_active(unit, census)
            }
            Event::StaffTransferred { staff, from, to } => {
                self.require_posted(staff, from)?;
                self.require_active(to, census)?;
                fail_if(to == from, R::SameUnit)
            }
            Event::StaffSeconded { staff, from, to, until } => {
                let state = self.require_posted(staff, from)?;
                fail_if(state.secondment_on(date).is_some(), R::AlreadySeconded)?;
                self.require_active(to, census)?;
                fail_if(to == from, R::SameUnit)?;
                fail_if(until.is_some_and(|until| until < date), R::UntilBeforeEffectiveDate)
            }
            Event::SecondmentEnded { staff } => {
                let state = self.staff.get(staff).ok_or(R::StaffUnknown)?;
                fail_if(state.secondment_on(date).is_none(), R::NotSeconded)
            }
            Event::StaffLeft { staff, .. } => self.require_staff_active(staff).map(|_| ()),
            Event::EventRetracted { .. } => unreachable!("retractions are not replayed"),
        }
    }

    fn check_move(&self, unit: &UnitId, parent: Option<&UnitId>, census: &Census) -> Result<(), ReasonCode> {
        self.require_active(unit, census)?;
        let Some(parent) = parent else { return Ok(()) };
        self.require_active(parent, census)?;
        fail_if(parent == unit || self.is_below(parent, unit), R::UnitCycle)
    }

    fn check_merge(&self, sources: &[UnitId], target: &MergeTarget, census: &Census) -> Result<(), ReasonCode> {
        // The codec rejects an empty list; the model says so too.
        fail_if(sources.is_empty(), R::InvalidField)?;
        for source in sources {
            self.require_active(source, census)?;
        }
        fail_if(has_duplicates(sources), R::DuplicateUnitInEvent)?;
        let inside = |unit: &UnitId| sources.iter().any(|source| unit == source || self.is_below(unit, source));
        match target {
            MergeTarget::Existing(target) => {
                self.require_active(target, census)?;
                fail_if(inside(target), R::MergeTargetInsideSources)
            }
            MergeTarget::New(new_unit) => {
                census.require_unused(&new_unit.unit)?;
                fail_if(inside(&new_unit.unit), R::MergeTargetInsideSources)?;
                let Some(parent) = &new_unit.parent else {
                    return Ok(());
                };
                self.require_active(parent, census)?;
                fail_if(inside(parent), R::MergeTargetInsideSources)
            }
        }
    }

    fn check_split_parts(&self, source: &UnitId, parts: &[NewUnit], census: &Census) -> Result<(), ReasonCode> {
        self.require_active(source, census)?;
        // The codec rejects an empty list; the model says so too.
        fail_if(parts.is_empty(), R::InvalidField)?;
        let part_ids: Vec<&UnitId> = parts.iter().map(|part| &part.unit).collect();
        fail_if(has_duplicates(&part_ids), R::DuplicateUnitInEvent)?;
        for part in parts {
            census.require_unused(&part.unit)?;
            let Some(parent) = &part.parent else { continue };
            self.require_active(parent, census)?;
            fail_if(parent == source || self.is_below(parent, source), R::SplitPartInsideSource)?;
        }
        Ok(())
    }
}

/// Every item of `expected` allocated exactly once, to one of the parts.
fn check_allocation<T: Ord>(
    allocations: &[Allocation<T>],
    expected: &BTreeSet<T>,
    parts: &BTreeSet<&UnitId>,
) -> Result<(), ReasonCode> {
    let mut seen = BTreeSet::new();
    for allocation in allocations {
        fail_if(!parts.contains(&allocation.part), R::SplitAllocationUnknownPart)?;
        let fresh = seen.insert(&allocation.item);
        fail_if(!fresh || !expected.contains(&allocation.item), R::SplitAllocationExtra)?;
    }
    fail_if(seen.len() != expected.len(), R::SplitAllocationIncomplete)
}

/// Evolution: the "effect from D" column of SPEC.md, for a valid event.
impl State {
    fn apply(&mut self, date: Date, event: &Event) {
        match event {
            Event::UnitEstablished { unit, name, category, parent, quota } => {
                let state = UnitState {
                    name: name.clone(),
                    category: *category,
                    parent: parent.clone(),
                    quota: *quota,
                    closed: false,
                };
                self.units.insert(unit.clone(), state);
            }
            Event::UnitRenamed { unit, name } => self.unit_mut(unit).name = name.clone(),
            Event::UnitMoved { unit, parent } => self.unit_mut(unit).parent = parent.clone(),
            Event::UnitReclassified { unit, category } => self.unit_mut(unit).category = *category,
            Event::UnitQuotaSet { unit, quota } => self.unit_mut(unit).quota = Some(*quota),
            Event::UnitsMerged { sources, target } => self.apply_merge(date, sources, target),
            Event::UnitSplit { source, parts, posted, seconded, children } => {
                for part in parts {
                    self.establish(part);
                }
                for allocation in posted {
                    self.staff_mut(&allocation.item).home = allocation.part.clone();
                }
                for allocation in seconded {
                    let state = self.staff_mut(&allocation.item);
                    state.secondment.as_mut().expect("validated").host = allocation.part.clone();
                }
                for allocation in children {
                    self.unit_mut(&allocation.item).parent = Some(allocation.part.clone());
                }
                self.unit_mut(source).closed = true;
            }
            Event::UnitDissolved { unit } => self.unit_mut(unit).closed = true,
            Event::StaffJoined { staff, unit } => {
                let state = StaffState { active: true, home: unit.clone(), secondment: None };
                self.staff.insert(staff.clone(), state);
            }
            Event::StaffTransferred { staff, to, .. } => {
                let state = self.staff_mut(staff);
                if state.secondment_on(date).is_some_and(|s| &s.host == to) {
                    state.secondment = None;
                }
                state.home = to.clone();
            }
            Event::StaffSeconded { staff, to, until, .. } => {
                let secondment = Secondment { host: to.clone(), until: *until };
                self.staff_mut(staff).secondment = Some(secondment);
            }
            Event::SecondmentEnded { staff } => self.staff_mut(staff).secondment = None,
            Event::StaffLeft { staff, .. } => {
                let state = self.staff_mut(staff);
                state.active = false;
                state.secondment = None;
            }
            Event::EventRetracted { .. } => unreachable!("retractions are not replayed"),
        }
    }

    fn apply_merge(&mut self, date: Date, sources: &[UnitId], target: &MergeTarget) {
        if let MergeTarget::New(new_unit) = target {
            self.establish(new_unit);
        }
        let target = target.unit();
        for state in self.staff.values_mut().filter(|state| state.active) {
            if sources.contains(&state.home) {
                state.home = target.clone();
            }
            let in_force = state.secondment_on(date).is_some();
            if let Some(secondment) = state.secondment.as_mut().filter(|_| in_force) {
                if sources.contains(&secondment.host) {
                    secondment.host = target.clone();
                }
                if secondment.host == state.home {
                    state.secondment = None;
                }
            }
        }
        for (unit, state) in self.units.iter_mut() {
            let child_of_source = state.parent.as_ref().is_some_and(|p| sources.contains(p));
            if !state.closed && child_of_source && !sources.contains(unit) {
                state.parent = Some(target.clone());
            }
        }
        for source in sources {
            self.unit_mut(source).closed = true;
        }
    }

    fn establish(&mut self, new_unit: &NewUnit) {
        let state = UnitState {
            name: new_unit.name.clone(),
            category: new_unit.category,
            parent: new_unit.parent.clone(),
            quota: None,
            closed: false,
        };
        self.units.insert(new_unit.unit.clone(), state);
    }

    fn unit_mut(&mut self, unit: &UnitId) -> &mut UnitState {
        self.units.get_mut(unit).expect("validated: the unit exists")
    }

    fn staff_mut(&mut self, staff: &StaffId) -> &mut StaffState {
        self.staff.get_mut(staff).expect("validated: the staff member exists")
    }
}

/// Replays a sorted timeline, checking every event, through `through`
/// inclusive (or all of it). On the first invalid event, its seq and code.
fn replay(entries: &[Entry<'_>], through: Option<Date>) -> Result<State, (Seq, ReasonCode)> {
    debug_assert!(entries.windows(2).all(|w| (w[0].date, w[0].seq) < (w[1].date, w[1].seq)));
    let census = Census::of(entries);
    let mut state = State::default();
    for entry in entries.iter().filter(|entry| through.is_none_or(|d| entry.date <= d)) {
        state.check(entry.date, entry.event, &census).map_err(|code| (entry.seq, code))?;
        state.apply(entry.date, entry.event);
    }
    Ok(state)
}

fn sort_timeline(entries: &mut [Entry<'_>]) {
    entries.sort_by_key(|entry| (entry.date, entry.seq));
}

/// Decisions.
impl Model {
    /// An empty ledger.
    pub fn new() -> Model {
        Model::default()
    }

    /// Decides and records one event: `Ok` if accepted, else the reason.
    /// `seq` must be greater than every seq submitted before.
    pub fn submit(&mut self, seq: Seq, date: Date, event: &Event) -> Result<(), ReasonCode> {
        let outcome = self.decide(seq, date, event);
        self.last_seq = seq;
        self.states.borrow_mut().clear();
        match outcome {
            Ok(()) => {
                if let Event::EventRetracted { target, .. } = event {
                    let record = self.accepted.iter_mut().find(|r| r.seq == *target);
                    record.expect("decided: the target is accepted").retracted_by = Some(seq);
                }
                let record = Record { seq, date, event: event.clone(), retracted_by: None };
                self.accepted.push(record);
            }
            Err(_) => {
                self.rejected.insert(seq);
            }
        }
        outcome
    }

    /// What [`Model::submit`] would answer, without recording anything.
    pub fn decide(&self, seq: Seq, date: Date, event: &Event) -> Result<(), ReasonCode> {
        assert!(seq > self.last_seq, "seq {seq} after {}", self.last_seq);
        let mut entries = self.known_entries(None);
        if let Event::EventRetracted { target, .. } = event {
            self.check_retraction_target(*target)?;
            entries.retain(|entry| entry.seq != *target);
            return replay(&entries, None).map(|_| ()).map_err(|_| R::ConflictsWithLaterEvent);
        }
        // Rationale: an id used anywhere in the timeline makes the candidate
        // itself invalid; without this check the replay would blame whichever
        // of the two establishing events comes first.
        let used: BTreeSet<&UnitId> = entries.iter().flat_map(|entry| established_ids(entry.event)).collect();
        fail_if(established_ids(event).iter().any(|id| used.contains(id)), R::UnitIdAlreadyUsed)?;
        entries.push(Entry { seq, date, event });
        sort_timeline(&mut entries);
        match replay(&entries, None) {
            Ok(_) => Ok(()),
            Err((failed_seq, code)) if failed_seq == seq => Err(code),
            Err(_) => Err(R::ConflictsWithLaterEvent),
        }
    }

    fn check_retraction_target(&self, target: Seq) -> Result<(), ReasonCode> {
        let Some(record) = self.accepted.iter().find(|r| r.seq == target) else {
            let rejected = self.rejected.contains(&target);
            return Err(if rejected { R::RetractionTargetRejected } else { R::RetractionTargetUnknown });
        };
        fail_if(matches!(record.event, Event::EventRetracted { .. }), R::RetractionTargetIsRetraction)?;
        fail_if(record.retracted_by.is_some(), R::AlreadyRetracted)
    }

    /// The accepted, non-retracted, non-retraction events known at
    /// `known_at`, in timeline order.
    fn known_entries(&self, known_at: Option<Seq>) -> Vec<Entry<'_>> {
        let known = |seq: Seq| known_at.is_none_or(|k| seq <= k);
        let mut entries: Vec<Entry<'_>> = self
            .accepted
            .iter()
            .filter(|r| known(r.seq) && !matches!(r.event, Event::EventRetracted { .. }))
            .filter(|r| !r.retracted_by.is_some_and(known))
            .map(|r| Entry { seq: r.seq, date: r.date, event: &r.event })
            .collect();
        sort_timeline(&mut entries);
        entries
    }

    /// The state after every known event effective on or before `date`.
    fn state_on(&self, date: Date, known_at: Option<Seq>) -> Rc<State> {
        if let Some(state) = self.states.borrow().get(&(known_at, date)) {
            return Rc::clone(state);
        }
        let entries = self.known_entries(known_at);
        let state = Rc::new(replay(&entries, Some(date)).expect("a known timeline is valid"));
        self.states.borrow_mut().insert((known_at, date), Rc::clone(&state));
        state
    }
}

/// Queries, with the signatures of `muster_domain::Timeline`.
impl Model {
    /// Posted and working strength of one unit on one day.
    pub fn headcount(&self, unit: &UnitId, date: Date, known_at: Option<Seq>, rolled_up: bool) -> Headcount {
        let status = self.unit_status(unit, date, known_at);
        let (posted, working) = if status == UnitStatus::Active {
            let state = self.state_on(date, known_at);
            let units = if rolled_up { state.subtree(unit) } else { BTreeSet::from([unit.clone()]) };
            count_staff(&state, &units, date)
        } else {
            (0, 0)
        };
        Headcount { unit: unit.clone(), date, status, rolled_up, posted, working }
    }

    /// Every active unit on the day, depth first, siblings by id.
    pub fn tree(&self, date: Date, known_at: Option<Seq>) -> Vec<TreeNode> {
        let state = self.state_on(date, known_at);
        let mut nodes = Vec::new();
        for (unit, unit_state) in state.units.iter().filter(|(_, s)| !s.closed) {
            let parent_active = unit_state.parent.as_ref().is_some_and(|p| state.is_active(p));
            assert!(parent_active || unit_state.parent.is_none(), "{unit} under a closed unit");
            if unit_state.parent.is_none() {
                push_subtree(&state, unit, 0, date, &mut nodes);
            }
        }
        nodes
    }

    /// Active staff on the day whose home or working unit is `unit`, by id.
    pub fn roster(&self, unit: &UnitId, date: Date, known_at: Option<Seq>) -> Vec<RosterEntry> {
        let state = self.state_on(date, known_at);
        state
            .active_staff()
            .filter(|(_, s)| &s.home == unit || s.working_unit(date) == unit)
            .map(|(staff, s)| roster_entry(staff, s, date))
            .collect()
    }

    /// Every known event that named or changed the staff member, in
    /// timeline order, with where they stood after it.
    pub fn staff_history(&self, staff: &StaffId, known_at: Option<Seq>) -> Vec<HistoryEntry> {
        let entries = self.known_entries(known_at);
        let census = Census::of(&entries);
        let mut state = State::default();
        let mut history = Vec::new();
        for entry in &entries {
            state.check(entry.date, entry.event, &census).expect("a known timeline is valid");
            let before = state.staff.get(staff).cloned();
            state.apply(entry.date, entry.event);
            let after = state.staff.get(staff);
            let named = named_staff(entry.event).contains(&staff);
            if let Some(after) = after.filter(|after| named || before.as_ref() != Some(after)) {
                history.push(HistoryEntry {
                    seq: entry.seq,
                    date: entry.date,
                    kind: entry.event.kind(),
                    active: after.active,
                    home: after.home.clone(),
                    working: after.working_unit(entry.date).clone(),
                });
            }
        }
        history
    }

    /// The merger and split edges the unit came from and went into,
    /// transitively in each direction.
    pub fn lineage(&self, unit: &UnitId, known_at: Option<Seq>) -> Vec<LineageEdge> {
        let edges = lineage_edges(&self.known_entries(known_at));
        let mut found = BTreeSet::new();
        for forwards in [false, true] {
            let mut reached = BTreeSet::from([unit.clone()]);
            loop {
                let before = (found.len(), reached.len());
                for edge in &edges {
                    let (near, far) = if forwards { (&edge.from, &edge.to) } else { (&edge.to, &edge.from) };
                    if reached.contains(near) {
                        found.insert(edge.clone());
                        reached.insert(far.clone());
                    }
                }
                if (found.len(), reached.len()) == before {
                    break;
                }
            }
        }
        found.into_iter().collect()
    }

    /// A point at `from`, then one on every day whose status, counts or
    /// own quota differ from the day before, through `to`.
    pub fn series(
        &self,
        unit: &UnitId,
        from: Date,
        to: Date,
        known_at: Option<Seq>,
        rolled_up: bool,
    ) -> Vec<SeriesPoint> {
        let mut points: Vec<SeriesPoint> = Vec::new();
        let mut day = Some(from);
        while let Some(date) = day.filter(|date| *date <= to) {
            let h = self.headcount(unit, date, known_at, rolled_up);
            let quota = match h.status {
                UnitStatus::Active => self.state_on(date, known_at).units[unit].quota,
                _ => None,
            };
            let point = SeriesPoint { date, status: h.status, posted: h.posted, working: h.working, quota };
            let changed = points.last().is_none_or(|last| {
                (last.status, last.posted, last.working, last.quota)
                    != (point.status, point.posted, point.working, point.quota)
            });
            if changed {
                points.push(point);
            }
            day = date.next();
        }
        points
    }

    fn unit_status(&self, unit: &UnitId, date: Date, known_at: Option<Seq>) -> UnitStatus {
        let entries = self.known_entries(known_at);
        let established = entries.iter().find(|e| established_ids(e.event).contains(unit));
        let closed = entries.iter().find(|e| closed_ids(e.event).contains(&unit));
        match (established, closed) {
            (None, _) => UnitStatus::Unknown,
            (Some(established), _) if established.date > date => UnitStatus::NotYetEstablished,
            (Some(_), Some(closed)) if closed.date <= date => UnitStatus::Closed { on: closed.date },
            (Some(_), _) => UnitStatus::Active,
        }
    }
}

/// Helpers for the generator: where things stand, as the model sees them.
impl Model {
    /// The staff member's roster entry on the day, if active then.
    pub fn staff_on(&self, staff: &StaffId, date: Date, known_at: Option<Seq>) -> Option<RosterEntry> {
        let state = self.state_on(date, known_at);
        let staff_state = state.staff.get(staff).filter(|s| s.active)?;
        Some(roster_entry(staff, staff_state, date))
    }

    /// Unit ids established by an accepted, non-retracted event, at any date.
    pub fn unit_ids_in_use(&self) -> BTreeSet<UnitId> {
        let entries = self.known_entries(None);
        entries.iter().flat_map(|entry| established_ids(entry.event)).cloned().collect()
    }

    /// Seqs a retraction could name successfully as far as the target rules
    /// go (accepted, not a retraction, not retracted), oldest first.
    pub fn retractable_seqs(&self) -> Vec<Seq> {
        let mut seqs: Vec<Seq> = self.known_entries(None).iter().map(|entry| entry.seq).collect();
        seqs.sort_unstable();
        seqs
    }
}

fn count_staff(state: &State, units: &BTreeSet<UnitId>, date: Date) -> (u32, u32) {
    let posted = state.active_staff().filter(|(_, s)| units.contains(&s.home)).count();
    let working = state.active_staff().filter(|(_, s)| units.contains(s.working_unit(date))).count();
    (posted as u32, working as u32)
}

fn roster_entry(staff: &StaffId, state: &StaffState, date: Date) -> RosterEntry {
    RosterEntry {
        staff: staff.clone(),
        home: state.home.clone(),
        working: state.working_unit(date).clone(),
        seconded_until: state.secondment_on(date).and_then(|s| s.until),
    }
}

fn push_subtree(state: &State, unit: &UnitId, depth: u32, date: Date, nodes: &mut Vec<TreeNode>) {
    let unit_state = &state.units[unit];
    let (posted, working) = count_staff(state, &BTreeSet::from([unit.clone()]), date);
    let (rolled_posted, rolled_working) = count_staff(state, &state.subtree(unit), date);
    nodes.push(TreeNode {
        unit: unit.clone(),
        name: unit_state.name.as_str().into(),
        category: unit_state.category,
        parent: unit_state.parent.clone(),
        quota: unit_state.quota,
        depth,
        posted,
        working,
        rolled_posted,
        rolled_working,
    });
    for child in state.active_children(unit) {
        push_subtree(state, &child, depth + 1, date, nodes);
    }
}

fn lineage_edges(entries: &[Entry<'_>]) -> Vec<LineageEdge> {
    let mut edges = Vec::new();
    for entry in entries {
        let edge = |kind, from: &UnitId, to: &UnitId| LineageEdge {
            date: entry.date,
            seq: entry.seq,
            kind,
            from: from.clone(),
            to: to.clone(),
        };
        match entry.event {
            Event::UnitsMerged { sources, target } => {
                edges.extend(sources.iter().map(|s| edge(EventKind::UnitsMerged, s, target.unit())));
            }
            Event::UnitSplit { source, parts, .. } => {
                edges.extend(parts.iter().map(|p| edge(EventKind::UnitSplit, source, &p.unit)));
            }
            _ => {}
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Date {
        Date::parse(text).expect("a valid day")
    }

    fn unit(id: &str) -> UnitId {
        UnitId::from(id)
    }

    fn staff(id: &str) -> StaffId {
        StaffId::from(id)
    }

    fn established(id: &str, parent: Option<&str>) -> Event {
        Event::UnitEstablished {
            unit: unit(id),
            name: format!("unit {id}"),
            category: Category::Office,
            parent: parent.map(unit),
            quota: None,
        }
    }

    fn joined(who: &str, at: &str) -> Event {
        Event::StaffJoined { staff: staff(who), unit: unit(at) }
    }

    fn transferred(who: &str, from: &str, to: &str) -> Event {
        Event::StaffTransferred { staff: staff(who), from: unit(from), to: unit(to) }
    }

    fn seconded(who: &str, from: &str, to: &str, until: Option<&str>) -> Event {
        Event::StaffSeconded { staff: staff(who), from: unit(from), to: unit(to), until: until.map(day) }
    }

    fn new_unit(id: &str, parent: Option<&str>) -> NewUnit {
        NewUnit { unit: unit(id), name: format!("unit {id}"), category: Category::FrontLine, parent: parent.map(unit) }
    }

    fn allocated<T>(item: T, part: &str) -> Allocation<T> {
        Allocation { item, part: unit(part) }
    }

    /// A model holding `events`, all accepted, with seqs 1, 2, …
    struct Given {
        model: Model,
        next_seq: Seq,
    }

    fn given(events: &[(&str, Event)]) -> Given {
        let mut given = Given { model: Model::new(), next_seq: 1 };
        for (date, event) in events {
            let seq = given.next_seq;
            assert_eq!(given.when(date, event), Ok(()), "given #{seq} {date} {event:?}");
        }
        given
    }

    impl Given {
        fn when(&mut self, date: &str, event: &Event) -> Result<(), ReasonCode> {
            self.next_seq += 1;
            self.model.submit(self.next_seq - 1, day(date), event)
        }

        fn home_and_working(&self, who: &str, date: &str) -> Option<(UnitId, UnitId)> {
            let entry = self.model.staff_on(&staff(who), day(date), None)?;
            Some((entry.home, entry.working))
        }
    }

    fn three_units_and_one_member() -> Vec<(&'static str, Event)> {
        vec![
            ("2015-01-01", established("U0", None)),
            ("2015-01-01", established("U1", None)),
            ("2015-01-01", established("U2", None)),
            ("2015-01-01", joined("S0", "U0")),
        ]
    }

    #[test]
    fn backdated_transfer_that_breaks_a_later_transfer_is_a_conflict() {
        let mut events = three_units_and_one_member();
        events.push(("2015-01-10", transferred("S0", "U0", "U1")));
        let mut given = given(&events);
        // Valid on 01-05, but on 01-10 S0 would be home at U2, not U0.
        assert_eq!(given.when("2015-01-05", &transferred("S0", "U0", "U2")), Err(R::ConflictsWithLaterEvent));
        // Invalid at its own place: the rule's own code.
        assert_eq!(given.when("2015-01-05", &transferred("S0", "U1", "U2")), Err(R::StaffNotInUnit));
        // Compatible with what follows: accepted, and rejected events changed nothing.
        assert_eq!(given.when("2015-01-12", &transferred("S0", "U1", "U2")), Ok(()));
        assert_eq!(given.home_and_working("S0", "2015-01-05"), Some((unit("U0"), unit("U0"))));
        assert_eq!(given.home_and_working("S0", "2015-01-11"), Some((unit("U1"), unit("U1"))));
        assert_eq!(given.home_and_working("S0", "2015-01-12"), Some((unit("U2"), unit("U2"))));
    }

    #[test]
    fn backdated_join_before_a_later_leave_and_rejoin_is_checked_at_its_place() {
        let mut events = three_units_and_one_member();
        events.push(("2015-01-10", Event::StaffLeft { staff: staff("S0"), reason: "resigned".into() }));
        let mut given = given(&events);
        assert_eq!(given.when("2015-01-05", &joined("S0", "U1")), Err(R::StaffAlreadyActive));
        assert_eq!(given.when("2015-01-11", &joined("S0", "U1")), Ok(()));
        assert_eq!(given.home_and_working("S0", "2015-01-10"), None);
        assert_eq!(given.home_and_working("S0", "2015-01-11"), Some((unit("U1"), unit("U1"))));
    }

    #[test]
    fn merge_moves_staff_secondees_and_children_and_closes_the_sources() {
        let given = given(&[
            ("2015-01-01", established("A", None)),
            ("2015-01-01", established("B", None)),
            ("2015-01-01", established("C", Some("A"))),
            ("2015-01-01", established("D", None)),
            ("2015-01-01", joined("S0", "A")),
            ("2015-01-01", joined("S1", "B")),
            ("2015-01-01", joined("S2", "D")),
            ("2015-01-02", seconded("S1", "B", "A", None)),
            ("2015-01-02", seconded("S2", "D", "B", Some("2015-02-01"))),
            (
                "2015-01-05",
                Event::UnitsMerged {
                    sources: vec![unit("A"), unit("B")],
                    target: MergeTarget::New(new_unit("N", None)),
                },
            ),
        ]);
        let model = &given.model;
        let on = day("2015-01-05");
        assert_eq!(model.headcount(&unit("A"), on, None, false).status, UnitStatus::Closed { on });
        assert_eq!(model.headcount(&unit("A"), day("2015-01-04"), None, false).posted, 1);
        // S1's home and host both became N, so the secondment ended.
        assert_eq!(given.home_and_working("S0", "2015-01-05"), Some((unit("N"), unit("N"))));
        assert_eq!(given.home_and_working("S1", "2015-01-05"), Some((unit("N"), unit("N"))));
        assert_eq!(given.home_and_working("S2", "2015-01-05"), Some((unit("D"), unit("N"))));
        let roster = model.roster(&unit("N"), on, None);
        assert_eq!(roster.iter().map(|e| e.staff.as_str()).collect::<Vec<_>>(), ["S0", "S1", "S2"]);
        assert_eq!(roster[2].seconded_until, Some(day("2015-02-01")));
        let tree: Vec<(String, Option<UnitId>, u32)> =
            model.tree(on, None).into_iter().map(|n| (n.unit.0.to_string(), n.parent, n.depth)).collect();
        assert_eq!(tree, [("D".into(), None, 0), ("N".into(), None, 0), ("C".into(), Some(unit("N")), 1)]);
        let history = model.staff_history(&staff("S1"), None);
        assert_eq!(
            history.iter().map(|h| h.kind).collect::<Vec<_>>(),
            [EventKind::StaffJoined, EventKind::StaffSeconded, EventKind::UnitsMerged]
        );
        let lineage = model.lineage(&unit("A"), None);
        assert_eq!(lineage.len(), 1, "A went into N; B → N is not reachable from A");
    }

    #[test]
    fn merge_target_inside_the_sources_is_rejected() {
        let mut given = given(&[("2015-01-01", established("A", None)), ("2015-01-01", established("C", Some("A")))]);
        let into_child = Event::UnitsMerged { sources: vec![unit("A")], target: MergeTarget::Existing(unit("C")) };
        assert_eq!(given.when("2015-01-02", &into_child), Err(R::MergeTargetInsideSources));
        let twice =
            Event::UnitsMerged { sources: vec![unit("A"), unit("A")], target: MergeTarget::New(new_unit("N", None)) };
        assert_eq!(given.when("2015-01-02", &twice), Err(R::DuplicateUnitInEvent));
    }

    #[test]
    fn secondment_with_until_ends_the_day_after() {
        let mut events = three_units_and_one_member();
        events.push(("2015-01-02", seconded("S0", "U0", "U1", Some("2015-01-10"))));
        let mut given = given(&events);
        assert_eq!(given.home_and_working("S0", "2015-01-10"), Some((unit("U0"), unit("U1"))));
        assert_eq!(given.home_and_working("S0", "2015-01-11"), Some((unit("U0"), unit("U0"))));
        let until = given.model.roster(&unit("U1"), day("2015-01-10"), None)[0].seconded_until;
        assert_eq!(until, Some(day("2015-01-10")));
        assert_eq!(given.when("2015-01-11", &Event::SecondmentEnded { staff: staff("S0") }), Err(R::NotSeconded));
        assert_eq!(given.when("2015-01-10", &seconded("S0", "U0", "U2", None)), Err(R::AlreadySeconded));
        assert_eq!(
            given.when("2015-01-11", &seconded("S0", "U0", "U2", Some("2015-01-10"))),
            Err(R::UntilBeforeEffectiveDate)
        );
        assert_eq!(given.when("2015-01-11", &seconded("S0", "U0", "U2", Some("2015-01-11"))), Ok(()));
        // Transferring to the host ends the secondment.
        assert_eq!(given.when("2015-01-11", &transferred("S0", "U0", "U2")), Ok(()));
        assert_eq!(given.home_and_working("S0", "2015-01-11"), Some((unit("U2"), unit("U2"))));
    }

    #[test]
    fn retraction_that_would_strand_a_later_event_is_a_conflict() {
        let mut events = three_units_and_one_member();
        events.push(("2015-01-10", transferred("S0", "U0", "U1")));
        let mut given = given(&events);
        // Rejected, as seq 6.
        assert_eq!(given.when("2015-01-20", &transferred("S0", "U1", "U1")), Err(R::SameUnit));
        let retract = |target: Seq| Event::EventRetracted { target, reason: "keyed in error".into() };
        // The join (seq 4) is needed by the transfer (seq 5).
        assert_eq!(given.when("2015-01-01", &retract(4)), Err(R::ConflictsWithLaterEvent));
        assert_eq!(given.when("2015-01-01", &retract(6)), Err(R::RetractionTargetRejected));
        assert_eq!(given.when("2015-01-01", &retract(99)), Err(R::RetractionTargetUnknown));
        assert_eq!(given.when("2015-01-01", &retract(5)), Ok(())); // seq 10
        assert_eq!(given.when("2015-01-01", &retract(5)), Err(R::AlreadyRetracted));
        assert_eq!(given.when("2015-01-01", &retract(10)), Err(R::RetractionTargetIsRetraction));
        assert_eq!(given.home_and_working("S0", "2015-01-20"), Some((unit("U0"), unit("U0"))));
        // As known before the retraction, the transfer stands.
        let then = given.model.roster(&unit("U1"), day("2015-01-20"), Some(9));
        assert_eq!(then.len(), 1);
        assert_eq!(given.when("2015-01-01", &retract(4)), Ok(()));
        assert!(given.model.staff_history(&staff("S0"), None).is_empty());
        assert_eq!(given.model.staff_history(&staff("S0"), Some(9)).len(), 2);
    }

    #[test]
    fn split_needs_an_exact_allocation() {
        let mut given = given(&[
            ("2015-01-01", established("A", None)),
            ("2015-01-01", established("C", Some("A"))),
            ("2015-01-01", established("D", None)),
            ("2015-01-01", joined("S0", "A")),
            ("2015-01-01", joined("S1", "D")),
            ("2015-01-02", seconded("S1", "D", "A", None)),
        ]);
        let split = |posted: Vec<Allocation<StaffId>>| Event::UnitSplit {
            source: unit("A"),
            parts: vec![new_unit("P", None), new_unit("Q", Some("D"))],
            posted,
            seconded: vec![allocated(staff("S1"), "Q")],
            children: vec![allocated(unit("C"), "Q")],
        };
        assert_eq!(given.when("2015-01-03", &split(vec![])), Err(R::SplitAllocationIncomplete));
        let twice = vec![allocated(staff("S0"), "P"), allocated(staff("S0"), "Q")];
        assert_eq!(given.when("2015-01-03", &split(twice)), Err(R::SplitAllocationExtra));
        let outsider = vec![allocated(staff("S0"), "P"), allocated(staff("S1"), "P")];
        assert_eq!(given.when("2015-01-03", &split(outsider)), Err(R::SplitAllocationExtra));
        assert_eq!(
            given.when("2015-01-03", &split(vec![allocated(staff("S0"), "A")])),
            Err(R::SplitAllocationUnknownPart)
        );
        assert_eq!(given.when("2015-01-03", &split(vec![allocated(staff("S0"), "P")])), Ok(()));
        assert_eq!(given.home_and_working("S0", "2015-01-03"), Some((unit("P"), unit("P"))));
        assert_eq!(given.home_and_working("S1", "2015-01-03"), Some((unit("D"), unit("Q"))));
        let tree = given.model.tree(day("2015-01-03"), None);
        let order: Vec<&str> = tree.iter().map(|n| n.unit.as_str()).collect();
        assert_eq!(order, ["D", "Q", "C", "P"]);
        assert_eq!((tree[0].rolled_posted, tree[0].rolled_working), (1, 1));
        assert_eq!(given.model.headcount(&unit("D"), day("2015-01-03"), None, true).working, 1);
        assert_eq!(given.model.lineage(&unit("P"), None).len(), 1);
    }

    #[test]
    fn unit_ids_are_never_reused_even_by_a_backdated_event() {
        let mut given = given(&[("2015-01-10", established("A", None))]);
        assert_eq!(given.when("2015-01-01", &established("A", None)), Err(R::UnitIdAlreadyUsed));
        let status = given.model.headcount(&unit("A"), day("2015-01-09"), None, false).status;
        assert_eq!(status, UnitStatus::NotYetEstablished);
        assert_eq!(given.model.headcount(&unit("Z"), day("2015-01-09"), None, false).status, UnitStatus::Unknown);
    }

    #[test]
    fn series_has_a_point_at_the_start_and_at_every_change() {
        let mut events = three_units_and_one_member();
        events.push(("2015-01-05", seconded("S0", "U0", "U1", Some("2015-01-06"))));
        events.push(("2015-01-08", Event::UnitDissolved { unit: unit("U1") }));
        let given = given(&events);
        let series = given.model.series(&unit("U1"), day("2014-12-31"), day("2015-01-09"), None, false);
        let points: Vec<(Date, UnitStatus, u32)> = series.iter().map(|p| (p.date, p.status, p.working)).collect();
        assert_eq!(
            points,
            [
                (day("2014-12-31"), UnitStatus::NotYetEstablished, 0),
                (day("2015-01-01"), UnitStatus::Active, 0),
                (day("2015-01-05"), UnitStatus::Active, 1),
                (day("2015-01-07"), UnitStatus::Active, 0),
                (day("2015-01-08"), UnitStatus::Closed { on: day("2015-01-08") }, 0),
            ]
        );
    }
}
