//! A plan of dated actions per publishing system, executed in timeline
//! order against a small tracker of who is where, which fills in what an
//! HR system would know at the time (a transfer's `from`, a split's
//! allocation of everyone posted at the source) and asserts that every
//! action makes sense. The output is the stream of events as the HR systems
//! would publish it: in the order they were keyed in, which for a late
//! order is weeks after its effective date.
//!
//! The tracker is not a validator: the ledger is. Tests import the output
//! and require every event to be accepted.

use muster_domain::Date;
use muster_proto::wire::{
    Envelope, EventBody, EventRef, EventRetracted, NewUnit, SecondmentEnded, StaffAllocation, StaffJoined, StaffLeft,
    StaffSeconded, StaffTransferred, UnitAllocation, UnitEstablished, UnitMoved, UnitQuotaSet, UnitReclassified,
    UnitRenamed, UnitSplit, UnitsMerged, WireCategory, WireDate,
};
use std::collections::BTreeMap;

/// A handle on a planned action, for retracting its event later.
pub type Ticket = usize;

/// What an HR system does on a day.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum Act {
    Establish {
        unit: String,
        name: String,
        category: WireCategory,
        parent: Option<String>,
        quota: Option<u32>,
    },
    Rename {
        unit: String,
        name: String,
    },
    Move {
        unit: String,
        parent: Option<String>,
    },
    Reclassify {
        unit: String,
        category: WireCategory,
    },
    Quota {
        unit: String,
        quota: u32,
    },
    /// Sets the quota to `percent` of the staff posted there at the time.
    QuotaFromPosted {
        unit: String,
        percent: u32,
    },
    /// Into an existing unit (`target`) or a new one (`new_target`).
    Merge {
        sources: Vec<String>,
        target: Option<String>,
        new_target: Option<NewUnit>,
    },
    /// Everyone posted at or seconded into the source goes to `default_part`
    /// unless named in `staff`; every child unit likewise.
    Split {
        source: String,
        parts: Vec<NewUnit>,
        staff: BTreeMap<String, String>,
        default_part: String,
    },
    Join {
        staff: String,
        unit: String,
    },
    Transfer {
        staff: String,
        to: String,
    },
    /// A transfer keyed in by mistake: published (and later retracted), but
    /// never applied to the tracker.
    MistakenTransfer {
        staff: String,
        to: String,
    },
    Second {
        staff: String,
        to: String,
        until: Option<Date>,
    },
    EndSecondment {
        staff: String,
    },
    Leave {
        staff: String,
        reason: String,
    },
    Retract {
        target: Ticket,
        reason: String,
    },
}

#[derive(Clone)]
struct Item {
    date: Date,
    act: Act,
    late_days: u32,
    /// Issued under an order or decision, numbered when executed.
    ordered: bool,
    note: Option<String>,
}

/// The actions of one publishing system.
#[derive(Clone)]
pub struct Plan {
    source: String,
    id_prefix: String,
    order_prefix: String,
    items: Vec<Item>,
}

/// One event ready to publish, before ids are assigned.
pub struct Keyed {
    /// The day it was keyed in (its effective date, or weeks later).
    pub keyed: Date,
    /// Which plan (publishing system) it came from.
    pub plan: usize,
    /// Its place in its plan's execution.
    pub ticket: Ticket,
    /// The envelope; `id` is filled in by [`publish_order`].
    pub envelope: Envelope,
    retracts: Option<Ticket>,
}

impl Plan {
    /// A plan for the system `source`, whose event ids start with
    /// `id_prefix` and whose orders are numbered `<order_prefix>〔year〕n号`.
    pub fn new(source: &str, id_prefix: &str, order_prefix: &str) -> Plan {
        Plan {
            source: source.into(),
            id_prefix: id_prefix.into(),
            order_prefix: order_prefix.into(),
            items: Vec::new(),
        }
    }

    /// Plans `act` on `date`. Actions of the same day run in the order
    /// they were planned.
    pub fn add(&mut self, date: Date, act: Act) -> Ticket {
        self.items.push(Item { date, act, late_days: 0, ordered: false, note: None });
        self.items.len() - 1
    }

