//! Domain events back to their wire form, so generated sequences can go
//! through the real ledger. Event `seq` gets id `g{seq}`; a retraction of
//! seq `t` names id `g{t}`, which is the entry at seq `t` when every event
//! of the sequence is recorded in order.

use muster_domain::{Category, Date, Event, MergeTarget, NewUnit, Seq};
use muster_proto::wire::{self, EventBody, WireCategory, WireDate};

/// The source every generated event comes from.
pub const SOURCE: &str = "hr/generated";

fn category(category: Category) -> WireCategory {
    match category {
        Category::Office => WireCategory::Office,
        Category::FrontLine => WireCategory::FrontLine,
    }
}

fn new_unit(unit: &NewUnit) -> wire::NewUnit {
    wire::NewUnit {
        unit: unit.unit.to_string(),
        name: unit.name.clone(),
        category: category(unit.category),
        parent: unit.parent.as_ref().map(|p| p.to_string()),
    }
}

/// The envelope of generated event `seq`.
pub fn envelope(seq: Seq, date: Date, event: &Event) -> wire::Envelope {
    let staff = |list: &[muster_domain::Allocation<muster_domain::StaffId>]| {
        list.iter().map(|a| wire::StaffAllocation { staff: a.item.to_string(), part: a.part.to_string() }).collect()
    };
    let body = match event {
        Event::UnitEstablished { unit, name, category: c, parent, quota } => {
            EventBody::UnitEstablished(wire::UnitEstablished {
                unit: unit.to_string(),
                name: name.clone(),
                category: category(*c),
                parent: parent.as_ref().map(|p| p.to_string()),
                quota: *quota,
            })
        }
        Event::UnitRenamed { unit, name } => {
            EventBody::UnitRenamed(wire::UnitRenamed { unit: unit.to_string(), name: name.clone() })
        }
        Event::UnitMoved { unit, parent } => EventBody::UnitMoved(wire::UnitMoved {
            unit: unit.to_string(),
            parent: parent.as_ref().map(|p| p.to_string()),
        }),
        Event::UnitReclassified { unit, category: c } => {
            EventBody::UnitReclassified(wire::UnitReclassified { unit: unit.to_string(), category: category(*c) })
        }
        Event::UnitQuotaSet { unit, quota } => {
            EventBody::UnitQuotaSet(wire::UnitQuotaSet { unit: unit.to_string(), quota: *quota })
        }
        Event::UnitsMerged { sources, target } => EventBody::UnitsMerged(wire::UnitsMerged {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            target: match target {
                MergeTarget::Existing(unit) => Some(unit.to_string()),
                MergeTarget::New(_) => None,
            },
            new_target: match target {
                MergeTarget::Existing(_) => None,
                MergeTarget::New(unit) => Some(new_unit(unit)),
            },
        }),
        Event::UnitSplit { source, parts, posted, seconded, children } => EventBody::UnitSplit(wire::UnitSplit {
            source: source.to_string(),
            parts: parts.iter().map(new_unit).collect(),
            posted: staff(posted),
            seconded: staff(seconded),
            children: children
                .iter()
                .map(|a| wire::UnitAllocation { unit: a.item.to_string(), part: a.part.to_string() })
                .collect(),
        }),
        Event::UnitDissolved { unit } => EventBody::UnitDissolved(wire::UnitDissolved { unit: unit.to_string() }),
        Event::StaffJoined { staff, unit } => {
            EventBody::StaffJoined(wire::StaffJoined { staff: staff.to_string(), unit: unit.to_string() })
        }
        Event::StaffTransferred { staff, from, to } => EventBody::StaffTransferred(wire::StaffTransferred {
            staff: staff.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        }),
        Event::StaffSeconded { staff, from, to, until } => EventBody::StaffSeconded(wire::StaffSeconded {
            staff: staff.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            until: until.map(WireDate),
        }),
        Event::SecondmentEnded { staff } => {
            EventBody::SecondmentEnded(wire::SecondmentEnded { staff: staff.to_string() })
        }
        Event::StaffLeft { staff, reason } => {
            EventBody::StaffLeft(wire::StaffLeft { staff: staff.to_string(), reason: reason.clone() })
        }
        Event::EventRetracted { target, reason } => EventBody::EventRetracted(wire::EventRetracted {
            target: wire::EventRef { source: SOURCE.into(), id: format!("g{target}") },
            reason: reason.clone(),
        }),
    };
    wire::Envelope {
        id: format!("g{seq}"),
        source: SOURCE.into(),
        effective_date: WireDate(date),
        order_ref: None,
        note: None,
        body,
    }
}
