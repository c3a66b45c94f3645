//! A large, realistic synthetic ledger for benchmarks: at the default scale
//! 10M events over ten years — 50k units in a tree five levels deep, 1M
//! staff — with transfers, secondments with and without an end, early
//! returns, leavers and joiners, quota changes, renames, relabelling,
//! mergers and splits of leaf units, about 2% backdated orders, a few
//! retractions, and about 0.5% events the ledger must reject (each of a
//! known reason). Everything scales with `events`: staff = events / 10,
//! units = events / 200.
//!
//! Streaming: events are handed to a callback in publishing order, so 10M
//! events never sit in memory. State is numeric (indexes, not strings) so
//! generation runs at a few hundred thousand events a second.

use crate::rng::Rng;
use muster_domain::Date;
use muster_proto::wire::{
    Envelope, EventBody, EventRef, EventRetracted, NewUnit, SecondmentEnded, StaffAllocation, StaffJoined, StaffLeft,
    StaffSeconded, StaffTransferred, UnitEstablished, UnitQuotaSet, UnitReclassified, UnitRenamed, UnitSplit,
    UnitsMerged, WireCategory, WireDate,
};

/// The publishing system of every synthetic event.
pub const SOURCE: &str = "hr/bench";
/// The first day.
pub const START: &str = "2010-01-01";
/// Days simulated after the first (ten years).
pub const DAYS: u32 = 3652;

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Events in all (the last day may run a few over).
    pub events: u64,
    /// The seed.
    pub seed: u64,
}

impl Config {
    /// Staff hired on the first day.
    pub fn staff(&self) -> u32 {
        (self.events / 10).max(100) as u32
    }

    /// Units established on the first day.
    pub fn units(&self) -> u32 {
        (self.events / 200).max(60) as u32
    }
}

/// What came out, by kind, for the benchmark report.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Events emitted.
    pub events: u64,
    /// Of which effective before the day they were keyed in.
    pub backdated: u64,
    /// Of which retractions.
    pub retractions: u64,
    /// Of which built to be rejected.
    pub invalid: u64,
    /// Of which mergers and splits.
    pub restructurings: u64,
}

const NONE: u32 = u32::MAX;

struct UnitT {
    parent: u32,

    front: bool,
    active: bool,
    /// Last day a merger, split or establishment changed who is in it.
    changed: Date,
    members: Vec<u32>,
    /// Leaf index in `leaves` (level 4 only).
    leaf_pos: u32,
}

struct StaffT {
    home: u32,
    pos: u32,
    host: u32,
    until: Option<Date>,
    active: bool,
    /// The last day an event of theirs took effect.
    last: Date,
    active_pos: u32,
}

impl StaffT {
    fn seconded_on(&self, date: Date) -> bool {
        self.host != NONE && self.until.is_none_or(|u| u >= date)
    }
}

struct Gen {
    rng: Rng,
    units: Vec<UnitT>,
    staff: Vec<StaffT>,
    /// Active staff, for uniform picks.
    active: Vec<u32>,
    /// Active leaf units.
    leaves: Vec<u32>,
    /// Per unit, staff seconded into it at some point (stale entries
    /// dropped when read).
    hosted: Vec<Vec<u32>>,
    /// Active units, for uniform picks (stale entries skipped).
    unit_pool: Vec<u32>,
    next_event: u64,
    /// Transfers of yesterday that may be retracted today: (event id, staff, from, to, day).
    retractable: Vec<(String, u32, u32, u32, Date)>,
    tally: Tally,
}

fn unit_id(u: u32) -> String {
    format!("U{u:06}")
}

fn staff_id(s: u32) -> String {
    format!("S{s:07}")
}

fn category(front: bool) -> WireCategory {
    if front {
        WireCategory::FrontLine
    } else {
        WireCategory::Office
    }
}

impl Gen {
    fn envelope(&mut self, date: Date, body: EventBody) -> Envelope {
        self.next_event += 1;
        Envelope {
            id: format!("e{:09}", self.next_event),
            source: SOURCE.into(),
            effective_date: WireDate(date),
            order_ref: None,
            note: None,
            body,
        }
    }

    fn add_member(&mut self, u: u32, s: u32) {
        self.staff[s as usize].home = u;
        self.staff[s as usize].pos = self.units[u as usize].members.len() as u32;
        self.units[u as usize].members.push(s);
    }

    fn remove_member(&mut self, s: u32) {
        let (u, pos) = (self.staff[s as usize].home, self.staff[s as usize].pos);
        let members = &mut self.units[u as usize].members;
        members.swap_remove(pos as usize);
        if let Some(&moved) = members.get(pos as usize) {
            self.staff[moved as usize].pos = pos;
        }
    }

