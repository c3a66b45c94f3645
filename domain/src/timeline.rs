//! The timeline's state and indexes, and evolution: [`Timeline::apply`].
//!
//! Everything here is derived from the accepted events alone, in the
//! order the ledger accepted them, so a replica that applies the same
//! decisions holds the same bytes.

use crate::counts::{CountIndex, CountPair};
use crate::history::{History, Mark, Pos, Step};
use crate::{Category, Date, Seq};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Interned unit index. Rationale: 50k units and 1M staff referenced by
/// 10M events are cheaper as `u32` than as strings, and order of first
/// appearance in the ledger makes the numbering deterministic.
pub(crate) type UnitIx = u32;
/// Interned staff index.
pub(crate) type StaffIx = u32;

#[derive(Default, Clone, Debug)]
pub(crate) struct Interner {
    ids: Vec<Arc<str>>,
    /// Lookup only; never iterated, so its order cannot leak into results.
    /// Keyed by the same shared text as `ids` (one allocation per id).
    index: HashMap<Arc<str>, u32>,
}

impl Interner {
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub fn name(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }

    /// The id, shared (no allocation).
    pub fn shared(&self, i: u32) -> Arc<str> {
        self.ids[i as usize].clone()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(i) = self.get(id) {
            return i;
        }
        let i = u32::try_from(self.ids.len()).expect("more than u32::MAX ids");
        let id: Arc<str> = id.into();
        self.ids.push(id.clone());
        self.index.insert(id, i);
        i
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Secondment {
    pub host: UnitIx,
    pub until: Option<Date>,
}

/// A staff member's state after an event. `home` is kept after leaving,
/// for history listings; an inactive member counts nowhere.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct StaffState {
    pub active: bool,
    pub home: UnitIx,
    pub secondment: Option<Secondment>,
}

impl StaffState {
    /// The same state on `date`: a secondment whose `until` has passed is
    /// gone (the member works at home again from until + 1).
    pub fn on(&self, date: Date) -> StaffState {
        let mut state = self.clone();
        if state.seconded_on(date).is_none() {
            state.secondment = None;
        }
        state
    }

    pub fn seconded_on(&self, date: Date) -> Option<&Secondment> {
        self.secondment.as_ref().filter(|s| s.until.is_none_or(|until| date <= until))
    }

    pub fn working_on(&self, date: Date) -> UnitIx {
        self.seconded_on(date).map_or(self.home, |s| s.host)
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct UnitState {
    pub name: Arc<str>,
    pub category: Category,
    pub parent: Option<UnitIx>,
    pub quota: Option<u32>,
    pub open: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct InternedNewUnit {
    pub unit: UnitIx,
    pub name: Arc<str>,
    pub category: Category,
    pub parent: Option<UnitIx>,
}

impl InternedNewUnit {
    pub fn state(&self) -> UnitState {
        UnitState { name: self.name.clone(), category: self.category, parent: self.parent, quota: None, open: true }
    }
}

/// A unit established (boxed in [`Interned`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct InternedEstablished {
    pub unit: UnitIx,
    pub name: Arc<str>,
    pub category: Category,
    pub parent: Option<UnitIx>,
    pub quota: Option<u32>,
}

/// Units merged (boxed in [`Interned`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct InternedMerge {
    pub sources: Box<[UnitIx]>,
    pub target: UnitIx,
    pub new_target: Option<InternedNewUnit>,
}

/// A unit split (boxed in [`Interned`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct InternedSplit {
    pub source: UnitIx,
    pub parts: Box<[InternedNewUnit]>,
    pub posted: Box<[(StaffIx, UnitIx)]>,
    pub seconded: Box<[(StaffIx, UnitIx)]>,
    pub children: Box<[(UnitIx, UnitIx)]>,
}

/// An event with its ids interned: what the timeline stores and replays.
///
/// Rationale for the boxes: one is kept per accepted event (10M in the
/// benchmark), almost all of them staff events of 20 bytes; unboxed, the
/// rare structural variants made every one 72 bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Interned {
    UnitEstablished(Box<InternedEstablished>),
    UnitRenamed { unit: UnitIx, name: Arc<str> },
    UnitMoved { unit: UnitIx, parent: Option<UnitIx> },
    UnitReclassified { unit: UnitIx, category: Category },
    UnitQuotaSet { unit: UnitIx, quota: u32 },
    UnitsMerged(Box<InternedMerge>),
    UnitSplit(Box<InternedSplit>),
    UnitDissolved { unit: UnitIx },
    StaffJoined { staff: StaffIx, unit: UnitIx },
    StaffTransferred { staff: StaffIx, from: UnitIx, to: UnitIx },
    StaffSeconded { staff: StaffIx, from: UnitIx, to: UnitIx, until: Option<Date> },
    SecondmentEnded { staff: StaffIx },
    StaffLeft { staff: StaffIx },
    EventRetracted { target: Seq },
}

