//! The front-line audit (警力下沉) between two days: who really moved from
//! the office to the front line, and why — separating real moves from
//! relabelled units, restructurings, paper moves and round trips.
//! Semantics: the "Front-line audit" section of `shared/SPEC.md`.
//!
//! A staff member counts in the category of their home unit (posted) or
//! working unit (working) as that unit is classified on that day. With a
//! scope unit, only staff whose home is in its subtree (as the tree stood
//! that day) count on that day.

use crate::history::Pos;
use crate::timeline::{Interned, StaffIx, StaffState, Timeline, UnitIx};
use crate::{Category, Date, Seq, StaffId, TreeNode, UnitId, UnitStatus};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Office and front-line strength on one day.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Strength {
    /// Posted at office units.
    pub office_posted: u32,
    /// Working at office units.
    pub office_working: u32,
    /// Posted at front-line units.
    pub front_posted: u32,
    /// Working at front-line units.
    pub front_working: u32,
}

impl Strength {
    fn add(&mut self, other: &Strength) {
        self.office_posted += other.office_posted;
        self.office_working += other.office_working;
        self.front_posted += other.front_posted;
        self.front_working += other.front_working;
    }
}

/// Why a member's home went from one category to the other.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum MoveCause {
    /// At least one transfer (or leaving and joining again) in (D1, D2]
    /// changed their home unit.
    Transferred,
    /// Their home unit changed only through mergers and splits.
    Restructured,
    /// Same home unit on both days; only its category changed. Nobody moved.
    Reclassified,
}

impl MoveCause {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MoveCause::Transferred => "transferred",
            MoveCause::Restructured => "restructured",
            MoveCause::Reclassified => "reclassified",
        }
    }
}

/// One member whose home changed category between the two days.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Move {
    /// The member.
    pub staff: StaffId,
    /// Home unit on D1.
    pub from_unit: UnitId,
    /// Home unit on D2.
    pub to_unit: UnitId,
    /// Exactly one cause.
    pub cause: MoveCause,
    /// Working unit on D2 (differs from `to_unit` while seconded).
    pub working_on_to: UnitId,
    /// Moved down (cause not `reclassified`) but working in the office on
    /// D2: posted at the front line, working in the office.
    pub paper_move: bool,
    /// The events behind the move, in timeline order: every accepted event
    /// that touched the member after D1 up to D2 (the transfer, merger or
    /// split that moved them; for a paper move, the secondment too) and
    /// every reclassification of their D2 unit then (the whole move, or
    /// what made the unit they went to front-line or office).
    pub events: Vec<Seq>,
}

/// One unit's establishment on a day.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnitQuota {
    /// The unit.
    pub unit: UnitId,
    /// Its category that day.
    pub category: Category,
    /// Its quota that day.
    pub quota: Option<u32>,
    /// Staff posted there.
    pub posted: u32,
    /// posted − quota when positive (超编).
    pub over_quota: u32,
    /// quota − posted when positive (空编).
    pub vacancies: u32,
}

/// A unit whose number of direct sub-units changed between the two days
/// (拆庙: "32 internal units merged into 9" is such a line).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SubunitChange {
    /// The unit, active and in scope on both days.
    pub unit: UnitId,
    /// Its name on D2.
    pub name: String,
    /// Active units directly below it on D1.
    pub from: u32,
    /// Active units directly below it on D2.
    pub to: u32,
}

/// The change in posted office strength, by cause. By construction
/// `office_posted_to − office_posted_from` equals
/// `joined − left + entered_scope − left_scope + moved_up_total − moved_down_total`,
/// where the totals include reclassifications (shown apart).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Reconciliation {
    /// Posted office strength on D1.
    pub office_posted_from: u32,
    /// Posted office strength on D2.
    pub office_posted_to: u32,
    /// In the office on D2, not active on D1.
    pub joined: u32,
    /// In the office on D1, not active on D2.
    pub left: u32,
    /// In the office on D2, active but outside the scope on D1.
    pub entered_scope: u32,
    /// In the office on D1, active but outside the scope on D2.
    pub left_scope: u32,
    /// Moved down by transfer.
    pub moved_down_transferred: u32,
    /// Moved down by mergers and splits.
    pub moved_down_restructured: u32,
    /// Relabelled from office to front line.
    pub moved_down_reclassified: u32,
    /// Moved up by transfer.
    pub moved_up_transferred: u32,
    /// Moved up by mergers and splits.
    pub moved_up_restructured: u32,
    /// Relabelled from front line to office.
    pub moved_up_reclassified: u32,
}

