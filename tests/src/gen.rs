//! Random event sequences over a small id space, for the equivalence test.
//!
//! Two phases. Proptest draws [`Intent`]s: an action and choices such as
//! "the k-th unit active that day" or "the staff member's home unit". Then
//! [`resolve`] turns them into events one at a time, looking at a [`Model`]
//! fed with the events so far. Rationale: events drawn blind over the id
//! space are almost all rejected (a split's allocation is exact only by
//! luck), and a sequence that is 95% rejected tests little. Resolving
//! against the model keeps most events valid at their own place, while
//! backdating, same-day ordering, retractions and a share of deliberately
//! wrong choices still produce every kind of rejection, conflicts included.
//! Shrinking works on the intents, so a failing case shrinks to a short,
//! still meaningful sequence.
//!
//! The ids: units `U0`..`U5` (established by `unit established`), `N0`..`N7`
//! (new merge targets and split parts), staff `S0`..`S7`; days
//! 2015-01-01 ..= 2015-02-10.

use crate::model::Model;
use muster_domain::{
    Allocation, Category, Date, Event, MergeTarget, NewUnit, RosterEntry, Seq, StaffId, TreeNode, UnitId,
};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Ids that `unit established` events use.
pub const UNIT_IDS: [&str; 6] = ["U0", "U1", "U2", "U3", "U4", "U5"];
/// Ids that new merge targets and split parts use.
pub const NEW_UNIT_IDS: [&str; 8] = ["N0", "N1", "N2", "N3", "N4", "N5", "N6", "N7"];
/// Staff ids.
pub const STAFF_IDS: [&str; 8] = ["S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7"];
/// Events fall on the first day and the `SPAN_DAYS` days after it.
pub const SPAN_DAYS: u32 = 40;
/// The most intents (and so events) in one sequence.
pub const EVENTS_MAX: usize = 60;

/// The first day events fall on: 2015-01-01.
pub fn first_day() -> Date {
    Date::from_ymd(2015, 1, 1).expect("a valid day")
}

/// The day `offset_days` after [`first_day`].
pub fn day(offset_days: u32) -> Date {
    Date::from_day_number(first_day().day_number() + offset_days).expect("in range")
}

/// Every unit id of the id space, [`UNIT_IDS`] then [`NEW_UNIT_IDS`].
pub fn unit_ids() -> Vec<UnitId> {
    UNIT_IDS.iter().chain(NEW_UNIT_IDS.iter()).map(|id| UnitId::from(*id)).collect()
}

/// Every staff id of the id space.
pub fn staff_ids() -> Vec<StaffId> {
    STAFF_IDS.iter().map(|id| StaffId::from(*id)).collect()
}

/// The effective date of an intent.
#[derive(Clone, Debug)]
pub enum DatePick {
    /// 0..=2 days after the latest date so far (capped at the span's end).
    Forward(u8),
    /// Any day from the first to the latest so far: often backdated.
    Anywhere(u8),
}

/// A unit named by an event.
#[derive(Clone, Debug)]
pub enum UnitPick {
    /// The k-th (modulo) unit active that day, among the plausible ones.
    Active(u8),
    /// The k-th (modulo) id of the whole id space, whatever its state.
    Any(u8),
}

/// A staff member named by an event.
#[derive(Clone, Debug)]
pub enum StaffPick {
    /// The k-th staff member active that day.
    Active(u8),
    /// The k-th staff member not active that day.
    Inactive(u8),
    /// The k-th staff member seconded that day.
    Seconded(u8),
    /// The k-th staff id, whatever its state.
    Any(u8),
}

/// The `from` of a transfer or secondment.
#[derive(Clone, Debug)]
pub enum FromPick {
    /// The staff member's home unit that day.
    Home,
    /// Some unit, probably not their home.
    Unit(UnitPick),
}

/// The id of a unit an event creates.
#[derive(Clone, Debug)]
pub enum NewIdPick {
    /// The first id of the pool not used by an accepted event.
    Fresh,
    /// The k-th id of the pool, used or not.
    Any(u8),
}

