//! Decisions: [`Timeline::decide`] validates an event at its place in the
//! timeline and works out every history it rewrites.
//!
//! The event is inserted at (effective date, seq). Its effects make some
//! staff and units "dirty" from that place on; the simulation then re-runs,
//! in timeline order, only the later events that read or write a dirty
//! entity — their own events, the mergers and splits of the units they
//! are in, and (when a unit's days or parent change) the events that read
//! that unit or check the tree. Each re-run event is validated again; the
//! first that fails makes this event conflict with it. The cost is the
//! part of the timeline the event touches, not the size of the ledger.

use crate::history::{Mark, Pos};
use crate::reason::{ReasonCode, Rejection};
use crate::timeline::{
    Decision, Interned, InternedEstablished, InternedMerge, InternedNewUnit, InternedSplit, Overlay, Ref, Secondment,
    StaffIx, StaffState, Timeline, UnitIx, UnitState,
};
use crate::{Date, Event, MergeTarget, NewUnit, Seq};
use std::collections::{BTreeMap, BTreeSet};

type Check = Result<(), Rejection>;

fn reject<T>(code: ReasonCode, message: String) -> Result<T, Rejection> {
    Err(Rejection::new(code, message))
}

/// Turns an event's ids into indexes, allotting new ones for new ids.
struct Resolver<'a> {
    timeline: &'a Timeline,
    new_units: Vec<String>,
    new_staff: Vec<String>,
    /// Units this event establishes, to catch one named twice.
    claimed: Vec<UnitIx>,
}

impl<'a> Resolver<'a> {
    fn unit(&self, id: &crate::UnitId) -> Result<UnitIx, Rejection> {
        if let Some(i) = self.new_units.iter().position(|n| n == id.as_str()) {
            return Ok((self.timeline.units.len() + i) as UnitIx);
        }
        match self.timeline.unit_ids.get(id.as_str()) {
            Some(u) if !self.timeline.units[u as usize].history.is_empty() => Ok(u),
            _ => reject(ReasonCode::UnitUnknown, format!("unit {id} was never established")),
        }
    }

    fn new_unit_id(&mut self, id: &crate::UnitId) -> Result<UnitIx, Rejection> {
        let u = match self.timeline.unit_ids.get(id.as_str()) {
            Some(u) if !self.timeline.units[u as usize].history.is_empty() => {
                return reject(
                    ReasonCode::UnitIdAlreadyUsed,
                    format!("unit id {id} is already used; unit ids are never reused"),
                )
            }
            // An id whose establishment was retracted is free again.
            Some(u) => u,
            None => match self.new_units.iter().position(|n| n == id.as_str()) {
                Some(i) => (self.timeline.units.len() + i) as UnitIx,
                None => {
                    self.new_units.push(id.0.to_string());
                    (self.timeline.units.len() + self.new_units.len() - 1) as UnitIx
                }
            },
        };
        if self.claimed.contains(&u) {
            return reject(ReasonCode::DuplicateUnitInEvent, format!("unit {id} is named twice as a new unit"));
        }
        self.claimed.push(u);
        Ok(u)
    }

    fn new_unit(&mut self, new_unit: &NewUnit) -> Result<InternedNewUnit, Rejection> {
        let parent = new_unit.parent.as_ref().map(|p| self.unit(p)).transpose()?;
        Ok(InternedNewUnit {
            unit: self.new_unit_id(&new_unit.unit)?,
            name: new_unit.name.as_str().into(),
            category: new_unit.category,
            parent,
        })
    }

    fn staff(&self, id: &crate::StaffId) -> Result<StaffIx, Rejection> {
        match self.timeline.staff_ids.get(id.as_str()) {
            Some(s) if !self.timeline.staff[s as usize].history.is_empty() => Ok(s),
            _ => reject(ReasonCode::StaffUnknown, format!("staff {id} never joined")),
        }
    }

    fn joining_staff(&mut self, id: &crate::StaffId) -> StaffIx {
        match self.timeline.staff_ids.get(id.as_str()) {
            Some(s) => s,
            None => {
                self.new_staff.push(id.0.to_string());
                (self.timeline.staff.len() + self.new_staff.len() - 1) as StaffIx
            }
        }
    }