impl Interned {
    pub fn kind(&self) -> crate::EventKind {
        use crate::EventKind;
        match self {
            Interned::UnitEstablished(_) => EventKind::UnitEstablished,
            Interned::UnitRenamed { .. } => EventKind::UnitRenamed,
            Interned::UnitMoved { .. } => EventKind::UnitMoved,
            Interned::UnitReclassified { .. } => EventKind::UnitReclassified,
            Interned::UnitQuotaSet { .. } => EventKind::UnitQuotaSet,
            Interned::UnitsMerged(_) => EventKind::UnitsMerged,
            Interned::UnitSplit(_) => EventKind::UnitSplit,
            Interned::UnitDissolved { .. } => EventKind::UnitDissolved,
            Interned::StaffJoined { .. } => EventKind::StaffJoined,
            Interned::StaffTransferred { .. } => EventKind::StaffTransferred,
            Interned::StaffSeconded { .. } => EventKind::StaffSeconded,
            Interned::SecondmentEnded { .. } => EventKind::SecondmentEnded,
            Interned::StaffLeft { .. } => EventKind::StaffLeft,
            Interned::EventRetracted { .. } => EventKind::EventRetracted,
        }
    }

    /// Units whose members this event may move or close: a merger's
    /// sources, a split's source, a dissolved unit.
    pub fn structural_units(&self) -> &[UnitIx] {
        match self {
            Interned::UnitsMerged(merged) => &merged.sources,
            Interned::UnitSplit(split) => std::slice::from_ref(&split.source),
            Interned::UnitDissolved { unit } => std::slice::from_ref(unit),
            _ => &[],
        }
    }

    /// The lineage edges (from, to) this event draws.
    pub fn lineage_edges(&self) -> Vec<(UnitIx, UnitIx)> {
        match self {
            Interned::UnitsMerged(merged) => merged.sources.iter().map(|s| (*s, merged.target)).collect(),
            Interned::UnitSplit(split) => split.parts.iter().map(|p| (split.source, p.unit)).collect(),
            _ => Vec::new(),
        }
    }