    /// Plans `act` on `date` under an order, numbered in date order within
    /// its year.
    pub fn add_ordered(&mut self, date: Date, act: Act) -> Ticket {
        let ticket = self.add(date, act);
        self.items[ticket].ordered = true;
        ticket
    }

    /// The action's event is keyed in `days` after its effective date.
    pub fn key_in_late(&mut self, ticket: Ticket, days: u32) {
        self.items[ticket].late_days = days;
    }

    /// A free-text note on the action's event.
    pub fn note(&mut self, ticket: Ticket, note: &str) {
        self.items[ticket].note = Some(note.into());
    }

    /// Runs the plan in timeline order against a fresh tracker.
    pub fn execute(&self, plan: usize) -> Vec<Keyed> {
        let mut order: Vec<Ticket> = (0..self.items.len()).collect();
        order.sort_by_key(|t| (self.items[*t].date, *t));
        let mut tracker = Tracker::default();
        let mut orders: BTreeMap<i32, u32> = BTreeMap::new();
        order
            .into_iter()
            .map(|ticket| {
                let item = &self.items[ticket];
                let body = tracker.apply(item.date, &item.act);
                let order_ref = item.ordered.then(|| {
                    let year = item.date.ymd().0;
                    let n = orders.entry(year).or_insert(0);
                    *n += 1;
                    format!("{}〔{year}〕{n}号", self.order_prefix)
                });
                let keyed = Date::from_day_number(item.date.day_number() + item.late_days).expect("a valid day");
                Keyed {
                    keyed,
                    plan,
                    ticket,
                    retracts: match item.act {
                        Act::Retract { target, .. } => Some(target),
                        _ => None,
                    },
                    envelope: Envelope {
                        id: String::new(),
                        source: self.source.clone(),
                        effective_date: WireDate(item.date),
                        order_ref,
                        note: item.note.clone(),
                        body,
                    },
                }
            })
            .collect()
    }
}

/// Interleaves the plans' events in the order they were keyed in (ties: by
/// plan, then by execution order) and numbers them per source: ids follow
/// the publishing order, as an HR system's outbox would.
pub fn publish_order(plans: &[Plan]) -> Vec<Envelope> {
    let mut all: Vec<Keyed> = plans.iter().enumerate().flat_map(|(i, p)| p.execute(i)).collect();
    // A stable sort keeps each plan's execution order within a day.
    all.sort_by_key(|k| (k.keyed, k.plan));
    let mut counters = vec![0u32; plans.len()];
    let mut ids: BTreeMap<(usize, Ticket), String> = BTreeMap::new();
    for k in &mut all {
        counters[k.plan] += 1;
        k.envelope.id = format!("{}-{:05}", plans[k.plan].id_prefix, counters[k.plan]);
        ids.insert((k.plan, k.ticket), k.envelope.id.clone());
    }
    for k in &mut all {
        if let (Some(target), EventBody::EventRetracted(r)) = (k.retracts, &mut k.envelope.body) {
            r.target.source = plans[k.plan].source.clone();
            r.target.id = ids.get(&(k.plan, target)).expect("a retraction is keyed after its target").clone();
        }
    }
    all.into_iter().map(|k| k.envelope).collect()
}

#[derive(Clone)]
struct UnitRec {
    parent: Option<String>,
    category: WireCategory,
    active: bool,
}

#[derive(Clone)]
struct StaffRec {
    home: String,
    /// Host and last day away.
    host: Option<(String, Option<Date>)>,
    active: bool,
}

impl StaffRec {
    fn host_on(&self, date: Date) -> Option<&str> {
        match &self.host {
            Some((host, until)) if until.is_none_or(|u| u >= date) => Some(host),
            _ => None,
        }
    }
}

/// Who is where, as far as the plan's own actions say.
#[derive(Default)]
struct Tracker {
    units: BTreeMap<String, UnitRec>,
    staff: BTreeMap<String, StaffRec>,
}

impl Tracker {
    fn active_unit(&self, unit: &str, date: Date, what: &str) {
        assert!(self.units.get(unit).is_some_and(|u| u.active), "{date} {what}: unit {unit} is not active");
    }