    fn resolve(&mut self, event: &Event) -> Result<Interned, Rejection> {
        Ok(match event {
            Event::UnitEstablished { unit, name, category, parent, quota } => {
                let parent = parent.as_ref().map(|p| self.unit(p)).transpose()?;
                Interned::UnitEstablished(Box::new(InternedEstablished {
                    unit: self.new_unit_id(unit)?,
                    name: name.as_str().into(),
                    category: *category,
                    parent,
                    quota: *quota,
                }))
            }
            Event::UnitRenamed { unit, name } => {
                Interned::UnitRenamed { unit: self.unit(unit)?, name: name.as_str().into() }
            }
            Event::UnitMoved { unit, parent } => Interned::UnitMoved {
                unit: self.unit(unit)?,
                parent: parent.as_ref().map(|p| self.unit(p)).transpose()?,
            },
            Event::UnitReclassified { unit, category } => {
                Interned::UnitReclassified { unit: self.unit(unit)?, category: *category }
            }
            Event::UnitQuotaSet { unit, quota } => Interned::UnitQuotaSet { unit: self.unit(unit)?, quota: *quota },
            Event::UnitsMerged { sources, target } => self.resolve_merge(sources, target)?,
            Event::UnitSplit { source, parts, posted, seconded, children } => {
                self.resolve_split(source, parts, posted, seconded, children)?
            }
            Event::UnitDissolved { unit } => Interned::UnitDissolved { unit: self.unit(unit)? },
            Event::StaffJoined { staff, unit } => {
                let unit = self.unit(unit)?;
                Interned::StaffJoined { staff: self.joining_staff(staff), unit }
            }
            Event::StaffTransferred { staff, from, to } => {
                Interned::StaffTransferred { staff: self.staff(staff)?, from: self.unit(from)?, to: self.unit(to)? }
            }
            Event::StaffSeconded { staff, from, to, until } => Interned::StaffSeconded {
                staff: self.staff(staff)?,
                from: self.unit(from)?,
                to: self.unit(to)?,
                until: *until,
            },
            Event::SecondmentEnded { staff } => Interned::SecondmentEnded { staff: self.staff(staff)? },
            Event::StaffLeft { staff, .. } => Interned::StaffLeft { staff: self.staff(staff)? },
            Event::EventRetracted { target, .. } => Interned::EventRetracted { target: *target },
        })
    }

    fn resolve_merge(&mut self, sources: &[crate::UnitId], target: &MergeTarget) -> Result<Interned, Rejection> {
        let mut resolved = Vec::with_capacity(sources.len());
        for source in sources {
            let u = self.unit(source)?;
            if resolved.contains(&u) {
                return reject(
                    ReasonCode::DuplicateUnitInEvent,
                    format!("unit {source} is named twice among the sources"),
                );
            }
            resolved.push(u);
        }
        let (target, new_target) = match target {
            MergeTarget::Existing(unit) => (self.unit(unit)?, None),
            MergeTarget::New(new_unit) => {
                let new_target = self.new_unit(new_unit)?;
                (new_target.unit, Some(new_target))
            }
        };
        Ok(Interned::UnitsMerged(Box::new(InternedMerge { sources: resolved.into(), target, new_target })))
    }

    fn resolve_split(
        &mut self,
        source: &crate::UnitId,
        parts: &[NewUnit],
        posted: &[crate::Allocation<crate::StaffId>],
        seconded: &[crate::Allocation<crate::StaffId>],
        children: &[crate::Allocation<crate::UnitId>],
    ) -> Result<Interned, Rejection> {
        let source = self.unit(source)?;
        let parts: Vec<InternedNewUnit> = parts.iter().map(|p| self.new_unit(p)).collect::<Result<_, _>>()?;
        let part_of = |id: &crate::UnitId| -> Result<UnitIx, Rejection> {
            let u = self.timeline.unit_ids.get(id.as_str());
            let new =
                self.new_units.iter().position(|n| n == id.as_str()).map(|i| (self.timeline.units.len() + i) as UnitIx);
            match new.or(u).filter(|u| parts.iter().any(|p| p.unit == *u)) {
                Some(u) => Ok(u),
                None => reject(
                    ReasonCode::SplitAllocationUnknownPart,
                    format!("allocation to {id}, which is not a part of this split"),
                ),
            }
        };
        let staff_allocation =
            |list: &[crate::Allocation<crate::StaffId>]| -> Result<Vec<(StaffIx, UnitIx)>, Rejection> {
                list.iter()
                    .map(|a| {
                        let part = part_of(&a.part)?;
                        match self.staff(&a.item) {
                            Ok(s) => Ok((s, part)),
                            Err(_) => reject(
                                ReasonCode::SplitAllocationExtra,
                                format!("staff {} is allocated but never joined", a.item),
                            ),
                        }
                    })
                    .collect()
            };
        let posted = staff_allocation(posted)?;
        let seconded = staff_allocation(seconded)?;
        let children = children
            .iter()
            .map(|a| {
                let part = part_of(&a.part)?;
                match self.unit(&a.item) {
                    Ok(u) => Ok((u, part)),
                    Err(_) => reject(
                        ReasonCode::SplitAllocationExtra,
                        format!("child unit {} is allocated but unknown", a.item),
                    ),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Interned::UnitSplit(Box::new(InternedSplit {
            source,
            parts: parts.into(),
            posted: posted.into(),
            seconded: seconded.into(),
            children: children.into(),
        })))
    }
}

/// Which entities an event's effects are written for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The new event: everything it changes.
    All,
    /// A later event re-run: only entities already dirty. Clean ones are
    /// in the same state as before, and an event's effect on an entity
    /// depends only on that entity's state, so their histories stand.
    DirtyOnly,
}

/// A speculative rewrite of part of the timeline.
struct Sim<'a> {
    timeline: &'a Timeline,
    new_unit_ids: &'a [String],
    new_staff_ids: &'a [String],
    /// Events at or before this place are not re-run.
    start: Pos,
    /// The event a retraction removes.
    skip: Option<Seq>,
    staff: BTreeMap<StaffIx, Overlay<StaffState>>,
    units: BTreeMap<UnitIx, Overlay<UnitState>>,
    queue: BTreeSet<Pos>,
}