    /// Every index entry this event needs, so that a backdated change to
    /// any entity finds the later events that read or write it.
    pub fn for_each_ref(&self, mut f: impl FnMut(Ref)) {
        match self {
            Interned::UnitEstablished(established) => {
                let InternedEstablished { unit, parent, .. } = &**established;
                f(Ref::UnitOwn(*unit));
                parent.iter().for_each(|p| f(Ref::UnitRead(*p)));
            }
            Interned::UnitRenamed { unit, .. }
            | Interned::UnitReclassified { unit, .. }
            | Interned::UnitQuotaSet { unit, .. } => f(Ref::UnitOwn(*unit)),
            Interned::UnitMoved { unit, parent } => {
                f(Ref::UnitOwn(*unit));
                parent.iter().for_each(|p| f(Ref::UnitRead(*p)));
                f(Ref::Tree);
            }
            Interned::UnitsMerged(merged) => {
                let InternedMerge { sources, target, new_target } = &**merged;
                for source in sources.iter() {
                    f(Ref::UnitOwn(*source));
                    f(Ref::UnitStructural(*source));
                }
                match new_target {
                    Some(new_target) => {
                        f(Ref::UnitOwn(*target));
                        new_target.parent.iter().for_each(|p| f(Ref::UnitRead(*p)));
                    }
                    None => f(Ref::UnitRead(*target)),
                }
                f(Ref::Tree);
            }
            Interned::UnitSplit(split) => {
                let InternedSplit { source, parts, posted, seconded, children } = &**split;
                f(Ref::UnitOwn(*source));
                f(Ref::UnitStructural(*source));
                for part in parts.iter() {
                    f(Ref::UnitOwn(part.unit));
                    part.parent.iter().for_each(|p| f(Ref::UnitRead(*p)));
                }
                posted.iter().chain(seconded.iter()).for_each(|(staff, _)| f(Ref::Staff(*staff)));
                children.iter().for_each(|(child, _)| f(Ref::UnitOwn(*child)));
                f(Ref::Tree);
            }
            Interned::UnitDissolved { unit } => {
                f(Ref::UnitOwn(*unit));
                f(Ref::UnitStructural(*unit));
            }
            Interned::StaffJoined { staff, unit } => {
                f(Ref::Staff(*staff));
                f(Ref::UnitRead(*unit));
            }
            Interned::StaffTransferred { staff, from, to } | Interned::StaffSeconded { staff, from, to, .. } => {
                f(Ref::Staff(*staff));
                f(Ref::UnitRead(*from));
                f(Ref::UnitRead(*to));
            }
            Interned::SecondmentEnded { staff } | Interned::StaffLeft { staff } => f(Ref::Staff(*staff)),
            Interned::EventRetracted { .. } => {}
        }
    }

    /// Whether this event names `unit` in any role (changed, read as a
    /// parent, a transfer's end, a merger's source or target…).
    pub fn names_unit(&self, unit: UnitIx) -> bool {
        let mut named = false;
        self.for_each_ref(|r| {
            named |= matches!(r, Ref::UnitOwn(u) | Ref::UnitRead(u) | Ref::UnitStructural(u) if u == unit);
        });
        named
    }

    /// The units whose own state (parent, days active, name…) this event
    /// writes.
    pub fn own_units(&self) -> Vec<UnitIx> {
        let mut own = Vec::new();
        self.for_each_ref(|r| {
            if let Ref::UnitOwn(u) = r {
                own.push(u);
            }
        });
        own
    }
}

/// Which index an event is listed in.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Ref {
    /// Names this staff member (their own events, split allocations); not
    /// indexed: the member's history has a step at each such event.
    Staff(StaffIx),
    /// Changes or validates this unit itself: re-checked whenever the unit
    /// changes.
    UnitOwn(UnitIx),
    /// Only reads whether this unit is active: re-checked when the unit's
    /// active days or place in the tree change.
    UnitRead(UnitIx),
    /// Moves the members of this unit (merger, split, dissolution).
    UnitStructural(UnitIx),
    /// Checks the tree (cycles, "below one of the sources").
    Tree,
}

/// A vector in chunks of [`CHUNK_ITEMS`], each allocated whole.
/// Rationale: one staff record per member (a million in the benchmark); a
/// doubling `Vec` held up to twice that and copied them all on each growth.
#[derive(Clone, Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK_ITEMS)?.get(i % CHUNK_ITEMS)
    }

    pub fn push(&mut self, item: T) {
        if self.len.is_multiple_of(CHUNK_ITEMS) {
            self.chunks.push(Vec::with_capacity(CHUNK_ITEMS));
        }
        self.chunks.last_mut().expect("a chunk with room").push(item);
        self.len += 1;
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// The chunks' bytes (their own, not what the items point to).
    pub fn heap_bytes(&self) -> usize {
        self.chunks.len() * CHUNK_ITEMS * std::mem::size_of::<T>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK_ITEMS][i % CHUNK_ITEMS]
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK_ITEMS][i % CHUNK_ITEMS]
    }
}

/// Records by sequence: a [`Chunked`] vector. Rationale: there is one per
/// ledger entry, and one growing `Vec` doubles: at 10M entries it held
/// 16.7M slots (768 MiB for 480 of records) and copied all of them, old
/// and new side by side, on each doubling.
#[derive(Default, Clone, Debug)]
pub(crate) struct Records(Chunked<Option<Record>>);

/// Items per chunk of a [`Chunked`] vector.
const CHUNK_ITEMS: usize = 1 << 16;