impl Reconciliation {
    /// Adds another part's counts (not the strengths, set from the totals).
    fn add(&mut self, other: &Reconciliation) {
        self.joined += other.joined;
        self.left += other.left;
        self.entered_scope += other.entered_scope;
        self.left_scope += other.left_scope;
        self.moved_down_transferred += other.moved_down_transferred;
        self.moved_down_restructured += other.moved_down_restructured;
        self.moved_down_reclassified += other.moved_down_reclassified;
        self.moved_up_transferred += other.moved_up_transferred;
        self.moved_up_restructured += other.moved_up_restructured;
        self.moved_up_reclassified += other.moved_up_reclassified;
    }

    /// Whether the identity holds (it always should: asserted when built).
    pub fn balances(&self) -> bool {
        let plus = i64::from(self.joined)
            + i64::from(self.entered_scope)
            + i64::from(self.moved_up_transferred + self.moved_up_restructured + self.moved_up_reclassified);
        let minus = i64::from(self.left)
            + i64::from(self.left_scope)
            + i64::from(self.moved_down_transferred + self.moved_down_restructured + self.moved_down_reclassified);
        i64::from(self.office_posted_to) - i64::from(self.office_posted_from) == plus - minus
    }
}

/// The audit between two days.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Audit {
    /// D1.
    pub from: Date,
    /// D2.
    pub to: Date,
    /// The subtree audited (None: the whole ledger).
    pub scope: Option<UnitId>,
    /// Strength on D1.
    pub strength_from: Strength,
    /// Strength on D2.
    pub strength_to: Strength,
    /// Office on D1, front line on D2, by staff id.
    pub moved_down: Vec<Move>,
    /// Front line on D1, office on D2, by staff id.
    pub moved_up: Vec<Move>,
    /// Office on D1 and D2, front line on some day between.
    pub round_trips: Vec<StaffId>,
    /// Units in scope on D1 with their establishment.
    pub units_from: Vec<UnitQuota>,
    /// Units in scope on D2 with their establishment.
    pub units_to: Vec<UnitQuota>,
    /// Units whose number of direct sub-units changed, by unit id.
    pub subunits: Vec<SubunitChange>,
    /// The arithmetic of the change in office strength.
    pub reconciliation: Reconciliation,
}

/// Where one member stood on a day, as the audit sees it.
struct Standing {
    home: UnitIx,
    working: UnitIx,
    home_category: Category,
    working_category: Category,
}

impl Timeline {
    fn category_on(&self, unit: UnitIx, date: Date, known_at: Option<Seq>) -> Option<Category> {
        match self.unit_on(unit, date, known_at) {
            (UnitStatus::Active, Some(state)) => Some(state.category),
            _ => None,
        }
    }

    fn scope_units(&self, scope: Option<UnitIx>, date: Date, known_at: Option<Seq>) -> Option<BTreeSet<UnitIx>> {
        let root = scope?;
        let mut units: BTreeSet<UnitIx> = self.descendants(root, date, known_at).into_iter().collect();
        if self.unit_on(root, date, known_at).0 == UnitStatus::Active {
            units.insert(root);
        }
        Some(units)
    }

    /// Every unit's category on `date` (None: not active), by unit: one
    /// history lookup per unit instead of two per staff member.
    fn categories_on(&self, date: Date, known_at: Option<Seq>) -> Vec<Option<Category>> {
        (0..self.units.len() as UnitIx).map(|u| self.category_on(u, date, known_at)).collect()
    }