impl<'a> Sim<'a> {
    fn unit_name(&self, u: UnitIx) -> &str {
        let base = self.timeline.unit_ids.len();
        if (u as usize) < base {
            self.timeline.unit_ids.name(u)
        } else {
            &self.new_unit_ids[u as usize - base]
        }
    }

    fn staff_name(&self, s: StaffIx) -> &str {
        let base = self.timeline.staff_ids.len();
        if (s as usize) < base {
            self.timeline.staff_ids.name(s)
        } else {
            &self.new_staff_ids[s as usize - base]
        }
    }

    fn staff_before(&self, s: StaffIx, pos: Pos) -> Option<StaffState> {
        match self.staff.get(&s) {
            Some(o) if pos > o.from => {
                o.steps.iter().rev().find(|(p, _)| *p < pos).map(|(_, st)| st).or(o.base_before.as_ref()).cloned()
            }
            _ => self.timeline.staff_history_of(s).and_then(|h| h.before(pos)).cloned(),
        }
    }

    fn unit_before(&self, u: UnitIx, pos: Pos) -> Option<UnitState> {
        match self.units.get(&u) {
            Some(o) if pos > o.from => {
                o.steps.iter().rev().find(|(p, _)| *p < pos).map(|(_, st)| st).or(o.base_before.as_ref()).cloned()
            }
            _ => self.timeline.unit_history(u).and_then(|h| h.before(pos)).cloned(),
        }
    }

    fn enqueue(&mut self, refs: &[Mark], after: Pos) {
        let floor = after.max(self.start);
        let i = refs.partition_point(|p| p.pos() <= floor);
        self.queue.extend(refs[i..].iter().map(|m| m.pos()));
    }

    fn enqueue_structural(&mut self, unit: UnitIx, after: Pos) {
        if let Some(record) = self.timeline.units.get(unit as usize) {
            self.enqueue(&record.structural_refs, after);
        }
    }

    fn enqueue_unit_readers(&mut self, unit: UnitIx, from: Pos) {
        if let Some(record) = self.timeline.units.get(unit as usize) {
            self.enqueue(&record.read_refs, from);
        }
        let floor = from.max(self.start);
        let later: Vec<Pos> =
            self.timeline.tree_refs.range(Mark::of(floor)..).filter(|p| p.pos() > floor).map(|p| p.pos()).collect();
        self.queue.extend(later);
    }

    fn dirty_staff(&mut self, s: StaffIx, from: Pos) -> &mut Overlay<StaffState> {
        if !self.staff.contains_key(&s) {
            let history = self.timeline.staff_history_of(s);
            let base_before = history.and_then(|h| h.before(from)).cloned();
            // Every accepted event that names a member writes a step for
            // them at its place, so the later steps list every later event
            // that reads this member (and the mergers and dissolutions that
            // moved them, whose re-run changes nothing else): no separate
            // index of the events naming a member.
            if let Some(history) = history {
                let floor = from.max(self.start);
                let live = history.live();
                let i = live.partition_point(|step| step.pos.pos() <= floor);
                self.queue.extend(live[i..].iter().map(|step| step.pos.pos()));
            }
            self.staff.insert(s, Overlay { from, base_before, steps: Vec::new(), structure_changed: false });
        }
        self.staff.get_mut(&s).expect("inserted above")
    }

    fn write_staff(&mut self, s: StaffIx, pos: Pos, state: StaffState) {
        let (home, host) = (state.home, state.secondment.as_ref().map(|x| x.host));
        let overlay = self.dirty_staff(s, pos);
        debug_assert!(overlay.steps.last().is_none_or(|(p, _)| *p < pos));
        overlay.steps.push((pos, state));
        self.enqueue_structural(home, pos);
        if let Some(host) = host {
            self.enqueue_structural(host, pos);
        }
    }

    fn dirty_unit(&mut self, u: UnitIx, from: Pos) -> &mut Overlay<UnitState> {
        if !self.units.contains_key(&u) {
            let history = self.timeline.unit_history(u);
            let base_before = history.and_then(|h| h.before(from)).cloned();
            if let Some(record) = self.timeline.units.get(u as usize) {
                self.enqueue(&record.own_refs, from);
            }
            self.units.insert(u, Overlay { from, base_before, steps: Vec::new(), structure_changed: false });
        }
        self.units.get_mut(&u).expect("inserted above")
    }

    /// Marks that a unit's days active or parent now differ from before,
    /// so every later event that reads the unit or checks the tree runs again.
    fn note_structure(&mut self, u: UnitIx, now: Option<&UnitState>, pos: Pos) {
        let base = self.timeline.unit_history(u).and_then(|h| h.at_or_before(pos));
        let shape = |s: Option<&UnitState>| s.map(|s| (s.open, s.parent));
        if shape(base) != shape(now) {
            let overlay = self.units.get_mut(&u).expect("dirty before noted");
            if !overlay.structure_changed {
                overlay.structure_changed = true;
                let from = overlay.from;
                self.enqueue_unit_readers(u, from);
            }
        }
    }