    fn active_staff(&self, staff: &str, date: Date) -> &StaffRec {
        let rec = self.staff.get(staff).unwrap_or_else(|| panic!("{date}: unknown staff {staff}"));
        assert!(rec.active, "{date}: staff {staff} is not active");
        rec
    }

    fn establish(&mut self, unit: &str, category: WireCategory, parent: Option<&String>, date: Date) {
        assert!(!self.units.contains_key(unit), "{date}: unit id {unit} used twice");
        if let Some(parent) = parent {
            self.active_unit(parent, date, "parent");
        }
        self.units.insert(unit.into(), UnitRec { parent: parent.cloned(), category, active: true });
    }

    fn posted_at<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.staff.iter().filter(move |(_, s)| s.active && s.home == unit).map(|(id, _)| id)
    }

    fn children_of(&self, unit: &str) -> Vec<String> {
        self.units
            .iter()
            .filter(|(_, u)| u.active && u.parent.as_deref() == Some(unit))
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn apply(&mut self, date: Date, act: &Act) -> EventBody {
        match act {
            Act::Establish { unit, name, category, parent, quota } => {
                self.establish(unit, *category, parent.as_ref(), date);
                EventBody::UnitEstablished(UnitEstablished {
                    unit: unit.clone(),
                    name: name.clone(),
                    category: *category,
                    parent: parent.clone(),
                    quota: *quota,
                })
            }
            Act::Rename { unit, name } => {
                self.active_unit(unit, date, "rename");
                EventBody::UnitRenamed(UnitRenamed { unit: unit.clone(), name: name.clone() })
            }
            Act::Move { unit, parent } => {
                self.active_unit(unit, date, "move");
                if let Some(parent) = parent {
                    self.active_unit(parent, date, "new parent");
                }
                self.units.get_mut(unit).expect("checked").parent = parent.clone();
                EventBody::UnitMoved(UnitMoved { unit: unit.clone(), parent: parent.clone() })
            }
            Act::Reclassify { unit, category } => {
                self.active_unit(unit, date, "reclassify");
                let rec = self.units.get_mut(unit).expect("checked");
                assert!(rec.category != *category, "{date}: {unit} already has that category");
                rec.category = *category;
                EventBody::UnitReclassified(UnitReclassified { unit: unit.clone(), category: *category })
            }
            Act::Quota { unit, quota } => {
                self.active_unit(unit, date, "quota");
                EventBody::UnitQuotaSet(UnitQuotaSet { unit: unit.clone(), quota: *quota })
            }
            Act::QuotaFromPosted { unit, percent } => {
                self.active_unit(unit, date, "quota");
                let posted = self.posted_at(unit).count() as u32;
                let quota = (posted * percent).div_ceil(100);
                EventBody::UnitQuotaSet(UnitQuotaSet { unit: unit.clone(), quota })
            }
            Act::Merge { sources, target, new_target } => {
                for source in sources {
                    self.active_unit(source, date, "merge source");
                }
                let target_id = match (target, new_target) {
                    (Some(t), None) => {
                        self.active_unit(t, date, "merge target");
                        t.clone()
                    }
                    (None, Some(n)) => {
                        self.establish(&n.unit, n.category, n.parent.as_ref(), date);
                        n.unit.clone()
                    }
                    _ => panic!("{date}: a merger needs exactly one target"),
                };
                for staff in self.staff.values_mut().filter(|s| s.active) {
                    if sources.contains(&staff.home) {
                        staff.home = target_id.clone();
                    }
                    if let Some((host, _)) = &mut staff.host {
                        if sources.contains(host) {
                            *host = target_id.clone();
                        }
                    }
                    if staff.host_on(date) == Some(staff.home.as_str()) {
                        staff.host = None;
                    }
                }
                for unit in self.units.values_mut().filter(|u| u.active) {
                    if unit.parent.as_ref().is_some_and(|p| sources.contains(p)) {
                        unit.parent = Some(target_id.clone());
                    }
                }
                for source in sources {
                    self.units.get_mut(source).expect("checked").active = false;
                }
                EventBody::UnitsMerged(UnitsMerged {
                    sources: sources.clone(),
                    target: target.clone(),
                    new_target: new_target.clone(),
                })
            }
            Act::Split { source, parts, staff, default_part } => {
                self.active_unit(source, date, "split source");
                let part_of = |id: &String| staff.get(id).unwrap_or(default_part).clone();
                let posted: Vec<StaffAllocation> =
                    self.posted_at(source).map(|id| StaffAllocation { staff: id.clone(), part: part_of(id) }).collect();
                let seconded: Vec<StaffAllocation> = self
                    .staff
                    .iter()
                    .filter(|(_, s)| s.active && s.host_on(date) == Some(source.as_str()))
                    .map(|(id, _)| StaffAllocation { staff: id.clone(), part: part_of(id) })
                    .collect();
                let children: Vec<UnitAllocation> = self
                    .children_of(source)
                    .into_iter()
                    .map(|unit| UnitAllocation { part: default_part.clone(), unit })
                    .collect();
                for named in staff.keys() {
                    assert!(
                        posted.iter().chain(&seconded).any(|a| &a.staff == named),
                        "{date}: {named} is allocated in the split of {source} but not there"
                    );
                }
                self.units.get_mut(source).expect("checked").active = false;
                for part in parts {
                    self.establish(&part.unit, part.category, part.parent.as_ref(), date);
                }
                for a in &posted {
                    self.staff.get_mut(&a.staff).expect("posted").home = a.part.clone();
                }
                for a in &seconded {
                    let rec = self.staff.get_mut(&a.staff).expect("seconded");
                    if let Some((host, _)) = &mut rec.host {
                        *host = a.part.clone();
                    }
                }
                for a in &children {
                    self.units.get_mut(&a.unit).expect("child").parent = Some(a.part.clone());
                }
                EventBody::UnitSplit(UnitSplit {
                    source: source.clone(),
                    parts: parts.clone(),
                    posted,
                    seconded,
                    children,
                })
            }
            Act::Join { staff, unit } => {
                self.active_unit(unit, date, "join");
                assert!(!self.staff.get(staff).is_some_and(|s| s.active), "{date}: {staff} joins twice");
                self.staff.insert(staff.clone(), StaffRec { home: unit.clone(), host: None, active: true });
                EventBody::StaffJoined(StaffJoined { staff: staff.clone(), unit: unit.clone() })
            }
            Act::Transfer { staff, to } | Act::MistakenTransfer { staff, to } => {
                self.active_unit(to, date, "transfer");
                let from = self.active_staff(staff, date).home.clone();
                assert!(&from != to, "{date}: {staff} is already posted at {to}");
                if matches!(act, Act::Transfer { .. }) {
                    let rec = self.staff.get_mut(staff).expect("checked");
                    if rec.host_on(date) == Some(to.as_str()) {
                        rec.host = None;
                    }
                    rec.home = to.clone();
                }
                EventBody::StaffTransferred(StaffTransferred { staff: staff.clone(), from, to: to.clone() })
            }
            Act::Second { staff, to, until } => {
                self.active_unit(to, date, "second");
                let rec = self.active_staff(staff, date);
                assert!(rec.host_on(date).is_none(), "{date}: {staff} is already seconded");
                let from = rec.home.clone();
                assert!(&from != to, "{date}: {staff} seconded to their own unit");
                self.staff.get_mut(staff).expect("checked").host = Some((to.clone(), *until));
                EventBody::StaffSeconded(StaffSeconded {
                    staff: staff.clone(),
                    from,
                    to: to.clone(),
                    until: until.map(WireDate),
                })
            }
            Act::EndSecondment { staff } => {
                assert!(self.active_staff(staff, date).host_on(date).is_some(), "{date}: {staff} is not seconded");
                self.staff.get_mut(staff).expect("checked").host = None;
                EventBody::SecondmentEnded(SecondmentEnded { staff: staff.clone() })
            }
            Act::Leave { staff, reason } => {
                self.active_staff(staff, date);
                let rec = self.staff.get_mut(staff).expect("checked");
                rec.active = false;
                rec.host = None;
                EventBody::StaffLeft(StaffLeft { staff: staff.clone(), reason: reason.clone() })
            }
            Act::Retract { reason, .. } => EventBody::EventRetracted(EventRetracted {
                // The source is this plan's; the id is filled in once ids are assigned.
                target: EventRef { source: String::new(), id: String::new() },
                reason: reason.clone(),
            }),
        }
    }
}