    fn standing(
        &self,
        s: StaffIx,
        date: Date,
        known_at: Option<Seq>,
        scope: &Option<BTreeSet<UnitIx>>,
        categories: &[Option<Category>],
    ) -> Option<Standing> {
        let state: StaffState = self.staff_on(s, date, known_at)?;
        if scope.as_ref().is_some_and(|units| !units.contains(&state.home)) {
            return None;
        }
        let working = state.working_on(date);
        Some(Standing {
            home: state.home,
            working,
            home_category: categories[state.home as usize]?,
            working_category: categories[working as usize]?,
        })
    }

    /// Whether a transfer, or leaving and joining again, changed the
    /// member's home in (from, to].
    fn transferred_between(&self, s: StaffIx, from: Date, to: Date, known_at: Option<Seq>) -> bool {
        self.staff[s as usize].history.any_visible(known_at, |pos, _| {
            pos.date > from
                && pos.date <= to
                && matches!(
                    self.record(pos.seq).map(|r| &r.ev),
                    Some(Interned::StaffTransferred { .. } | Interned::StaffJoined { .. } | Interned::StaffLeft { .. })
                )
        })
    }

    /// [`Move::events`] of member `s`, at home in `home` on D2.
    /// `reclassifications` keeps each unit's between the days, found once
    /// per unit (many members move into one unit).
    fn move_events(
        &self,
        s: StaffIx,
        home: UnitIx,
        (from, to): (Date, Date),
        known_at: Option<Seq>,
        reclassifications: &mut HashMap<UnitIx, Vec<Pos>>,
    ) -> Vec<Seq> {
        let within = |pos: Pos| pos.date > from && pos.date <= to;
        let mut events = Vec::new();
        self.staff[s as usize].history.any_visible(known_at, |pos, _| {
            if within(pos) {
                events.push(pos);
            }
            false
        });
        let of_home = reclassifications.entry(home).or_insert_with(|| {
            let mut found = Vec::new();
            self.units[home as usize].history.any_visible(known_at, |pos, _| {
                let reclassified =
                    matches!(self.record(pos.seq).map(|r| &r.ev), Some(Interned::UnitReclassified { .. }));
                if within(pos) && reclassified {
                    found.push(pos);
                }
                false
            });
            found
        });
        events.extend_from_slice(of_home);
        events.sort_by_key(|pos| (pos.date, pos.seq));
        events.dedup();
        events.into_iter().map(|pos| pos.seq).collect()
    }

    /// Whether the member's home was a front-line unit on some day strictly
    /// between `from` and `to`: checked on every day their home, or the
    /// category of a unit they were posted at, could have changed (not on
    /// every quota change or rename of those units: those never change a
    /// category).
    fn front_line_between(
        &self,
        s: StaffIx,
        from: Date,
        to: Date,
        known_at: Option<Seq>,
        category_changes: &mut HashMap<UnitIx, (Vec<Date>, bool)>,
        (days, homes): &mut (Vec<Date>, Vec<UnitIx>),
    ) -> bool {
        let history = &self.staff[s as usize].history;
        let inside = |d: &Date| *d > from && *d < to;
        // Buffers reused across members: a whole-ledger audit asks this of
        // most of a million members.
        days.clear();
        homes.clear();
        if let Some((_, state)) = history.state_on(from, known_at) {
            homes.push(state.home);
        }
        history.any_visible(known_at, |pos, state| {
            if inside(&pos.date) {
                days.push(pos.date);
                homes.push(state.home);
            }
            false
        });
        homes.sort_unstable();
        homes.dedup();
        let mut any_front_line = false;
        for home in homes.iter() {
            // Per unit once per audit: a unit's history is mostly quota
            // changes and renames, and many members share a home. With the
            // days its category may change, whether it is front line on
            // any day inside at all.
            let (changes, front_line) = category_changes.entry(*home).or_insert_with(|| {
                let history = &self.units[*home as usize].history;
                let changes: Vec<Date> =
                    history.dates_where(|a, b| a.category != b.category || a.open != b.open).filter(inside).collect();
                let front_line = from
                    .next()
                    .filter(inside)
                    .iter()
                    .chain(&changes)
                    .any(|day| self.category_on(*home, *day, known_at) == Some(Category::FrontLine));
                (changes, front_line)
            });
            any_front_line |= *front_line;
            days.extend_from_slice(changes);
        }
        // Every home the member had inside is in `homes`: if none of them
        // was ever front line there, no day needs looking at.
        if !any_front_line {
            return false;
        }
        days.extend(from.next().filter(inside));
        days.sort_unstable();
        days.dedup();
        days.iter().any(|&day| {
            self.staff_on(s, day, known_at)
                .and_then(|state| self.category_on(state.home, day, known_at))
                .is_some_and(|c| c == Category::FrontLine)
        })
    }