    fn write_unit(&mut self, u: UnitIx, pos: Pos, state: UnitState) {
        let parent = state.parent;
        let overlay = self.dirty_unit(u, pos);
        debug_assert!(overlay.steps.last().is_none_or(|(p, _)| *p < pos));
        overlay.steps.push((pos, state.clone()));
        self.note_structure(u, Some(&state), pos);
        if let Some(parent) = parent {
            self.enqueue_structural(parent, pos);
        }
    }

    fn emit_staff(&mut self, scope: Scope, s: StaffIx, pos: Pos, state: StaffState) {
        if scope == Scope::All || self.staff.contains_key(&s) {
            self.write_staff(s, pos, state);
        }
    }

    fn emit_unit(&mut self, scope: Scope, u: UnitIx, pos: Pos, state: UnitState) {
        if scope == Scope::All || self.units.contains_key(&u) {
            self.write_unit(u, pos, state);
        }
    }

    // ---- reads used by validation ----

    fn active_unit(&self, u: UnitIx, pos: Pos) -> Result<UnitState, Rejection> {
        match self.unit_before(u, pos) {
            Some(state) if state.open => Ok(state),
            Some(_) => {
                reject(ReasonCode::UnitNotActive, format!("unit {} is closed on {}", self.unit_name(u), pos.date))
            }
            None => reject(
                ReasonCode::UnitNotActive,
                format!("unit {} is not yet established on {}", self.unit_name(u), pos.date),
            ),
        }
    }

    /// Whether `unit` is `ancestor` or below it, in the tree before `pos`.
    fn at_or_below(&self, unit: UnitIx, ancestor: UnitIx, pos: Pos) -> bool {
        let mut current = Some(unit);
        // The tree has no cycles, so the walk ends within one step per unit.
        for _ in 0..=self.timeline.units.len() + self.new_unit_ids.len() {
            match current {
                Some(u) if u == ancestor => return true,
                Some(u) => current = self.unit_before(u, pos).and_then(|s| s.parent),
                None => return false,
            }
        }
        panic!("cycle in the unit tree above {}", self.unit_name(unit));
    }

    fn active_staff(&self, s: StaffIx, pos: Pos) -> Result<StaffState, Rejection> {
        match self.staff_before(s, pos) {
            Some(state) if state.active => Ok(state.on(pos.date)),
            Some(_) => reject(
                ReasonCode::StaffNotActive,
                format!("staff {} is not active on {} (left)", self.staff_name(s), pos.date),
            ),
            None => reject(
                ReasonCode::StaffNotActive,
                format!("staff {} has not joined by {}", self.staff_name(s), pos.date),
            ),
        }
    }

    fn staff_at_home(&self, s: StaffIx, unit: UnitIx, pos: Pos) -> Result<StaffState, Rejection> {
        let state = self.active_staff(s, pos)?;
        if state.home != unit {
            return reject(
                ReasonCode::StaffNotInUnit,
                format!(
                    "staff {} is posted at {}, not {}, on {}",
                    self.staff_name(s),
                    self.unit_name(state.home),
                    self.unit_name(unit),
                    pos.date
                ),
            );
        }
        Ok(state)
    }

    /// Active staff posted at or seconded into any of `units` just before
    /// `pos`, each with their state on that day.
    fn staff_in(&self, units: &[UnitIx], pos: Pos, scope: Scope) -> Vec<(StaffIx, StaffState)> {
        let mut candidates: BTreeSet<StaffIx> = self.staff.keys().copied().collect();
        if scope == Scope::All {
            for u in units {
                if let Some(record) = self.timeline.units.get(*u as usize) {
                    candidates.extend(record.staff_ever.iter().copied());
                }
            }
        }
        candidates
            .into_iter()
            .filter_map(|s| {
                let state = self.staff_before(s, pos)?.on(pos.date);
                let inside =
                    units.contains(&state.home) || state.secondment.as_ref().is_some_and(|x| units.contains(&x.host));
                (state.active && inside).then_some((s, state))
            })
            .collect()
    }

    /// Active units whose parent is one of `units`, just before `pos`.
    fn children_of(&self, units: &[UnitIx], pos: Pos, scope: Scope) -> Vec<(UnitIx, UnitState)> {
        let mut candidates: BTreeSet<UnitIx> = self.units.keys().copied().collect();
        if scope == Scope::All {
            for u in units {
                if let Some(record) = self.timeline.units.get(*u as usize) {
                    candidates.extend(record.children_ever.iter().copied());
                }
            }
        }
        candidates
            .into_iter()
            .filter_map(|c| {
                let state = self.unit_before(c, pos)?;
                (state.open && state.parent.is_some_and(|p| units.contains(&p))).then_some((c, state))
            })
            .collect()
    }

    // ---- validation: the "valid when" column of SPEC.md ----