impl Records {
    pub fn get(&self, seq: Seq) -> Option<&Record> {
        self.0.get(usize::try_from(seq).ok()?)?.as_ref()
    }

    /// The slot of `seq`, made if it does not exist yet.
    pub fn slot(&mut self, seq: Seq) -> &mut Option<Record> {
        let i = usize::try_from(seq).expect("a sequence fits in memory");
        while self.0.len() <= i {
            self.0.push(None);
        }
        &mut self.0[i]
    }

    pub fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// An accepted event as the timeline keeps it, one per sequence: its
/// sequence is where it is kept, so only its date is stored.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub date: Date,
    /// The retraction's sequence. Rationale: sequences start at 1, so
    /// `NonZeroU32` keeps the option in 4 bytes (one record per event).
    retracted_by: Option<std::num::NonZeroU32>,
    pub ev: Interned,
}

impl Record {
    /// Its place, given its sequence.
    pub fn pos(&self, seq: Seq) -> Pos {
        Pos { date: self.date, seq }
    }

    pub fn retracted_by(&self) -> Option<Seq> {
        self.retracted_by.map(|r| Seq::from(r.get()))
    }

    /// Whether entry `seq`, this record, is in force as known at `known_at`.
    pub fn visible_at(&self, seq: Seq, known_at: Option<Seq>) -> bool {
        let k = known_at.unwrap_or(Seq::MAX);
        seq <= k && self.retracted_by().is_none_or(|r| r > k)
    }
}

/// A set of interned ids as a sorted vector. Rationale: 4 bytes an id,
/// where a `BTreeSet<u32>` spends 8–16; inserts are rare next to reads
/// (a member's first posting to a unit) and the sets are small.
#[derive(Default, Clone, Debug)]
pub(crate) struct SortedSet(Vec<u32>);