    /// The tree on `date`, only the units in scope.
    fn tree_in_scope(&self, date: Date, known_at: Option<Seq>, scope: &Option<BTreeSet<UnitIx>>) -> Vec<TreeNode> {
        let mut tree = self.tree(date, known_at);
        tree.retain(|node| {
            let u = self.unit_ids.get(node.unit.as_str()).expect("tree units are known");
            scope.as_ref().is_none_or(|units| units.contains(&u))
        });
        tree
    }

    /// The front-line audit between `from` and `to` (from < to), for the
    /// whole ledger or the subtree of `scope`, as known at `known_at`.
    pub fn audit(&self, from: Date, to: Date, scope: Option<&UnitId>, known_at: Option<Seq>) -> Audit {
        assert!(from < to, "an audit runs from an earlier day to a later one");
        let known_at = self.normalize(known_at);
        let scope_unit = scope.and_then(|u| self.unit_ids.get(u.as_str()));
        let (scope_from, scope_to) = match (scope, scope_unit) {
            // A scope naming no known unit audits nobody.
            (Some(_), None) => (Some(BTreeSet::new()), Some(BTreeSet::new())),
            _ => (self.scope_units(scope_unit, from, known_at), self.scope_units(scope_unit, to, known_at)),
        };
        let tree_from = self.tree_in_scope(from, known_at, &scope_from);
        let tree_to = self.tree_in_scope(to, known_at, &scope_to);
        let mut audit = Audit {
            from,
            to,
            scope: scope.cloned(),
            strength_from: Strength::default(),
            strength_to: Strength::default(),
            moved_down: Vec::new(),
            moved_up: Vec::new(),
            round_trips: Vec::new(),
            units_from: tree_from.iter().map(unit_quota).collect(),
            units_to: tree_to.iter().map(unit_quota).collect(),
            subunits: subunit_changes(&tree_from, &tree_to),
            reconciliation: Reconciliation::default(),
        };
        let (categories_from, categories_to) = (self.categories_on(from, known_at), self.categories_on(to, known_at));
        // Members are independent of each other: split over the cores, each
        // part in index order; the lists are sorted by staff id below.
        let day = Days { from, to, known_at, scope_from: &scope_from, scope_to: &scope_to };
        let categories = (categories_from.as_slice(), categories_to.as_slice());
        let parts = match self.members_of(&scope_from, &scope_to) {
            None => crate::parallel::split(self.staff.len(), |range| {
                self.audit_members(range.start as StaffIx..range.end as StaffIx, &day, categories)
            }),
            Some(members) => crate::parallel::split(members.len(), |range| {
                self.audit_members(members[range].iter().copied(), &day, categories)
            }),
        };
        for part in parts {
            audit.strength_from.add(&part.strength_from);
            audit.strength_to.add(&part.strength_to);
            audit.moved_down.extend(part.moved_down);
            audit.moved_up.extend(part.moved_up);
            audit.round_trips.extend(part.round_trips);
            audit.reconciliation.add(&part.reconciliation);
        }
        let r = &mut audit.reconciliation;
        audit.moved_down.sort_by(|a, b| a.staff.cmp(&b.staff));
        audit.moved_up.sort_by(|a, b| a.staff.cmp(&b.staff));
        audit.round_trips.sort();
        r.office_posted_from = audit.strength_from.office_posted;
        r.office_posted_to = audit.strength_to.office_posted;
        assert!(r.balances(), "the audit's reconciliation does not balance: {r:?}");
        audit
    }