    /// Whether `ev` may take effect at `pos` as the histories stand.
    fn check(&self, ev: &Interned, pos: Pos) -> Check {
        match ev {
            Interned::StaffJoined { .. }
            | Interned::StaffTransferred { .. }
            | Interned::StaffSeconded { .. }
            | Interned::SecondmentEnded { .. }
            | Interned::StaffLeft { .. } => self.check_staff_event(ev, pos),
            Interned::EventRetracted { .. } => unreachable!("retractions are checked by Sim::retract"),
            _ => self.check_unit_event(ev, pos),
        }
    }

    fn check_unit_event(&self, ev: &Interned, pos: Pos) -> Check {
        let date = pos.date;
        match ev {
            Interned::UnitEstablished(established) => {
                if let Some(parent) = &established.parent {
                    self.active_unit(*parent, pos)?;
                }
                Ok(())
            }
            Interned::UnitRenamed { unit, .. } | Interned::UnitQuotaSet { unit, .. } => {
                self.active_unit(*unit, pos).map(drop)
            }
            Interned::UnitMoved { unit, parent } => self.check_move(*unit, *parent, pos),
            Interned::UnitReclassified { unit, category } => {
                let state = self.active_unit(*unit, pos)?;
                if state.category == *category {
                    return reject(
                        ReasonCode::CategoryUnchanged,
                        format!("unit {} is already {} on {date}", self.unit_name(*unit), category.as_str()),
                    );
                }
                Ok(())
            }
            Interned::UnitsMerged(merged) => {
                self.check_merge(&merged.sources, merged.target, merged.new_target.as_ref(), pos)
            }
            Interned::UnitSplit(split) => {
                let InternedSplit { source, parts, posted, seconded, children } = &**split;
                self.check_split(*source, parts, posted, seconded, children, pos)
            }
            Interned::UnitDissolved { unit } => self.check_dissolve(*unit, pos),
            _ => unreachable!("a staff event or a retraction"),
        }
    }

    fn check_staff_event(&self, ev: &Interned, pos: Pos) -> Check {
        let date = pos.date;
        match ev {
            Interned::StaffJoined { staff, unit } => {
                if self.staff_before(*staff, pos).is_some_and(|s| s.active) {
                    return reject(
                        ReasonCode::StaffAlreadyActive,
                        format!("staff {} is already active on {date}", self.staff_name(*staff)),
                    );
                }
                self.active_unit(*unit, pos).map(drop)
            }
            Interned::StaffTransferred { staff, from, to } => {
                self.staff_at_home(*staff, *from, pos)?;
                self.check_destination(*staff, *from, *to, pos)
            }
            Interned::StaffSeconded { staff, from, to, until } => {
                self.check_secondment(*staff, *from, *to, *until, pos)
            }
            Interned::SecondmentEnded { staff } => {
                let state = self.active_staff(*staff, pos)?;
                if state.seconded_on(date).is_none() {
                    return reject(
                        ReasonCode::NotSeconded,
                        format!("staff {} is not seconded on {date}", self.staff_name(*staff)),
                    );
                }
                Ok(())
            }
            Interned::StaffLeft { staff } => self.active_staff(*staff, pos).map(drop),
            _ => unreachable!("a unit event or a retraction"),
        }
    }

    fn check_move(&self, unit: UnitIx, parent: Option<UnitIx>, pos: Pos) -> Check {
        let date = pos.date;
        self.active_unit(unit, pos)?;
        if let Some(parent) = parent {
            self.active_unit(parent, pos)?;
            if self.at_or_below(parent, unit, pos) {
                return reject(
                    ReasonCode::UnitCycle,
                    format!(
                        "moving {} under {} on {date} would make a cycle",
                        self.unit_name(unit),
                        self.unit_name(parent)
                    ),
                );
            }
        }
        Ok(())
    }

    fn check_dissolve(&self, unit: UnitIx, pos: Pos) -> Check {
        let date = pos.date;
        self.active_unit(unit, pos)?;
        let staff = self.staff_in(&[unit], pos, Scope::All);
        let children = self.children_of(&[unit], pos, Scope::All);
        if let Some((s, _)) = staff.first() {
            return reject(
                ReasonCode::UnitNotEmpty,
                format!(
                    "unit {} still has staff {} (and {} more) on {date}",
                    self.unit_name(unit),
                    self.staff_name(*s),
                    staff.len() - 1
                ),
            );
        }
        if let Some((c, _)) = children.first() {
            return reject(
                ReasonCode::UnitNotEmpty,
                format!("unit {} still has active child unit {} on {date}", self.unit_name(unit), self.unit_name(*c)),
            );
        }
        Ok(())
    }

    fn check_secondment(&self, staff: StaffIx, from: UnitIx, to: UnitIx, until: Option<Date>, pos: Pos) -> Check {
        let date = pos.date;
        let state = self.staff_at_home(staff, from, pos)?;
        if let Some(secondment) = state.seconded_on(date) {
            return reject(
                ReasonCode::AlreadySeconded,
                format!(
                    "staff {} is already seconded to {} on {date}",
                    self.staff_name(staff),
                    self.unit_name(secondment.host)
                ),
            );
        }
        self.check_destination(staff, from, to, pos)?;
        match until {
            Some(until) if until < date => reject(
                ReasonCode::UntilBeforeEffectiveDate,
                format!("secondment of {} until {until} ends before it starts on {date}", self.staff_name(staff)),
            ),
            _ => Ok(()),
        }
    }