impl SortedSet {
    pub fn insert(&mut self, id: u32) {
        if let Err(i) = self.0.binary_search(&id) {
            self.0.insert(i, id);
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, u32> {
        self.0.iter()
    }

    pub fn contains(&self, id: u32) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<u32>()
    }
}

impl<'a> IntoIterator for &'a SortedSet {
    type Item = &'a u32;
    type IntoIter = std::slice::Iter<'a, u32>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[derive(Default, Clone, Debug)]
pub(crate) struct UnitRecord {
    pub history: History<UnitState>,
    pub own_refs: Vec<Mark>,
    pub read_refs: Vec<Mark>,
    pub structural_refs: Vec<Mark>,
    pub counts: CountIndex,
    /// Every unit that ever (in any version) had this one as parent.
    pub children_ever: SortedSet,
    /// Every staff member ever (in any version) posted or seconded here.
    pub staff_ever: SortedSet,
    /// Mergers and splits this unit took part in, by seq.
    pub lineage: Vec<Seq>,
}

#[derive(Default, Clone, Debug)]
pub(crate) struct StaffRecord {
    /// Also the index of the events that name the member: each writes a
    /// step at its place (see `Sim::dirty_staff`).
    pub history: History<StaffState>,
}

/// The staffing timeline: every accepted event, the state it implies for
/// every unit and staff member on every day, and the indexes that answer
/// queries without replaying.
///
/// ```
/// use muster_domain::{Category, Date, Event, Timeline, UnitId, StaffId};
/// let mut timeline = Timeline::new();
/// let day = Date::parse("2015-09-01").unwrap();
/// let events = [
///     Event::UnitEstablished { unit: "U1".into(), name: "Office".into(),
///         category: Category::Office, parent: None, quota: Some(3) },
///     Event::StaffJoined { staff: "S1".into(), unit: "U1".into() },
/// ];
/// for (i, event) in events.iter().enumerate() {
///     let decision = timeline.decide(i as u64 + 1, day, event).unwrap();
///     timeline.apply(decision);
/// }
/// let count = timeline.headcount(&UnitId::from("U1"), day, None, false);
/// assert_eq!(count.posted, 1);
/// ```
#[derive(Clone, Debug)]
pub struct Timeline {
    pub(crate) unit_ids: Interner,
    pub(crate) staff_ids: Interner,
    pub(crate) units: Vec<UnitRecord>,
    pub(crate) staff: Chunked<StaffRecord>,
    /// Indexed by seq; `None` for rejected (or not yet seen) sequences.
    pub(crate) events: Records,
    pub(crate) tree_refs: BTreeSet<Mark>,
    pub(crate) last_seq: Seq,
    /// False for a timeline kept for decisions only ([`Timeline::for_decisions`]).
    pub(crate) keeps_counts: bool,
}

/// A validated event with everything it changes, ready for
/// [`Timeline::apply`]. Only [`Timeline::decide`] makes one.
#[derive(Debug)]
pub struct Decision {
    pub(crate) pos: Pos,
    pub(crate) ev: Interned,
    pub(crate) base_last_seq: Seq,
    pub(crate) new_unit_ids: Vec<String>,
    pub(crate) new_staff_ids: Vec<String>,
    pub(crate) staff: BTreeMap<StaffIx, Overlay<StaffState>>,
    pub(crate) units: BTreeMap<UnitIx, Overlay<UnitState>>,
}

impl Decision {
    /// The sequence the event is accepted under.
    pub fn seq(&self) -> Seq {
        self.pos.seq
    }
}

/// An entity's new history from `from` on.
#[derive(Clone, Debug)]
pub(crate) struct Overlay<T> {
    pub from: Pos,
    pub base_before: Option<T>,
    pub steps: Vec<(Pos, T)>,
    /// For units: whether this rewrite changes days active or the parent,
    /// so that events that only read the unit must be re-checked.
    pub structure_changed: bool,
}

fn insert_sorted(refs: &mut Vec<Mark>, pos: Mark) {
    // Most events are the latest of what they name: an append, no search.
    let i = match refs.last() {
        Some(last) if *last < pos => refs.len(),
        None => 0,
        Some(_) => refs.partition_point(|p| *p < pos),
    };
    debug_assert!(refs.get(i) != Some(&pos));
    crate::history::reserve_gently(refs, 1);
    refs.insert(i, pos);
}

fn remove_sorted(refs: &mut Vec<Mark>, pos: Mark) {
    if let Ok(i) = refs.binary_search(&pos) {
        refs.remove(i);
    }
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline {
            unit_ids: Interner::default(),
            staff_ids: Interner::default(),
            units: Vec::new(),
            staff: Chunked::default(),
            events: Records::default(),
            tree_refs: BTreeSet::new(),
            last_seq: 0,
            keeps_counts: true,
        }
    }
}

impl Timeline {
    /// An empty timeline that answers every query.
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// An empty timeline that keeps only what [`Timeline::decide`] reads:
    /// no headcount index. Rationale: the ledger service decides and
    /// appends but answers no headcount (query replicas do); the index is
    /// the largest part of the timeline's memory and of the work of
    /// applying a staff event. Its decisions are the same as a full
    /// timeline's (`tests/tests/model_equivalence.rs`); a headcount, tree,
    /// series or audit asked of it panics.
    pub fn for_decisions() -> Timeline {
        Timeline { keeps_counts: false, ..Timeline::default() }
    }

    /// Whether it answers headcount queries (false: [`Timeline::for_decisions`]).
    pub fn keeps_counts(&self) -> bool {
        self.keeps_counts
    }

    /// The highest sequence applied so far (0 if none).
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    pub(crate) fn record(&self, seq: Seq) -> Option<&Record> {
        self.events.get(seq)
    }

    pub(crate) fn unit_history(&self, unit: UnitIx) -> Option<&History<UnitState>> {
        self.units.get(unit as usize).map(|u| &u.history)
    }

    pub(crate) fn staff_history_of(&self, staff: StaffIx) -> Option<&History<StaffState>> {
        self.staff.get(staff as usize).map(|s| &s.history)
    }