/// A new merge target or split part.
#[derive(Clone, Debug)]
pub struct PartIntent {
    /// Its id, from [`NEW_UNIT_IDS`].
    pub id: NewIdPick,
    /// Its parent.
    pub parent: Option<UnitPick>,
    /// Its category.
    pub category: Category,
}

/// A merger's target.
#[derive(Clone, Debug)]
pub enum TargetIntent {
    /// An existing unit.
    Existing(UnitPick),
    /// A new unit.
    New(PartIntent),
}

/// A deliberate mistake in a split's allocation.
#[derive(Clone, Debug)]
pub enum SplitFlaw {
    /// Leave out one item (or add an extra one if there is nothing).
    DropOne,
    /// Allocate the k-th staff id as posted, whether posted there or not.
    Extra(u8),
    /// Allocate something to the source itself, which is not a part.
    UnknownPart,
    /// Allocate the first item twice.
    Twice,
}

/// What an intent does.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum Action {
    Establish {
        id: NewIdPick,
        parent: Option<UnitPick>,
        category: Category,
        quota: Option<u32>,
    },
    Rename {
        unit: UnitPick,
        name: u8,
    },
    Move {
        unit: UnitPick,
        parent: Option<UnitPick>,
    },
    Reclassify {
        unit: UnitPick,
        flip: bool,
    },
    SetQuota {
        unit: UnitPick,
        quota: u32,
    },
    Merge {
        sources: Vec<UnitPick>,
        target: TargetIntent,
    },
    Split {
        source: UnitPick,
        parts: Vec<PartIntent>,
        seeds: Vec<u8>,
        flaw: Option<SplitFlaw>,
    },
    Dissolve {
        unit: UnitPick,
        prefer_empty: bool,
    },
    Join {
        staff: StaffPick,
        unit: UnitPick,
    },
    Transfer {
        staff: StaffPick,
        from: FromPick,
        to: UnitPick,
    },
    Second {
        staff: StaffPick,
        from: FromPick,
        to: UnitPick,
        until_offset_days: Option<i8>,
    },
    EndSecondment {
        staff: StaffPick,
    },
    Leave {
        staff: StaffPick,
    },
    /// Retract: `Some(k)` the k-th most recent retractable event, `None`
    /// any earlier seq (or, with `unknown`, a seq that does not exist).
    Retract {
        recent: Option<u8>,
        any: u8,
        unknown: bool,
    },
}

/// One step of a generated sequence, before resolution.
#[derive(Clone, Debug)]
pub struct Intent {
    /// When.
    pub date: DatePick,
    /// What.
    pub action: Action,
}

/// A generated sequence of events: seq `i + 1` for the event at index `i`.
pub fn scenario() -> impl Strategy<Value = Vec<(Date, Event)>> {
    intents().prop_map(|intents| resolve(&intents))
}

/// Up to [`EVENTS_MAX`] intents: a few units and staff on the first day,
/// then anything.
///
/// Rationale: without the opening, most early events name units and staff
/// that do not exist yet and are rejected for that dull reason.
pub fn intents() -> impl Strategy<Value = Vec<Intent>> {
    (opening(), vec(intent(), 0..=EVENTS_MAX - OPENING_MAX)).prop_map(|(mut opening, rest)| {
        opening.extend(rest);
        opening
    })
}

/// The most intents in [`opening`].
const OPENING_MAX: usize = 10;

fn opening() -> impl Strategy<Value = Vec<Intent>> {
    let establish = (prop::option::weighted(0.4, unit_pick()), category())
        .prop_map(|(parent, category)| Action::Establish { id: NewIdPick::Fresh, parent, category, quota: None });
    let join = (any::<u8>(), any::<u8>())
        .prop_map(|(staff, unit)| Action::Join { staff: StaffPick::Inactive(staff), unit: UnitPick::Active(unit) });
    (vec(establish, 0..=4), vec(join, 0..=6)).prop_map(|(establish, join)| {
        let first_day = |action| Intent { date: DatePick::Forward(0), action };
        establish.into_iter().chain(join).map(first_day).collect()
    })
}