    fn deactivate_staff(&mut self, s: u32) {
        let pos = self.staff[s as usize].active_pos as usize;
        self.active.swap_remove(pos);
        if let Some(&moved) = self.active.get(pos) {
            self.staff[moved as usize].active_pos = pos as u32;
        }
        self.staff[s as usize].active = false;
    }

    fn new_unit(&mut self, parent: u32, level: u8, front: bool, date: Date) -> u32 {
        let u = self.units.len() as u32;
        let leaf_pos = if level == 4 {
            self.leaves.push(u);
            self.leaves.len() as u32 - 1
        } else {
            NONE
        };
        self.units.push(UnitT { parent, front, active: true, changed: date, members: Vec::new(), leaf_pos });
        self.hosted.push(Vec::new());
        self.unit_pool.push(u);
        u
    }

    fn close_unit(&mut self, u: u32) {
        self.units[u as usize].active = false;
        let pos = self.units[u as usize].leaf_pos;
        if pos != NONE {
            self.leaves.swap_remove(pos as usize);
            if let Some(&moved) = self.leaves.get(pos as usize) {
                self.units[moved as usize].leaf_pos = pos;
            }
        }
    }

    fn random_unit(&mut self) -> u32 {
        loop {
            let i = self.rng.below(self.unit_pool.len() as u64) as usize;
            let u = self.unit_pool[i];
            if self.units[u as usize].active {
                return u;
            }
            self.unit_pool.swap_remove(i);
        }
    }

    fn random_staff(&mut self) -> u32 {
        self.active[self.rng.below(self.active.len() as u64) as usize]
    }

    fn establish(&mut self, date: Date, parent: u32, level: u8, front: bool) -> Envelope {
        let u = self.new_unit(parent, level, front, date);
        let quota = 5 + self.rng.below(40) as u32;
        self.envelope(
            date,
            EventBody::UnitEstablished(UnitEstablished {
                unit: unit_id(u),
                name: format!("Unit {u} L{level}"),
                category: category(front),
                parent: (parent != NONE).then(|| unit_id(parent)),
                quota: Some(quota),
            }),
        )
    }

    fn join(&mut self, date: Date, u: u32) -> Envelope {
        let s = self.staff.len() as u32;
        self.staff.push(StaffT {
            home: u,
            pos: 0,
            host: NONE,
            until: None,
            active: true,
            last: date,
            active_pos: self.active.len() as u32,
        });
        self.active.push(s);
        self.add_member(u, s);
        self.envelope(date, EventBody::StaffJoined(StaffJoined { staff: staff_id(s), unit: unit_id(u) }))
    }

    /// A staff member and a unit to transfer them to, on `date`.
    fn transfer_pair(&mut self, date: Date) -> Option<(u32, u32)> {
        for _ in 0..8 {
            let s = self.random_staff();
            let to = self.random_unit();
            let st = &self.staff[s as usize];
            if to != st.home && st.last <= date {
                return Some((s, to));
            }
        }
        None
    }

    fn transfer(&mut self, date: Date, s: u32, to: u32) -> Envelope {
        let from = self.staff[s as usize].home;
        self.remove_member(s);
        self.add_member(to, s);
        let st = &mut self.staff[s as usize];
        if st.host == to {
            st.host = NONE;
        }
        st.last = st.last.max(date);
        self.envelope(
            date,
            EventBody::StaffTransferred(StaffTransferred { staff: staff_id(s), from: unit_id(from), to: unit_id(to) }),
        )
    }