    fn for_each_index<'a>(
        &'a mut self,
        ev: &Interned,
        mut f: impl FnMut(&mut Vec<Mark>),
    ) -> Option<&'a mut BTreeSet<Mark>> {
        // One event can name a unit twice in one role (two split parts
        // under one parent); each index lists it once.
        let mut refs = Vec::new();
        ev.for_each_ref(|r| refs.push(r));
        refs.sort_unstable();
        refs.dedup();
        let mut tree = false;
        refs.into_iter().for_each(|r| match r {
            // Found through the member's history steps instead.
            Ref::Staff(_) => {}
            Ref::UnitOwn(u) => f(&mut self.units[u as usize].own_refs),
            Ref::UnitRead(u) => f(&mut self.units[u as usize].read_refs),
            Ref::UnitStructural(u) => f(&mut self.units[u as usize].structural_refs),
            Ref::Tree => tree = true,
        });
        tree.then_some(&mut self.tree_refs)
    }

    /// Evolution: records a decided event and the histories it rewrote.
    /// No business logic here; every check happened in `decide`.
    pub fn apply(&mut self, decision: Decision) {
        let Decision { pos, ev, base_last_seq, new_unit_ids, new_staff_ids, staff, units } = decision;
        assert_eq!(base_last_seq, self.last_seq, "a decision applied to another timeline than it was decided on");
        assert!(pos.seq > self.last_seq, "sequence {} not after {}", pos.seq, self.last_seq);
        for id in &new_unit_ids {
            let i = self.unit_ids.intern(id);
            assert_eq!(i as usize, self.units.len());
            self.units.push(UnitRecord::default());
        }
        for id in &new_staff_ids {
            let i = self.staff_ids.intern(id);
            assert_eq!(i as usize, self.staff.len());
            self.staff.push(StaffRecord::default());
        }
        if let Interned::EventRetracted { target } = ev {
            let record = self.events.slot(target).take().expect("retraction of an unknown event");
            let mark = Mark::of(record.pos(target));
            if let Some(tree) = self.for_each_index(&record.ev, |refs| remove_sorted(refs, mark)) {
                tree.remove(&mark);
            }
            *self.events.slot(target) = Some(Record {
                retracted_by: Some(
                    std::num::NonZeroU32::new(crate::history::tx(pos.seq)).expect("sequences start at 1"),
                ),
                ..record
            });
        } else {
            let mark = Mark::of(pos);
            if let Some(tree) = self.for_each_index(&ev, |refs| insert_sorted(refs, mark)) {
                tree.insert(mark);
            }
            let mut lineage_units: Vec<UnitIx> = ev.lineage_edges().into_iter().flat_map(|(a, b)| [a, b]).collect();
            lineage_units.sort_unstable();
            lineage_units.dedup();
            for unit in lineage_units {
                self.units[unit as usize].lineage.push(pos.seq);
            }
        }
        for (s, overlay) in staff {
            self.apply_staff_overlay(s, overlay, pos.seq);
        }
        for (u, overlay) in units {
            for (_, state) in &overlay.steps {
                if let Some(parent) = state.parent {
                    self.units[parent as usize].children_ever.insert(u);
                }
            }
            self.units[u as usize].history.replace_from(overlay.from, overlay.steps, pos.seq);
        }
        *self.events.slot(pos.seq) = Some(Record { date: pos.date, ev, retracted_by: None });
        self.last_seq = pos.seq;
    }

    fn apply_staff_overlay(&mut self, s: StaffIx, overlay: Overlay<StaffState>, seq: Seq) {
        let mut deltas: BTreeMap<(UnitIx, Date), CountPair> = BTreeMap::new();
        if self.keeps_counts {
            transitions(from_step_before(self.staff[s as usize].history.live(), overlay.from), -1, &mut deltas);
        }
        for (_, state) in &overlay.steps {
            self.units[state.home as usize].staff_ever.insert(s);
            if let Some(secondment) = &state.secondment {
                self.units[secondment.host as usize].staff_ever.insert(s);
            }
        }
        let history = &mut self.staff[s as usize].history;
        let from = overlay.from;
        history.replace_from(from, overlay.steps, seq);
        if self.keeps_counts {
            transitions(from_step_before(history.live(), from), 1, &mut deltas);
        }
        for ((unit, date), delta) in deltas {
            if !delta.is_zero() {
                self.units[unit as usize].counts.add(seq, date, delta);
            }
        }
    }
}