fn intent() -> impl Strategy<Value = Intent> {
    let date = prop_oneof![
        3 => (0u8..3).prop_map(DatePick::Forward),
        1 => any::<u8>().prop_map(DatePick::Anywhere),
    ];
    (date, action()).prop_map(|(date, action)| Intent { date, action })
}

fn unit_pick() -> impl Strategy<Value = UnitPick> + Clone {
    prop_oneof![
        9 => any::<u8>().prop_map(UnitPick::Active),
        1 => any::<u8>().prop_map(UnitPick::Any),
    ]
}

fn staff_pick(likely: fn(u8) -> StaffPick) -> impl Strategy<Value = StaffPick> + Clone {
    prop_oneof![9 => any::<u8>().prop_map(likely), 1 => any::<u8>().prop_map(StaffPick::Any)]
}

fn from_pick() -> impl Strategy<Value = FromPick> {
    prop_oneof![9 => Just(FromPick::Home), 1 => unit_pick().prop_map(FromPick::Unit)]
}

fn new_id_pick() -> impl Strategy<Value = NewIdPick> + Clone {
    prop_oneof![9 => Just(NewIdPick::Fresh), 1 => any::<u8>().prop_map(NewIdPick::Any)]
}

fn category() -> impl Strategy<Value = Category> + Clone {
    prop_oneof![Just(Category::Office), Just(Category::FrontLine)]
}

fn part_intent() -> impl Strategy<Value = PartIntent> + Clone {
    (new_id_pick(), prop::option::weighted(0.6, unit_pick()), category())
        .prop_map(|(id, parent, category)| PartIntent { id, parent, category })
}

fn split_flaw() -> impl Strategy<Value = Option<SplitFlaw>> {
    let flaw = prop_oneof![
        Just(SplitFlaw::DropOne),
        any::<u8>().prop_map(SplitFlaw::Extra),
        Just(SplitFlaw::UnknownPart),
        Just(SplitFlaw::Twice),
    ];
    prop::option::weighted(0.15, flaw)
}

fn action() -> impl Strategy<Value = Action> {
    let retract = (prop::option::weighted(0.9, 0u8..6), any::<u8>(), prop::bool::weighted(0.05))
        .prop_map(|(recent, any, unknown)| Action::Retract { recent, any, unknown });
    // Weights: about a quarter each for unit changes and restructuring,
    // half for staff, and a few retractions.
    prop_oneof![
        19 => unit_change(),
        14 => restructuring(),
        41 => staff_change(),
        5 => retract,
    ]
}

fn unit_change() -> impl Strategy<Value = Action> {
    let parent = || prop::option::weighted(0.5, unit_pick());
    let establish = (new_id_pick(), parent(), category(), prop::option::of(0u32..6))
        .prop_map(|(id, parent, category, quota)| Action::Establish { id, parent, category, quota });
    let rename = (unit_pick(), any::<u8>()).prop_map(|(unit, name)| Action::Rename { unit, name });
    let moved = (unit_pick(), parent()).prop_map(|(unit, parent)| Action::Move { unit, parent });
    let reclassify =
        (unit_pick(), prop::bool::weighted(0.85)).prop_map(|(unit, flip)| Action::Reclassify { unit, flip });
    let quota = (unit_pick(), 0u32..6).prop_map(|(unit, quota)| Action::SetQuota { unit, quota });
    prop_oneof![8 => establish, 2 => rename, 4 => moved, 3 => reclassify, 2 => quota]
}

fn restructuring() -> impl Strategy<Value = Action> {
    let target = prop_oneof![unit_pick().prop_map(TargetIntent::Existing), part_intent().prop_map(TargetIntent::New),];
    let merge = (vec(unit_pick(), 1..=3), target).prop_map(|(sources, target)| Action::Merge { sources, target });
    let parts = vec(part_intent(), 1..=3);
    let split = (unit_pick(), parts, vec(any::<u8>(), 1..=4), split_flaw())
        .prop_map(|(source, parts, seeds, flaw)| Action::Split { source, parts, seeds, flaw });
    let dissolve = (unit_pick(), prop::bool::weighted(0.8))
        .prop_map(|(unit, prefer_empty)| Action::Dissolve { unit, prefer_empty });
    prop_oneof![5 => merge, 6 => split, 3 => dissolve]
}