    /// One event of an ordinary day, keyed in on `today`.
    fn ordinary(&mut self, today: Date) -> Option<Envelope> {
        let roll = self.rng.below(10_000);
        match roll {
            // 2% backdated transfers, 1 to 60 days late.
            0..200 => self.backdated(today),
            // 0.5% built to be rejected.
            200..250 => Some(self.invalid(today)),
            250..5750 => {
                let (s, to) = self.transfer_pair(today)?;
                let from = self.staff[s as usize].home;
                // A transfer that ends a secondment is never retracted here
                // (undoing it would bring the secondment back).
                let plain = !self.staff[s as usize].seconded_on(today);
                let e = self.transfer(today, s, to);
                if plain && self.rng.below(2000) == 0 {
                    self.retractable.push((e.id.clone(), s, from, to, today));
                }
                Some(e)
            }
            5750..6950 => {
                // Seconded, with an end (60%) or without.
                let s = self.random_staff();
                let to = self.random_unit();
                let st = &self.staff[s as usize];
                if st.seconded_on(today) || to == st.home || st.last > today {
                    return None;
                }
                let until = self.rng.chance(60).then(|| {
                    Date::from_day_number(today.day_number() + 30 + self.rng.below(335) as u32).expect("a valid day")
                });
                let from = st.home;
                let st = &mut self.staff[s as usize];
                st.host = to;
                st.until = until;
                st.last = today;
                self.hosted[to as usize].push(s);
                Some(self.envelope(
                    today,
                    EventBody::StaffSeconded(StaffSeconded {
                        staff: staff_id(s),
                        from: unit_id(from),
                        to: unit_id(to),
                        until: until.map(WireDate),
                    }),
                ))
            }
            6950..7450 => {
                // An early return.
                let s = self.random_staff();
                let st = &mut self.staff[s as usize];
                if !st.seconded_on(today) || st.last > today {
                    return None;
                }
                st.host = NONE;
                st.last = today;
                Some(self.envelope(today, EventBody::SecondmentEnded(SecondmentEnded { staff: staff_id(s) })))
            }
            7450..7850 => {
                let s = self.random_staff();
                if self.staff[s as usize].last > today || self.active.len() < 10 {
                    return None;
                }
                self.remove_member(s);
                self.deactivate_staff(s);
                self.staff[s as usize].host = NONE;
                let reason = if self.rng.chance(70) { "retired" } else { "resigned" };
                Some(
                    self.envelope(today, EventBody::StaffLeft(StaffLeft { staff: staff_id(s), reason: reason.into() })),
                )
            }
            7850..8250 => {
                let u = self.random_unit();
                Some(self.join(today, u))
            }
            8250..9700 => {
                let u = self.random_unit();
                let quota = self.units[u as usize].members.len() as u32 + self.rng.below(8) as u32;
                Some(self.envelope(today, EventBody::UnitQuotaSet(UnitQuotaSet { unit: unit_id(u), quota })))
            }
            9700..9900 => {
                let u = self.random_unit();
                let n = self.rng.below(1000);
                Some(self.envelope(
                    today,
                    EventBody::UnitRenamed(UnitRenamed { unit: unit_id(u), name: format!("Unit {u} renamed {n}") }),
                ))
            }
            9900..9990 => {
                let u = self.random_unit();
                let unit = &mut self.units[u as usize];
                unit.front = !unit.front;
                let category = category(unit.front);
                Some(self.envelope(today, EventBody::UnitReclassified(UnitReclassified { unit: unit_id(u), category })))
            }
            9990..9996 => self.merge(today),
            _ => self.split(today),
        }
    }

    fn backdated(&mut self, today: Date) -> Option<Envelope> {
        let late = 1 + self.rng.below(60) as u32;
        let day = Date::from_day_number(today.day_number().checked_sub(late)?).ok()?;
        for _ in 0..8 {
            let s = self.random_staff();
            let to = self.random_unit();
            let st = &self.staff[s as usize];
            let (home, host) = (st.home, st.host);
            // Nothing of theirs, nor any restructuring of either unit, on or
            // after the day: the late order conflicts with nothing.
            if st.last < day
                && to != home
                && to != host
                && self.units[home as usize].changed < day
                && self.units[to as usize].changed < day
            {
                self.tally.backdated += 1;
                return Some(self.transfer(day, s, to));
            }
        }
        None
    }

    fn invalid(&mut self, today: Date) -> Envelope {
        self.tally.invalid += 1;
        let s = self.random_staff();
        let home = self.staff[s as usize].home;
        let body = match self.rng.below(4) {
            // staff_not_in_unit
            0 => {
                let other = self.random_unit();
                let to = self.random_unit();
                EventBody::StaffTransferred(StaffTransferred {
                    staff: staff_id(s),
                    from: unit_id(if other == home { NONE - 1 } else { other }),
                    to: unit_id(to),
                })
            }
            // same_unit
            1 => EventBody::StaffSeconded(StaffSeconded {
                staff: staff_id(s),
                from: unit_id(home),
                to: unit_id(home),
                until: None,
            }),
            // staff_already_active
            2 => EventBody::StaffJoined(StaffJoined { staff: staff_id(s), unit: unit_id(home) }),
            // unit_unknown
            _ => EventBody::StaffTransferred(StaffTransferred {
                staff: staff_id(s),
                from: unit_id(home),
                to: "U-nowhere".into(),
            }),
        };
        self.envelope(today, body)
    }

