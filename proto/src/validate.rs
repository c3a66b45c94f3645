//! Second decoding stage: an [`Envelope`] becomes domain types, with every
//! limit of `limits.rs` enforced. Only a `Validated` reaches the ledger's
//! validator.

use crate::error::DecodeError;
use crate::limits::*;
use crate::wire::{self, Envelope, EventBody, WireCategory};
use muster_domain::{Allocation, Category, Date, Event, MergeTarget, NewUnit, ReasonCode as R, StaffId, UnitId};

/// A well-formed event, in domain types.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Validated {
    /// Any event but a retraction.
    Event {
        /// Effective date.
        date: Date,
        /// The event.
        event: Event,
    },
    /// A retraction, naming its target by (source, id); the ledger
    /// resolves that to a sequence.
    Retraction {
        /// The retraction's own effective date (recorded, not used).
        date: Date,
        /// Target's source.
        target_source: String,
        /// Target's id.
        target_id: String,
        /// Why.
        reason: String,
    },
}

type Checked<T> = Result<T, DecodeError>;

fn id_text(field: &str, value: &str) -> Checked<()> {
    if value.is_empty() {
        return Err(DecodeError::new(R::InvalidField, format!("{field} is empty")));
    }
    if value.len() > ID_BYTES_MAX {
        return Err(DecodeError::new(
            R::FieldTooLong,
            format!("{field} is {} bytes; the limit is {ID_BYTES_MAX}", value.len()),
        ));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(DecodeError::new(
            R::InvalidField,
            format!("{field} '{}' contains white space or control characters", value.escape_debug()),
        ));
    }
    Ok(())
}

fn free_text(field: &str, value: &str, max: usize, allow_empty: bool) -> Checked<()> {
    if !allow_empty && value.trim().is_empty() {
        return Err(DecodeError::new(R::InvalidField, format!("{field} is empty")));
    }
    if value.len() > max {
        return Err(DecodeError::new(R::FieldTooLong, format!("{field} is {} bytes; the limit is {max}", value.len())));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DecodeError::new(R::InvalidField, format!("{field} contains control characters")));
    }
    Ok(())
}

fn list_len(field: &str, len: usize, max: usize) -> Checked<()> {
    if len > max {
        return Err(DecodeError::new(R::FieldTooLong, format!("{field} has {len} entries; the limit is {max}")));
    }
    Ok(())
}

fn unit(field: &str, value: &str) -> Checked<UnitId> {
    id_text(field, value).map(|_| UnitId(value.into()))
}

fn staff(field: &str, value: &str) -> Checked<StaffId> {
    id_text(field, value).map(|_| StaffId(value.into()))
}

fn optional_unit(field: &str, value: &Option<String>) -> Checked<Option<UnitId>> {
    value.as_deref().map(|v| unit(field, v)).transpose()
}

fn category(value: WireCategory) -> Category {
    match value {
        WireCategory::Office => Category::Office,
        WireCategory::FrontLine => Category::FrontLine,
    }
}

fn new_unit(field: &str, value: &wire::NewUnit) -> Checked<NewUnit> {
    free_text(&format!("{field}.name"), &value.name, NAME_BYTES_MAX, false)?;
    Ok(NewUnit {
        unit: unit(&format!("{field}.unit"), &value.unit)?,
        name: value.name.clone(),
        category: category(value.category),
        parent: optional_unit(&format!("{field}.parent"), &value.parent)?,
    })
}

/// Checks an envelope against every limit and turns it into domain types.
pub fn validate(envelope: &Envelope) -> Checked<Validated> {
    validate_inner(envelope).map_err(|e| e.with_key(&envelope.id, &envelope.source))
}

fn validate_inner(envelope: &Envelope) -> Checked<Validated> {
    id_text("id", &envelope.id)?;
    id_text("source", &envelope.source)?;
    if let Some(order_ref) = &envelope.order_ref {
        free_text("orderref", order_ref, ORDER_REF_BYTES_MAX, false)?;
    }
    if let Some(note) = &envelope.note {
        free_text("note", note, NOTE_BYTES_MAX, true)?;
    }
    let date = envelope.effective_date.0;
    let event = match &envelope.body {
        EventBody::EventRetracted(d) => {
            id_text("target.source", &d.target.source)?;
            id_text("target.id", &d.target.id)?;
            free_text("reason", &d.reason, NOTE_BYTES_MAX, false)?;
            return Ok(Validated::Retraction {
                date,
                target_source: d.target.source.clone(),
                target_id: d.target.id.clone(),
                reason: d.reason.clone(),
            });
        }
        body => event(body)?,
    };
    Ok(Validated::Event { date, event })
}