/// The steps from the last one before `from` on: all that a rewrite from
/// `from` can change the transitions of (that step's secondment may expire
/// after `from`; the ones before it are the same before and after).
fn from_step_before(live: &[Step<StaffState>], from: Pos) -> &[Step<StaffState>] {
    &live[live.partition_point(|step| step.pos.pos() < from).saturating_sub(1)..]
}

/// Adds `sign` × every headcount change a staff member's history implies:
/// at each step, out of the old units and into the new; and on the day
/// after a secondment's `until`, back from the host to home.
pub(crate) fn transitions(steps: &[Step<StaffState>], sign: i64, out: &mut BTreeMap<(UnitIx, Date), CountPair>) {
    let mut add = |unit: UnitIx, date: Date, posted: i64, working: i64| {
        let entry = out.entry((unit, date)).or_default();
        entry.posted += sign * posted;
        entry.working += sign * working;
    };
    let mut previous: Option<&StaffState> = None;
    for step in steps {
        let date = step.pos.date;
        if let Some(before) = previous.filter(|p| p.active) {
            let expiry = before.secondment.as_ref().and_then(|s| s.until.filter(|u| *u < date).map(|u| (s.host, u)));
            if let Some((host, until)) = expiry {
                let back_home = until.next().expect("until < date <= MAX");
                add(host, back_home, 0, -1);
                add(before.home, back_home, 0, 1);
            }
            add(before.home, date, -1, 0);
            add(before.working_on(date), date, 0, -1);
        }
        if step.state.active {
            add(step.state.home, date, 1, 0);
            add(step.state.working_on(date), date, 0, 1);
        }
        previous = Some(&step.state);
    }
    if let Some(last) = previous.filter(|p| p.active) {
        if let Some(secondment) = &last.secondment {
            if let Some(back_home) = secondment.until.and_then(Date::next) {
                add(secondment.host, back_home, 0, -1);
                add(last.home, back_home, 0, 1);
            }
        }
    }
}

impl Timeline {
    /// Where the timeline's memory goes, by part, in bytes: vectors by
    /// capacity; B-tree sets and hash maps estimated from their lengths
    /// (16 bytes per element). For the benchmark's "what bounds memory".
    pub fn footprint(&self) -> Vec<(&'static str, u64)> {
        fn refs(v: &Vec<Mark>) -> usize {
            v.capacity() * std::mem::size_of::<Mark>()
        }
        let vec_bytes = |cap: usize, size: usize| (cap * size) as u64;
        let units = &self.units;
        let staff = &self.staff;
        // Per id: the shared text (16-byte counts, rounded to malloc's 16),
        // its slot in `ids`, and its slot in the index (at 7/8 load).
        let interner = |i: &Interner| {
            let text = i.ids.iter().map(|s| (16 + s.len()).next_multiple_of(16) + 8).sum::<usize>();
            (text + i.ids.capacity() * 16 + i.index.capacity() * 8 / 7 * 25) as u64
        };
        vec![
            ("event records (one per sequence)", self.events.heap_bytes() as u64),
            ("staff histories", staff.iter().map(|s| s.history.heap_bytes()).sum::<usize>() as u64),
            ("unit histories", units.iter().map(|u| u.history.heap_bytes()).sum::<usize>() as u64),
            (
                "unit event refs",
                units.iter().map(|u| refs(&u.own_refs) + refs(&u.read_refs) + refs(&u.structural_refs)).sum::<usize>()
                    as u64,
            ),
            ("unit count indexes", units.iter().map(|u| u.counts.heap_bytes()).sum::<usize>() as u64),
            (
                "unit staff and children ever",
                units.iter().map(|u| u.staff_ever.heap_bytes() + u.children_ever.heap_bytes()).sum::<usize>() as u64,
            ),
            (
                "unit and staff records",
                vec_bytes(units.capacity(), std::mem::size_of::<UnitRecord>()) + staff.heap_bytes() as u64,
            ),
            ("interned ids (estimated)", interner(&self.unit_ids) + interner(&self.staff_ids)),
        ]
    }
}

// One `Record` per accepted event and one history step per change: their
// sizes are the ledger's memory per event (benchmarked at 10M events).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<Interned>() <= 24);
    assert!(std::mem::size_of::<Option<Record>>() <= 32);
    assert!(std::mem::size_of::<Mark>() == 8);
};