    fn merge(&mut self, today: Date) -> Option<Envelope> {
        if self.leaves.len() < 10 {
            return None;
        }
        let a = self.leaves[self.rng.below(self.leaves.len() as u64) as usize];
        let b = self.leaves[self.rng.below(self.leaves.len() as u64) as usize];
        if a == b || self.units[a as usize].changed >= today || self.units[b as usize].changed >= today {
            return None;
        }
        if self.units[a as usize]
            .members
            .iter()
            .chain(&self.units[b as usize].members)
            .any(|s| self.staff[*s as usize].last > today)
        {
            return None;
        }
        self.tally.restructurings += 1;
        let into_new = self.rng.chance(50);
        let (sources, target) = if into_new {
            let parent = self.units[a as usize].parent;
            let front = self.units[a as usize].front;
            let t = self.new_unit(parent, 4, front, today);
            (vec![a, b], t)
        } else {
            (vec![a], b)
        };
        self.units[target as usize].changed = today;
        for &src in &sources {
            let members = std::mem::take(&mut self.units[src as usize].members);
            for s in members {
                self.add_member(target, s);
                if self.staff[s as usize].host == target {
                    // Now working where they are posted: the secondment ends.
                    self.staff[s as usize].host = NONE;
                }
            }
            self.close_unit(src);
        }
        self.redirect_hosts(&sources, target, today);
        let body = if into_new {
            EventBody::UnitsMerged(UnitsMerged {
                sources: sources.iter().map(|u| unit_id(*u)).collect(),
                target: None,
                new_target: Some(NewUnit {
                    unit: unit_id(target),
                    name: format!("Unit {target} merged"),
                    category: category(self.units[target as usize].front),
                    parent: Some(unit_id(self.units[target as usize].parent)),
                }),
            })
        } else {
            EventBody::UnitsMerged(UnitsMerged {
                sources: sources.iter().map(|u| unit_id(*u)).collect(),
                target: Some(unit_id(target)),
                new_target: None,
            })
        };
        Some(self.envelope(today, body))
    }

    fn split(&mut self, today: Date) -> Option<Envelope> {
        if self.leaves.len() < 10 {
            return None;
        }
        let src = self.leaves[self.rng.below(self.leaves.len() as u64) as usize];
        let unit = &self.units[src as usize];
        if unit.changed >= today || unit.members.iter().any(|s| self.staff[*s as usize].last > today) {
            return None;
        }
        let (parent, front) = (unit.parent, unit.front);
        let seconded_in = self.hosted_by(src, today);
        if seconded_in.iter().any(|s| self.staff[*s as usize].last > today) {
            return None;
        }
        self.tally.restructurings += 1;
        let members = std::mem::take(&mut self.units[src as usize].members);
        self.close_unit(src);
        let p1 = self.new_unit(parent, 4, front, today);
        let p2 = self.new_unit(parent, 4, !front, today);
        let mut posted = Vec::with_capacity(members.len());
        for (i, s) in members.into_iter().enumerate() {
            let part = if i % 2 == 0 { p1 } else { p2 };
            self.add_member(part, s);
            posted.push(StaffAllocation { staff: staff_id(s), part: unit_id(part) });
        }
        let mut seconded = Vec::with_capacity(seconded_in.len());
        for s in seconded_in {
            // Their home is elsewhere (never the source): hosted by a part now.
            self.staff[s as usize].host = p1;
            self.hosted[p1 as usize].push(s);
            seconded.push(StaffAllocation { staff: staff_id(s), part: unit_id(p1) });
        }
        let part = |u: u32, front: bool| NewUnit {
            unit: unit_id(u),
            name: format!("Unit {u} split"),
            category: category(front),
            parent: Some(unit_id(parent)),
        };
        Some(self.envelope(
            today,
            EventBody::UnitSplit(UnitSplit {
                source: unit_id(src),
                parts: vec![part(p1, front), part(p2, !front)],
                posted,
                seconded,
                children: Vec::new(),
            }),
        ))
    }

    /// Staff seconded into `u` on `date` (days only move forward for
    /// secondments, so entries no longer seconded there are dropped).
    fn hosted_by(&mut self, u: u32, date: Date) -> Vec<u32> {
        let staff = &self.staff;
        let list = &mut self.hosted[u as usize];
        list.retain(|s| {
            let st = &staff[*s as usize];
            st.active && st.host == u && st.seconded_on(date)
        });
        list.sort_unstable();
        list.dedup();
        list.clone()
    }

    /// Secondments hosted by `sources` move to `target`; one whose home is
    /// the target ends.
    fn redirect_hosts(&mut self, sources: &[u32], target: u32, date: Date) {
        for &src in sources {
            for s in self.hosted_by(src, date) {
                let st = &mut self.staff[s as usize];
                if st.home == target {
                    st.host = NONE;
                } else {
                    st.host = target;
                    self.hosted[target as usize].push(s);
                }
            }
        }
    }