    /// Who can count in a scoped audit, ascending: everyone ever posted or
    /// seconded to a unit of the scope on either day (a superset of those
    /// posted there on one of them, the only ones an audit counts). `None`
    /// for a whole-ledger audit: everyone. Rationale: a sub-bureau's audit
    /// looked at every member of the ledger, 2 s at 10M events.
    fn members_of(&self, from: &Option<BTreeSet<UnitIx>>, to: &Option<BTreeSet<UnitIx>>) -> Option<Vec<StaffIx>> {
        if from.is_none() && to.is_none() {
            return None;
        }
        let units = from.iter().chain(to).flatten();
        let mut members: Vec<StaffIx> =
            units.flat_map(|u| self.units[*u as usize].staff_ever.iter().copied()).collect();
        members.sort_unstable();
        members.dedup();
        Some(members)
    }

    /// The audit's per-member part for `members`.
    fn audit_members(
        &self,
        members: impl Iterator<Item = StaffIx>,
        day: &Days,
        (categories_from, categories_to): (&[Option<Category>], &[Option<Category>]),
    ) -> Members {
        let &Days { from, to, known_at, scope_from, scope_to } = day;
        let name = |u: UnitIx| UnitId(self.unit_ids.shared(u));
        let mut part = Members::default();
        let r = &mut part.reconciliation;
        let mut category_changes = HashMap::new();
        let mut reclassifications = HashMap::new();
        let mut scratch = (Vec::new(), Vec::new());
        for s in members {
            let before = self.standing(s, from, known_at, scope_from, categories_from);
            let after = self.standing(s, to, known_at, scope_to, categories_to);
            for (standing, strength) in [(&before, &mut part.strength_from), (&after, &mut part.strength_to)] {
                if let Some(st) = standing {
                    count(strength, st.home_category, st.working_category);
                }
            }
            let office = |st: &Option<Standing>| st.as_ref().is_some_and(|st| st.home_category == Category::Office);
            let active_on = |d: Date| self.staff_on(s, d, known_at).is_some();
            match (&before, &after) {
                (Some(b), Some(a)) if b.home_category != a.home_category => {
                    let cause = if b.home == a.home {
                        MoveCause::Reclassified
                    } else if self.transferred_between(s, from, to, known_at) {
                        MoveCause::Transferred
                    } else {
                        MoveCause::Restructured
                    };
                    let down = b.home_category == Category::Office;
                    let paper_move = down && cause != MoveCause::Reclassified && a.working_category == Category::Office;
                    let entry = Move {
                        staff: StaffId(self.staff_ids.shared(s)),
                        from_unit: name(b.home),
                        to_unit: name(a.home),
                        cause,
                        working_on_to: name(a.working),
                        paper_move,
                        events: self.move_events(s, a.home, (from, to), known_at, &mut reclassifications),
                    };
                    let slot = match (down, cause) {
                        (true, MoveCause::Transferred) => &mut r.moved_down_transferred,
                        (true, MoveCause::Restructured) => &mut r.moved_down_restructured,
                        (true, MoveCause::Reclassified) => &mut r.moved_down_reclassified,
                        (false, MoveCause::Transferred) => &mut r.moved_up_transferred,
                        (false, MoveCause::Restructured) => &mut r.moved_up_restructured,
                        (false, MoveCause::Reclassified) => &mut r.moved_up_reclassified,
                    };
                    *slot += 1;
                    if down {
                        part.moved_down.push(entry);
                    } else {
                        part.moved_up.push(entry);
                    }
                }
                (Some(_), Some(_))
                    if office(&before)
                        && self.front_line_between(s, from, to, known_at, &mut category_changes, &mut scratch) =>
                {
                    part.round_trips.push(StaffId(self.staff_ids.shared(s)));
                }
                (None, Some(_)) if office(&after) => {
                    if active_on(from) {
                        r.entered_scope += 1;
                    } else {
                        r.joined += 1;
                    }
                }
                (Some(_), None) if office(&before) => {
                    if active_on(to) {
                        r.left_scope += 1;
                    } else {
                        r.left += 1;
                    }
                }
                _ => {}
            }
        }
        part
    }
}