fn staff_change() -> impl Strategy<Value = Action> {
    let join = (staff_pick(StaffPick::Inactive), unit_pick()).prop_map(|(staff, unit)| Action::Join { staff, unit });
    let transfer = (staff_pick(StaffPick::Active), from_pick(), unit_pick())
        .prop_map(|(staff, from, to)| Action::Transfer { staff, from, to });
    let until = prop::option::weighted(0.6, -2i8..15);
    let second = (staff_pick(StaffPick::Active), from_pick(), unit_pick(), until)
        .prop_map(|(staff, from, to, until_offset_days)| Action::Second { staff, from, to, until_offset_days });
    let end = staff_pick(StaffPick::Seconded).prop_map(|staff| Action::EndSecondment { staff });
    let leave = staff_pick(StaffPick::Active).prop_map(|staff| Action::Leave { staff });
    prop_oneof![14 => join, 10 => transfer, 9 => second, 4 => end, 4 => leave]
}

/// Turns intents into events, feeding each to a fresh [`Model`] (seq
/// `i + 1` for the intent at index `i`) so that the next one is resolved
/// against the state the earlier ones left.
pub fn resolve(intents: &[Intent]) -> Vec<(Date, Event)> {
    let mut model = Model::new();
    let mut latest = first_day();
    let mut events = Vec::with_capacity(intents.len());
    for (index, intent) in intents.iter().enumerate() {
        let seq = index as Seq + 1;
        let date = match intent.date {
            DatePick::Forward(days) => latest.day_number() - first_day().day_number() + u32::from(days),
            DatePick::Anywhere(days) => u32::from(days) % (latest.day_number() - first_day().day_number() + 1),
        };
        let date = day(date.min(SPAN_DAYS));
        latest = latest.max(date);
        let event = Resolver::new(&model, date, seq).event(&intent.action);
        // The outcome does not matter here, only the state it leaves.
        let _ = model.submit(seq, date, &event);
        events.push((date, event));
    }
    events
}

/// Resolves one intent on one day against the model's state.
struct Resolver<'a> {
    model: &'a Model,
    date: Date,
    seq: Seq,
    tree: Vec<TreeNode>,
}

fn pick<T: Clone>(items: &[T], k: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(k) % items.len()].clone())
}