    /// Retracts yesterday's retractable transfers whose staff and units
    /// nothing has touched since.
    /// Retracts today's candidates, as long as fewer than `budget` events
    /// were emitted.
    fn retractions(&mut self, today: Date, budget: u64, out: &mut impl FnMut(&Envelope)) {
        for (id, s, from, to, day) in std::mem::take(&mut self.retractable) {
            if self.tally.events >= budget {
                break;
            }
            let st = &self.staff[s as usize];
            let units_untouched = self.units[from as usize].active
                && self.units[to as usize].active
                && self.units[from as usize].changed < day
                && self.units[to as usize].changed < day;
            if st.active && st.last == day && st.home == to && !st.seconded_on(day) && units_untouched {
                self.remove_member(s);
                self.add_member(from, s);
                self.tally.retractions += 1;
                let e = self.envelope(
                    today,
                    EventBody::EventRetracted(EventRetracted {
                        target: EventRef { source: SOURCE.into(), id },
                        reason: "keyed in by mistake".into(),
                    }),
                );
                self.emit(&e, out);
            }
        }
    }

    fn emit(&mut self, e: &Envelope, out: &mut impl FnMut(&Envelope)) {
        self.tally.events += 1;
        out(e);
    }
}

/// Generates the ledger, handing each event to `out` in publishing order.
pub fn generate(config: Config, mut out: impl FnMut(&Envelope)) -> Tally {
    let start = Date::parse(START).expect("a valid day");
    let mut g = Gen {
        rng: Rng::new(config.seed).fork("synthetic"),
        units: Vec::new(),
        staff: Vec::new(),
        active: Vec::new(),
        leaves: Vec::new(),
        hosted: Vec::new(),
        unit_pool: Vec::new(),
        next_event: 0,
        retractable: Vec::new(),
        tally: Tally::default(),
    };
    // The tree: 1 root, then ~1/5000, ~1/500, ~1/25 of the units, and the
    // rest as leaves; parents round-robin over the level above.
    let total = config.units();
    let sizes = [1, (total / 5000).max(2), (total / 500).max(4), (total / 25).max(8)];
    let mut previous: Vec<u32> = vec![NONE];
    for (level, size) in sizes.iter().chain([&(total - sizes.iter().sum::<u32>())]).enumerate() {
        let mut this = Vec::with_capacity(*size as usize);
        for i in 0..*size {
            let parent = previous[i as usize % previous.len()];
            let front = match level {
                0..=2 => false,
                3 => g.rng.chance(50),
                _ => g.rng.chance(85),
            };
            let e = g.establish(start, parent, level as u8, front);
            g.emit(&e, &mut out);
            this.push(g.units.len() as u32 - 1);
        }
        previous = this;
    }
    // Staff: most at the leaves, some in the offices above.
    let leaves = previous;
    for i in 0..config.staff() {
        let u = if i % 10 == 0 { g.random_unit() } else { leaves[g.rng.below(leaves.len() as u64) as usize] };
        let e = g.join(start, u);
        g.emit(&e, &mut out);
    }
    // Ten years of ordinary days, the rest of the events spread evenly.
    let remaining = config.events.saturating_sub(g.tally.events);
    let per_day = remaining.div_ceil(u64::from(DAYS));
    for day in 1..=DAYS {
        let today = Date::from_day_number(start.day_number() + day).expect("a valid day");
        g.retractions(today, config.events, &mut out);
        let mut emitted = 0;
        while emitted < per_day && g.tally.events < config.events {
            if let Some(e) = g.ordinary(today) {
                g.emit(&e, &mut out);
                emitted += 1;
            }
        }
    }
    g.tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_kind_and_the_same_seed_the_same_events() {
        let config = Config { events: 30_000, seed: 3 };
        let mut first = Vec::new();
        let tally = generate(config, |e| first.push(muster_proto::cloudevents::encode_json(e)));
        assert_eq!(tally.events, 30_000);
        assert_eq!(first.len(), 30_000);
        assert!(tally.backdated > 300 && tally.invalid > 50 && tally.restructurings > 0, "{tally:?}");
        let mut kinds = std::collections::BTreeSet::new();
        let mut again = Vec::new();
        generate(config, |e| {
            kinds.insert(e.body.type_name());
            again.push(muster_proto::cloudevents::encode_json(e));
        });
        assert!(first == again, "deterministic");
        // Everything but dissolution (never generated: leaf units are merged
        // or split instead) and moves of whole units.
        assert_eq!(kinds.len(), 12, "{kinds:?}");
    }
}