fn event(body: &EventBody) -> Checked<Event> {
    Ok(match body {
        EventBody::UnitEstablished(d) => {
            free_text("name", &d.name, NAME_BYTES_MAX, false)?;
            Event::UnitEstablished {
                unit: unit("unit", &d.unit)?,
                name: d.name.clone(),
                category: category(d.category),
                parent: optional_unit("parent", &d.parent)?,
                quota: d.quota,
            }
        }
        EventBody::UnitRenamed(d) => {
            free_text("name", &d.name, NAME_BYTES_MAX, false)?;
            Event::UnitRenamed { unit: unit("unit", &d.unit)?, name: d.name.clone() }
        }
        EventBody::UnitMoved(d) => {
            Event::UnitMoved { unit: unit("unit", &d.unit)?, parent: optional_unit("parent", &d.parent)? }
        }
        EventBody::UnitReclassified(d) => {
            Event::UnitReclassified { unit: unit("unit", &d.unit)?, category: category(d.category) }
        }
        EventBody::UnitQuotaSet(d) => Event::UnitQuotaSet { unit: unit("unit", &d.unit)?, quota: d.quota },
        EventBody::UnitsMerged(d) => merged(d)?,
        EventBody::UnitSplit(d) => split(d)?,
        EventBody::UnitDissolved(d) => Event::UnitDissolved { unit: unit("unit", &d.unit)? },
        EventBody::StaffJoined(d) => {
            Event::StaffJoined { staff: staff("staff", &d.staff)?, unit: unit("unit", &d.unit)? }
        }
        EventBody::StaffTransferred(d) => Event::StaffTransferred {
            staff: staff("staff", &d.staff)?,
            from: unit("from", &d.from)?,
            to: unit("to", &d.to)?,
        },
        EventBody::StaffSeconded(d) => Event::StaffSeconded {
            staff: staff("staff", &d.staff)?,
            from: unit("from", &d.from)?,
            to: unit("to", &d.to)?,
            until: d.until.map(|u| u.0),
        },
        EventBody::SecondmentEnded(d) => Event::SecondmentEnded { staff: staff("staff", &d.staff)? },
        EventBody::StaffLeft(d) => {
            free_text("reason", &d.reason, NOTE_BYTES_MAX, false)?;
            Event::StaffLeft { staff: staff("staff", &d.staff)?, reason: d.reason.clone() }
        }
        EventBody::EventRetracted(_) => unreachable!("handled by validate_inner"),
    })
}

fn merged(d: &wire::UnitsMerged) -> Checked<Event> {
    if d.sources.is_empty() {
        return Err(DecodeError::new(R::InvalidField, "sources is empty; a merger needs at least one source"));
    }
    list_len("sources", d.sources.len(), MERGE_SOURCES_MAX)?;
    let sources = d.sources.iter().map(|s| unit("sources[]", s)).collect::<Checked<Vec<_>>>()?;
    let target = match (&d.target, &d.new_target) {
        (Some(target), None) => MergeTarget::Existing(unit("target", target)?),
        (None, Some(new_target)) => MergeTarget::New(new_unit("new_target", new_target)?),
        _ => return Err(DecodeError::new(R::InvalidField, "exactly one of target and new_target must be given")),
    };
    Ok(Event::UnitsMerged { sources, target })
}

fn split(d: &wire::UnitSplit) -> Checked<Event> {
    if d.parts.is_empty() {
        return Err(DecodeError::new(R::InvalidField, "parts is empty; a split needs at least one part"));
    }
    list_len("parts", d.parts.len(), SPLIT_PARTS_MAX)?;
    list_len("posted", d.posted.len(), SPLIT_ALLOCATIONS_MAX)?;
    list_len("seconded", d.seconded.len(), SPLIT_ALLOCATIONS_MAX)?;
    list_len("children", d.children.len(), SPLIT_ALLOCATIONS_MAX)?;
    let staff_list = |field: &str, list: &[wire::StaffAllocation]| -> Checked<Vec<Allocation<StaffId>>> {
        list.iter()
            .map(|a| {
                Ok(Allocation {
                    item: staff(&format!("{field}[].staff"), &a.staff)?,
                    part: unit(&format!("{field}[].part"), &a.part)?,
                })
            })
            .collect()
    };
    Ok(Event::UnitSplit {
        source: unit("source", &d.source)?,
        parts: d.parts.iter().map(|p| new_unit("parts[]", p)).collect::<Checked<_>>()?,
        posted: staff_list("posted", &d.posted)?,
        seconded: staff_list("seconded", &d.seconded)?,
        children: d
            .children
            .iter()
            .map(|a| {
                Ok(Allocation { item: unit("children[].unit", &a.unit)?, part: unit("children[].part", &a.part)? })
            })
            .collect::<Checked<_>>()?,
    })
}