impl<'a> Resolver<'a> {
    fn new(model: &'a Model, date: Date, seq: Seq) -> Resolver<'a> {
        Resolver { model, date, seq, tree: model.tree(date, None) }
    }

    fn any_unit(k: u8) -> UnitId {
        pick(&unit_ids(), k).expect("a non-empty id space")
    }

    /// An active unit outside `excluded` (or any id, for `Any` or if none).
    fn unit(&self, choice: &UnitPick, excluded: &BTreeSet<UnitId>) -> UnitId {
        match choice {
            UnitPick::Any(k) => Resolver::any_unit(*k),
            UnitPick::Active(k) => {
                let candidates: Vec<UnitId> =
                    self.tree.iter().map(|n| n.unit.clone()).filter(|u| !excluded.contains(u)).collect();
                pick(&candidates, *k).unwrap_or_else(|| Resolver::any_unit(*k))
            }
        }
    }

    /// The unit and every active unit below it that day.
    fn subtree(&self, unit: &UnitId) -> BTreeSet<UnitId> {
        let mut found = BTreeSet::from([unit.clone()]);
        loop {
            let before = found.len();
            for node in &self.tree {
                if node.parent.as_ref().is_some_and(|p| found.contains(p)) {
                    found.insert(node.unit.clone());
                }
            }
            if found.len() == before {
                return found;
            }
        }
    }

    fn staff_on(&self, staff: &StaffId) -> Option<RosterEntry> {
        self.model.staff_on(staff, self.date, None)
    }

    fn staff(&self, choice: &StaffPick) -> StaffId {
        let all = staff_ids();
        let filtered = |keep: &dyn Fn(Option<RosterEntry>) -> bool| -> Vec<StaffId> {
            all.iter().filter(|s| keep(self.staff_on(s))).cloned().collect()
        };
        let (candidates, k) = match choice {
            StaffPick::Any(k) => (all.clone(), k),
            StaffPick::Active(k) => (filtered(&|entry| entry.is_some()), k),
            StaffPick::Inactive(k) => (filtered(&|entry| entry.is_none()), k),
            StaffPick::Seconded(k) => (filtered(&|entry| entry.is_some_and(|e| e.home != e.working)), k),
        };
        pick(&candidates, *k).unwrap_or_else(|| pick(&all, *k).expect("staff ids"))
    }

    /// The staff member's `from` unit and home (if active that day).
    fn from(&self, staff: &StaffId, choice: &FromPick) -> (UnitId, Option<UnitId>) {
        let home = self.staff_on(staff).map(|entry| entry.home);
        let from = match (choice, &home) {
            (FromPick::Home, Some(home)) => home.clone(),
            (FromPick::Home, None) => self.unit(&UnitPick::Active(0), &BTreeSet::new()),
            (FromPick::Unit(unit), _) => self.unit(unit, &BTreeSet::new()),
        };
        (from, home)
    }

    /// A new unit id from `pool`, avoiding ids in use and ids in `taken`.
    fn new_id(&self, choice: &NewIdPick, pool: &[&str], taken: &BTreeSet<UnitId>) -> UnitId {
        let pool: Vec<UnitId> = pool.iter().map(|id| UnitId::from(*id)).collect();
        match choice {
            NewIdPick::Any(k) => pick(&pool, *k).expect("a non-empty pool"),
            NewIdPick::Fresh => {
                let in_use = self.model.unit_ids_in_use();
                let fresh = pool.iter().find(|id| !in_use.contains(*id) && !taken.contains(*id));
                fresh.unwrap_or(&pool[0]).clone()
            }
        }
    }

    fn new_unit(&self, part: &PartIntent, outside: &BTreeSet<UnitId>, taken: &BTreeSet<UnitId>) -> NewUnit {
        let unit = self.new_id(&part.id, &NEW_UNIT_IDS, taken);
        NewUnit {
            name: format!("unit {unit}"),
            category: part.category,
            parent: part.parent.as_ref().map(|parent| self.unit(parent, outside)),
            unit,
        }
    }

    fn event(&self, action: &Action) -> Event {
        let none = BTreeSet::new();
        match action {
            Action::Establish { id, parent, category, quota } => {
                let unit = self.new_id(id, &UNIT_IDS, &none);
                Event::UnitEstablished {
                    name: format!("unit {unit}"),
                    unit,
                    category: *category,
                    parent: parent.as_ref().map(|parent| self.unit(parent, &none)),
                    quota: *quota,
                }
            }
            Action::Rename { unit, name } => {
                Event::UnitRenamed { unit: self.unit(unit, &none), name: format!("name {name}") }
            }
            Action::Move { unit, parent } => {
                let unit = self.unit(unit, &none);
                let below = self.subtree(&unit);
                Event::UnitMoved { parent: parent.as_ref().map(|p| self.unit(p, &below)), unit }
            }
            Action::Reclassify { unit, flip } => {
                let unit = self.unit(unit, &none);
                let current = self.tree.iter().find(|n| n.unit == unit).map_or(Category::Office, |n| n.category);
                let category = match (flip, current) {
                    (false, same) => same,
                    (true, Category::Office) => Category::FrontLine,
                    (true, Category::FrontLine) => Category::Office,
                };
                Event::UnitReclassified { unit, category }
            }
            Action::SetQuota { unit, quota } => Event::UnitQuotaSet { unit: self.unit(unit, &none), quota: *quota },
            Action::Merge { sources, target } => self.merge(sources, target),
            Action::Split { source, parts, seeds, flaw } => self.split(source, parts, seeds, flaw.as_ref()),
            Action::Dissolve { unit, prefer_empty } => {
                Event::UnitDissolved { unit: self.dissolved(unit, *prefer_empty) }
            }
            Action::Join { staff, unit } => {
                Event::StaffJoined { staff: self.staff(staff), unit: self.unit(unit, &none) }
            }
            Action::Transfer { staff, from, to } => {
                let staff = self.staff(staff);
                let (from, home) = self.from(&staff, from);
                let to = self.unit(to, &home.into_iter().collect());
                Event::StaffTransferred { staff, from, to }
            }
            Action::Second { staff, from, to, until_offset_days } => {
                let staff = self.staff(staff);
                let (from, home) = self.from(&staff, from);
                let to = self.unit(to, &home.into_iter().collect());
                let until = self.until(*until_offset_days);
                Event::StaffSeconded { staff, from, to, until }
            }
            Action::EndSecondment { staff } => Event::SecondmentEnded { staff: self.staff(staff) },
            Action::Leave { staff } => Event::StaffLeft { staff: self.staff(staff), reason: "retired".to_owned() },
            Action::Retract { recent, any, unknown } => Event::EventRetracted {
                target: self.retraction_target(*recent, *any, *unknown),
                reason: "keyed in error".to_owned(),
            },
        }
    }

    /// The day `offset_days` from the event's date, if any.
    fn until(&self, offset_days: Option<i8>) -> Option<Date> {
        let number = i64::from(self.date.day_number()) + i64::from(offset_days?);
        Some(Date::from_day_number(number.max(0) as u32).expect("in range"))
    }

    fn merge(&self, sources: &[UnitPick], target: &TargetIntent) -> Event {
        // Sample distinct sources, so that most mergers have a chance.
        let mut chosen: Vec<UnitId> = Vec::new();
        for source in sources {
            let excluded: BTreeSet<UnitId> = chosen.iter().cloned().collect();
            chosen.push(self.unit(source, &excluded));
        }
        let inside: BTreeSet<UnitId> = chosen.iter().flat_map(|s| self.subtree(s)).collect();
        let target = match target {
            TargetIntent::Existing(unit) => MergeTarget::Existing(self.unit(unit, &inside)),
            TargetIntent::New(part) => MergeTarget::New(self.new_unit(part, &inside, &BTreeSet::new())),
        };
        Event::UnitsMerged { sources: chosen, target }
    }

    fn split(&self, source: &UnitPick, parts: &[PartIntent], seeds: &[u8], flaw: Option<&SplitFlaw>) -> Event {
        let source = self.unit(source, &BTreeSet::new());
        let inside = self.subtree(&source);
        let mut new_parts: Vec<NewUnit> = Vec::new();
        for part in parts {
            let taken: BTreeSet<UnitId> = new_parts.iter().map(|p| p.unit.clone()).collect();
            new_parts.push(self.new_unit(part, &inside, &taken));
        }
        let part_ids: Vec<UnitId> = new_parts.iter().map(|p| p.unit.clone()).collect();
        let mut counter = 0usize;
        let mut next_part = || {
            let seed = seeds[counter % seeds.len()];
            counter += 1;
            pick(&part_ids, seed).expect("at least one part")
        };
        let roster = self.model.roster(&source, self.date, None);
        let mut posted: Vec<_> = roster
            .iter()
            .filter(|e| e.home == source)
            .map(|e| Allocation { item: e.staff.clone(), part: next_part() })
            .collect();
        let mut seconded: Vec<_> = roster
            .iter()
            .filter(|e| e.working == source && e.home != source)
            .map(|e| Allocation { item: e.staff.clone(), part: next_part() })
            .collect();
        let children: Vec<_> = self
            .tree
            .iter()
            .filter(|n| n.parent.as_ref() == Some(&source))
            .map(|n| Allocation { item: n.unit.clone(), part: next_part() })
            .collect();
        match flaw {
            None => {}
            Some(SplitFlaw::DropOne) if !posted.is_empty() => drop(posted.pop()),
            Some(SplitFlaw::DropOne) if !seconded.is_empty() => drop(seconded.pop()),
            Some(SplitFlaw::Twice) if !posted.is_empty() => posted.push(posted[0].clone()),
            Some(SplitFlaw::UnknownPart) => {
                posted.push(Allocation { item: StaffId::from(STAFF_IDS[0]), part: source.clone() })
            }
            Some(SplitFlaw::Extra(k)) => {
                let item = pick(&staff_ids(), *k).expect("staff ids");
                posted.push(Allocation { item, part: part_ids[0].clone() })
            }
            Some(SplitFlaw::DropOne | SplitFlaw::Twice) => {
                seconded.push(Allocation { item: StaffId::from(STAFF_IDS[1]), part: part_ids[0].clone() })
            }
        }
        Event::UnitSplit { source, parts: new_parts, posted, seconded, children }
    }

    fn dissolved(&self, unit: &UnitPick, prefer_empty: bool) -> UnitId {
        let has_child = |unit: &UnitId| self.tree.iter().any(|n| n.parent.as_ref() == Some(unit));
        let empty: Vec<UnitId> = self
            .tree
            .iter()
            .filter(|n| n.posted == 0 && n.working == 0 && !has_child(&n.unit))
            .map(|n| n.unit.clone())
            .collect();
        match unit {
            UnitPick::Active(k) if prefer_empty && !empty.is_empty() => pick(&empty, *k).expect("non-empty"),
            _ => self.unit(unit, &BTreeSet::new()),
        }
    }

    fn retraction_target(&self, recent: Option<u8>, any: u8, unknown: bool) -> Seq {
        if unknown || self.seq == 1 {
            return self.seq + u64::from(any % 3);
        }
        let retractable = self.model.retractable_seqs();
        match recent {
            Some(k) if !retractable.is_empty() => {
                retractable[retractable.len() - 1 - usize::from(k) % retractable.len()]
            }
            _ => 1 + u64::from(any) % (self.seq - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::{EventKind, ReasonCode};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeMap;

    /// Measures how many generated events the model accepts, per kind, and
    /// holds the generator to a useful mix.
    #[test]
    fn generated_sequences_are_mostly_accepted_and_cover_every_kind() {
        let mut runner = TestRunner::deterministic();
        let strategy = scenario();
        let mut submitted: BTreeMap<EventKind, u32> = BTreeMap::new();
        let mut accepted: BTreeMap<EventKind, u32> = BTreeMap::new();
        let mut conflicts = 0;
        let mut reasons: BTreeMap<(EventKind, ReasonCode), u32> = BTreeMap::new();
        for _ in 0..400 {
            let events = strategy.new_tree(&mut runner).expect("a value").current();
            let mut model = Model::new();
            for (index, (date, event)) in events.iter().enumerate() {
                let outcome = model.submit(index as Seq + 1, *date, event);
                *submitted.entry(event.kind()).or_insert(0) += 1;
                match outcome {
                    Ok(()) => *accepted.entry(event.kind()).or_insert(0) += 1,
                    Err(ReasonCode::ConflictsWithLaterEvent) => conflicts += 1,
                    Err(code) => *reasons.entry((event.kind(), code)).or_insert(0) += 1,
                }
            }
        }
        for ((kind, code), count) in &reasons {
            println!("  rejected {:<20} {:<32} {count:>6}", kind.as_str(), code.as_str());
        }
        let total: u32 = submitted.values().sum();
        let total_accepted: u32 = accepted.values().sum();
        let rate = f64::from(total_accepted) / f64::from(total);
        for kind in EventKind::ALL {
            let (a, s) = (accepted.get(&kind).copied().unwrap_or(0), submitted.get(&kind).copied().unwrap_or(0));
            println!("{:<20} {a:>6} / {s:>6} accepted", kind.as_str());
            assert!(a > 0, "no {} accepted", kind.as_str());
        }
        println!("all: {total_accepted} / {total} accepted ({:.1}%), {conflicts} conflicts", rate * 100.0);
        assert!(rate >= 0.4, "acceptance rate {rate}");
        assert!(conflicts > 0, "no conflicts generated");
    }
}