/// The days an audit compares and the scope on each.
struct Days<'a> {
    from: Date,
    to: Date,
    known_at: Option<Seq>,
    scope_from: &'a Option<BTreeSet<UnitIx>>,
    scope_to: &'a Option<BTreeSet<UnitIx>>,
}

/// What a range of members adds to an audit.
#[derive(Default)]
struct Members {
    strength_from: Strength,
    strength_to: Strength,
    moved_down: Vec<Move>,
    moved_up: Vec<Move>,
    round_trips: Vec<StaffId>,
    reconciliation: Reconciliation,
}

fn unit_quota(node: &TreeNode) -> UnitQuota {
    let quota = node.quota.unwrap_or(node.posted);
    UnitQuota {
        unit: node.unit.clone(),
        category: node.category,
        quota: node.quota,
        posted: node.posted,
        over_quota: node.posted.saturating_sub(quota),
        vacancies: quota.saturating_sub(node.posted),
    }
}

/// Units on both trees whose number of direct children differs.
fn subunit_changes(from: &[TreeNode], to: &[TreeNode]) -> Vec<SubunitChange> {
    let children = |tree: &[TreeNode]| {
        let mut counts: BTreeMap<UnitId, u32> = tree.iter().map(|n| (n.unit.clone(), 0)).collect();
        for parent in tree.iter().filter_map(|n| n.parent.as_ref()) {
            if let Some(count) = counts.get_mut(parent) {
                *count += 1;
            }
        }
        counts
    };
    let (before, after) = (children(from), children(to));
    to.iter()
        .filter_map(|node| {
            let (was, is) = (*before.get(&node.unit)?, after[&node.unit]);
            let change = SubunitChange { unit: node.unit.clone(), name: node.name.to_string(), from: was, to: is };
            (was != is).then(|| (node.unit.clone(), change))
        })
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect()
}

fn count(strength: &mut Strength, home: Category, working: Category) {
    match home {
        Category::Office => strength.office_posted += 1,
        Category::FrontLine => strength.front_posted += 1,
    }
    match working {
        Category::Office => strength.office_working += 1,
        Category::FrontLine => strength.front_working += 1,
    }
}

/// A unit's own counts added to `strength` by its category.
fn add(strength: &mut Strength, category: Category, posted: u32, working: u32) {
    match category {
        Category::Office => {
            strength.office_posted += posted;
            strength.office_working += working;
        }
        Category::FrontLine => {
            strength.front_posted += posted;
            strength.front_working += working;
        }
    }
}

impl Timeline {
    /// Office and front-line strength on `date`, for the whole ledger or a
    /// subtree, from the units' counts: the whole tree's (O(units)), or
    /// the subtree's units alone (O(units in it)). Rationale: an audit
    /// asks this for ~50 days; over the whole tree a scoped one cost 2.3 s
    /// on the 10M benchmark ledger for a sub-bureau of a few hundred.
    pub fn strength_on(&self, date: Date, scope: Option<&UnitId>, known_at: Option<Seq>) -> Strength {
        let known_at = self.normalize(known_at);
        let mut strength = Strength::default();
        let Some(scope) = scope else {
            for node in self.tree(date, known_at) {
                add(&mut strength, node.category, node.posted, node.working);
            }
            return strength;
        };
        let Some(scope_unit) = self.unit_ids.get(scope.as_str()) else { return strength };
        for u in self.scope_units(Some(scope_unit), date, known_at).unwrap_or_default() {
            if let (UnitStatus::Active, Some(state)) = self.unit_on(u, date, known_at) {
                let counts = self.counts_of(u, date, known_at);
                add(
                    &mut strength,
                    state.category,
                    crate::queries::count(counts.posted),
                    crate::queries::count(counts.working),
                );
            }
        }
        strength
    }
}