    fn check_destination(&self, staff: StaffIx, from: UnitIx, to: UnitIx, pos: Pos) -> Check {
        if to == from {
            return reject(
                ReasonCode::SameUnit,
                format!("staff {} is already posted at {}", self.staff_name(staff), self.unit_name(to)),
            );
        }
        self.active_unit(to, pos).map(drop)
    }

    fn check_merge(&self, sources: &[UnitIx], target: UnitIx, new_target: Option<&InternedNewUnit>, pos: Pos) -> Check {
        for source in sources {
            self.active_unit(*source, pos)?;
        }
        let inside = |unit: UnitIx| sources.iter().find(|s| self.at_or_below(unit, **s, pos)).copied();
        match new_target {
            Some(new_target) => {
                if let Some(parent) = new_target.parent {
                    self.active_unit(parent, pos)?;
                    if let Some(source) = inside(parent) {
                        return reject(
                            ReasonCode::MergeTargetInsideSources,
                            format!(
                                "new target's parent {} is {} or below it on {}",
                                self.unit_name(parent),
                                self.unit_name(source),
                                pos.date
                            ),
                        );
                    }
                }
            }
            None => {
                self.active_unit(target, pos)?;
                if let Some(source) = inside(target) {
                    return reject(
                        ReasonCode::MergeTargetInsideSources,
                        format!(
                            "merge target {} is source {} or below it on {}",
                            self.unit_name(target),
                            self.unit_name(source),
                            pos.date
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    fn check_split(
        &self,
        source: UnitIx,
        parts: &[InternedNewUnit],
        posted: &[(StaffIx, UnitIx)],
        seconded: &[(StaffIx, UnitIx)],
        children: &[(UnitIx, UnitIx)],
        pos: Pos,
    ) -> Check {
        self.active_unit(source, pos)?;
        for part in parts {
            if let Some(parent) = part.parent {
                self.active_unit(parent, pos)?;
                if self.at_or_below(parent, source, pos) {
                    return reject(
                        ReasonCode::SplitPartInsideSource,
                        format!(
                            "part {}'s parent {} is the source {} or below it",
                            self.unit_name(part.unit),
                            self.unit_name(parent),
                            self.unit_name(source)
                        ),
                    );
                }
            }
        }
        let members = self.staff_in(&[source], pos, Scope::All);
        let posted_here: BTreeSet<StaffIx> =
            members.iter().filter(|(_, s)| s.home == source).map(|(s, _)| *s).collect();
        let seconded_here: BTreeSet<StaffIx> =
            members.iter().filter(|(_, s)| s.home != source).map(|(s, _)| *s).collect();
        let child_units: BTreeSet<UnitIx> =
            self.children_of(&[source], pos, Scope::All).into_iter().map(|(c, _)| c).collect();
        let what = [("posted staff", posted_here), ("secondee", seconded_here)];
        let lists = [posted, seconded];
        for ((label, expected), given) in what.iter().zip(lists) {
            self.check_allocation(
                label,
                expected,
                given.iter().map(|(s, _)| *s),
                |s| self.staff_name(s).to_owned(),
                source,
                pos,
            )?;
        }
        self.check_allocation(
            "child unit",
            &child_units,
            children.iter().map(|(c, _)| *c),
            |u| self.unit_name(u).to_owned(),
            source,
            pos,
        )
    }

    fn check_allocation(
        &self,
        label: &str,
        expected: &BTreeSet<u32>,
        given: impl Iterator<Item = u32>,
        name: impl Fn(u32) -> String,
        source: UnitIx,
        pos: Pos,
    ) -> Check {
        let mut seen = BTreeSet::new();
        for item in given {
            if !expected.contains(&item) || !seen.insert(item) {
                return reject(
                    ReasonCode::SplitAllocationExtra,
                    format!(
                        "{label} {} is allocated but is not in {} on {} (or is allocated twice)",
                        name(item),
                        self.unit_name(source),
                        pos.date
                    ),
                );
            }
        }
        if let Some(missing) = expected.difference(&seen).next() {
            return reject(
                ReasonCode::SplitAllocationIncomplete,
                format!(
                    "{label} {} is in {} on {} but not allocated to a part",
                    name(*missing),
                    self.unit_name(source),
                    pos.date
                ),
            );
        }
        Ok(())
    }

    // ---- effects: what each event changes, from its place on ----

    fn effects(&mut self, ev: &Interned, pos: Pos, scope: Scope) {
        match ev {
            Interned::UnitEstablished(established) => {
                let InternedEstablished { unit, name, category, parent, quota } = &**established;
                let state =
                    UnitState { name: name.clone(), category: *category, parent: *parent, quota: *quota, open: true };
                self.emit_unit(scope, *unit, pos, state);
            }
            Interned::UnitRenamed { unit, name } => self.change_unit(scope, *unit, pos, |s| s.name = name.clone()),
            Interned::UnitMoved { unit, parent } => self.change_unit(scope, *unit, pos, |s| s.parent = *parent),
            Interned::UnitReclassified { unit, category } => {
                self.change_unit(scope, *unit, pos, |s| s.category = *category)
            }
            Interned::UnitQuotaSet { unit, quota } => self.change_unit(scope, *unit, pos, |s| s.quota = Some(*quota)),
            Interned::UnitsMerged(merged) => self.merge_effects(merged, pos, scope),
            Interned::UnitSplit(split) => self.split_effects(split, pos, scope),
            Interned::UnitDissolved { unit } => self.change_unit(scope, *unit, pos, |s| s.open = false),
            Interned::StaffJoined { staff, unit } => {
                let state = StaffState { active: true, home: *unit, secondment: None };
                self.emit_staff(scope, *staff, pos, state);
            }
            Interned::StaffTransferred { staff, to, .. } => self.change_staff(scope, *staff, pos, |state| {
                state.home = *to;
                if state.secondment.as_ref().is_some_and(|x| x.host == *to) {
                    state.secondment = None;
                }
            }),
            Interned::StaffSeconded { staff, to, until, .. } => self.change_staff(scope, *staff, pos, |state| {
                state.secondment = Some(Secondment { host: *to, until: *until });
            }),
            Interned::SecondmentEnded { staff } => {
                self.change_staff(scope, *staff, pos, |state| state.secondment = None)
            }
            Interned::StaffLeft { staff } => self.change_staff(scope, *staff, pos, |state| {
                state.active = false;
                state.secondment = None;
            }),
            Interned::EventRetracted { .. } => unreachable!("retractions have no effects of their own"),
        }
    }

    /// The sources close; their open children and their staff (posted or
    /// seconded there) go to the target.
    fn merge_effects(&mut self, merged: &InternedMerge, pos: Pos, scope: Scope) {
        let InternedMerge { sources, target, new_target } = merged;
        for source in sources.iter() {
            self.change_unit(scope, *source, pos, |s| s.open = false);
        }
        if let Some(new_target) = new_target {
            self.emit_unit(scope, *target, pos, new_target.state());
        }
        // A source below another source closes with the rest; only
        // the children that stay open move under the target.
        let children = self.children_of(sources, pos, scope).into_iter().filter(|(c, _)| !sources.contains(c));
        for (child, mut state) in children.collect::<Vec<_>>() {
            state.parent = Some(*target);
            self.emit_unit(scope, child, pos, state);
        }
        for (s, mut state) in self.staff_in(sources, pos, scope) {
            if sources.contains(&state.home) {
                state.home = *target;
            }
            if let Some(secondment) = &mut state.secondment {
                if sources.contains(&secondment.host) {
                    secondment.host = *target;
                }
                if secondment.host == state.home {
                    state.secondment = None;
                }
            }
            self.emit_staff(scope, s, pos, state);
        }
    }

    /// The source closes; its parts open and take the staff and children
    /// the split allocates to them.
    fn split_effects(&mut self, split: &InternedSplit, pos: Pos, scope: Scope) {
        let InternedSplit { source, parts, posted, seconded, children } = split;
        self.change_unit(scope, *source, pos, |s| s.open = false);
        for part in parts.iter() {
            self.emit_unit(scope, part.unit, pos, part.state());
        }
        for (child, part) in children.iter() {
            self.change_unit(scope, *child, pos, |s| s.parent = Some(*part));
        }
        for (s, part) in posted.iter() {
            self.change_staff(scope, *s, pos, |state| state.home = *part);
        }
        for (s, part) in seconded.iter() {
            self.change_staff(scope, *s, pos, |state| {
                if let Some(secondment) = &mut state.secondment {
                    secondment.host = *part;
                }
            });
        }
    }

    fn change_unit(&mut self, scope: Scope, u: UnitIx, pos: Pos, change: impl FnOnce(&mut UnitState)) {
        if scope == Scope::DirtyOnly && !self.units.contains_key(&u) {
            return;
        }
        let mut state = self.unit_before(u, pos).expect("validated: the unit exists");
        change(&mut state);
        self.write_unit(u, pos, state);
    }

    fn change_staff(&mut self, scope: Scope, s: StaffIx, pos: Pos, change: impl FnOnce(&mut StaffState)) {
        if scope == Scope::DirtyOnly && !self.staff.contains_key(&s) {
            return;
        }
        let mut state = self.staff_before(s, pos).expect("validated: the staff member exists").on(pos.date);
        change(&mut state);
        self.write_staff(s, pos, state);
    }

    /// Re-runs every queued later event against the rewritten histories.
    fn run(&mut self) -> Check {
        while let Some(pos) = self.queue.pop_first() {
            if Some(pos.seq) == self.skip {
                continue;
            }
            let record = self.timeline.record(pos.seq).expect("indexes list only accepted events");
            debug_assert!(record.retracted_by().is_none() && record.pos(pos.seq) == pos);
            if let Err(inner) = self.check(&record.ev, pos) {
                return Err(Rejection {
                    code: ReasonCode::ConflictsWithLaterEvent,
                    message: format!(
                        "accepted event seq {} ({}, effective {}) would become invalid: {}",
                        pos.seq,
                        record.ev.kind().as_str(),
                        pos.date,
                        inner
                    ),
                    conflicting_seqs: vec![pos.seq],
                });
            }
            self.effects(&record.ev, pos, Scope::DirtyOnly);
        }
        Ok(())
    }

    /// A retraction: the target's writes are undone at its place, and the
    /// rest of the timeline is re-run against that.
    /// `seq` is the retraction's own sequence: every sequence below it was
    /// recorded by the ledger, so an unknown one below it was rejected.
    fn retract(&mut self, target: Seq, seq: Seq) -> Check {
        let record = match self.timeline.record(target) {
            Some(record) => record,
            None if target >= 1 && target < seq => {
                return reject(
                    ReasonCode::RetractionTargetRejected,
                    format!("event seq {target} was rejected; there is nothing to retract"),
                )
            }
            None => return reject(ReasonCode::RetractionTargetUnknown, format!("there is no event seq {target}")),
        };
        if let Some(by) = record.retracted_by() {
            return reject(
                ReasonCode::AlreadyRetracted,
                format!("event seq {target} was already retracted by seq {by}"),
            );
        }
        if let Interned::EventRetracted { .. } = record.ev {
            return reject(
                ReasonCode::RetractionTargetIsRetraction,
                format!("event seq {target} is itself a retraction"),
            );
        }
        let pos = record.pos(target);
        self.start = pos;
        self.skip = Some(target);
        let (units, staff) = self.written_by(&record.ev);
        for u in units {
            if self.timeline.units[u as usize].history.has_step_at(pos) {
                let overlay = self.dirty_unit(u, pos);
                let before = overlay.base_before.clone();
                self.note_structure(u, before.as_ref(), pos);
                if let Some(parent) = before.and_then(|b| b.parent) {
                    self.enqueue_structural(parent, pos);
                }
            }
        }
        for s in staff {
            if self.timeline.staff[s as usize].history.has_step_at(pos) {
                let before = self.dirty_staff(s, pos).base_before.clone();
                if let Some(before) = before {
                    self.enqueue_structural(before.home, pos);
                    if let Some(secondment) = before.secondment {
                        self.enqueue_structural(secondment.host, pos);
                    }
                }
            }
        }
        self.run()
    }

    /// Candidates for the entities an accepted event wrote: those it names
    /// and everything ever in the units it restructured.
    fn written_by(&self, ev: &Interned) -> (BTreeSet<UnitIx>, BTreeSet<StaffIx>) {
        let (mut units, mut staff) = (BTreeSet::new(), BTreeSet::new());
        ev.for_each_ref(|r| match r {
            Ref::Staff(s) => {
                staff.insert(s);
            }
            Ref::UnitOwn(u) => {
                units.insert(u);
            }
            Ref::UnitRead(_) | Ref::UnitStructural(_) | Ref::Tree => {}
        });
        for u in ev.structural_units() {
            let record = &self.timeline.units[*u as usize];
            units.extend(record.children_ever.iter().copied());
            staff.extend(record.staff_ever.iter().copied());
        }
        (units, staff)
    }
}

impl Timeline {
    /// Decision: validates `event`, effective on `date`, as the ledger's
    /// entry `seq`, against the whole timeline with the event inserted at
    /// its place. Pure: the timeline is not changed; pass the decision to
    /// [`Timeline::apply`] to record it.
    pub fn decide(&self, seq: Seq, date: Date, event: &Event) -> Result<Decision, Rejection> {
        assert!(seq > self.last_seq, "sequence {seq} not after {}", self.last_seq);
        assert!(seq <= crate::SEQ_MAX, "sequence {seq} beyond the timeline's capacity (the ledger checks first)");
        let pos = Pos { date, seq };
        let mut resolver =
            Resolver { timeline: self, new_units: Vec::new(), new_staff: Vec::new(), claimed: Vec::new() };
        let ev = resolver.resolve(event)?;
        let Resolver { new_units, new_staff, .. } = resolver;
        let mut sim = Sim {
            timeline: self,
            new_unit_ids: &new_units,
            new_staff_ids: &new_staff,
            start: pos,
            skip: None,
            staff: BTreeMap::new(),
            units: BTreeMap::new(),
            queue: BTreeSet::new(),
        };
        if let Interned::EventRetracted { target } = ev {
            sim.retract(target, seq)?;
        } else {
            sim.check(&ev, pos)?;
            sim.effects(&ev, pos, Scope::All);
            sim.run()?;
        }
        let Sim { staff, units, .. } = sim;
        Ok(Decision {
            pos,
            ev,
            base_last_seq: self.last_seq,
            new_unit_ids: new_units,
            new_staff_ids: new_staff,
            staff,
            units,
        })
    }
}
