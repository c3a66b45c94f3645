//! The events of the staffing timeline, in the domain's own types.
//!
//! These are not wire types: `muster-proto` decodes JSON and bincode into
//! them after checking every limit. Ids are plain strings here; the
//! timeline interns them.

use crate::Date;
use std::fmt;
use std::sync::Arc;

/// The ledger sequence number: transaction time. The first entry is 1.
pub type Seq = u64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Shared text: the timeline hands the same id out in every answer
        /// without allocating (a whole tree is tens of thousands of ids).
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Arc<str>);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.into())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s.into())
            }
        }
    };
}

id_type!(
    /// A unit's id. Never reused: once established, no other unit gets it.
    UnitId
);
id_type!(
    /// A staff member's id, stable across leaving and joining again.
    StaffId
);

/// Whether a unit is part of the office or of the front line.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Category {
    /// Command, administration and support (机关).
    Office,
    /// Stations, community offices, area teams, squadrons (基层一线).
    FrontLine,
}

impl Category {
    /// The stable wire name: `office` or `front_line`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Office => "office",
            Category::FrontLine => "front_line",
        }
    }
}

/// A unit that an event creates: a merger's new target or a split's part.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewUnit {
    /// Its id, never used before.
    pub unit: UnitId,
    /// Its name.
    pub name: String,
    /// Its category.
    pub category: Category,
    /// Its parent, if any; must be active on the event's day.
    pub parent: Option<UnitId>,
}

/// Where a merger's staff and sub-units go.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MergeTarget {
    /// An active unit that absorbs the sources.
    Existing(UnitId),
    /// A unit the merger establishes.
    New(NewUnit),
}

impl MergeTarget {
    /// The target's id.
    pub fn unit(&self) -> &UnitId {
        match self {
            MergeTarget::Existing(unit) => unit,
            MergeTarget::New(new_unit) => &new_unit.unit,
        }
    }
}

/// One thing a split hands to one of its parts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Allocation<T> {
    /// The staff member or child unit.
    pub item: T,
    /// The part (one of the split's new units) it goes to.
    pub part: UnitId,
}

/// A change to the staffing timeline, effective on its envelope's date.
///
/// Each variant's rules are in `shared/SPEC.md`; the validator in
/// [`crate::Timeline::decide`] implements them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// A new unit becomes active.
    UnitEstablished {
        /// Never used before.
        unit: UnitId,
        /// Display name.
        name: String,
        /// Office or front line.
        category: Category,
        /// Parent unit, active on the day.
        parent: Option<UnitId>,
        /// Authorised posts.
        quota: Option<u32>,
    },
    /// A unit gets a new name.
    UnitRenamed {
        /// The unit.
        unit: UnitId,
        /// Its new name.
        name: String,
    },
    /// A unit moves in the tree (or to the top with `parent: None`).
    UnitMoved {
        /// The unit.
        unit: UnitId,
        /// The new parent; no cycle allowed.
        parent: Option<UnitId>,
    },
    /// A unit changes category (a relabel, not a move of anybody).
    UnitReclassified {
        /// The unit.
        unit: UnitId,
        /// Must differ from the current one.
        category: Category,
    },
    /// A unit's authorised posts.
    UnitQuotaSet {
        /// The unit.
        unit: UnitId,
        /// The new quota.
        quota: u32,
    },
    /// Sources close; their staff, secondees and children go to the target.
    UnitsMerged {
        /// At least one, distinct, all active.
        sources: Vec<UnitId>,
        /// An active unit outside the sources, or a new one.
        target: MergeTarget,
    },
    /// The source closes; everything in it goes to exactly one new part.
    UnitSplit {
        /// The unit split up.
        source: UnitId,
        /// The new units.
        parts: Vec<NewUnit>,
        /// Every staff member posted at the source.
        posted: Vec<Allocation<StaffId>>,
        /// Every staff member seconded into the source.
        seconded: Vec<Allocation<StaffId>>,
        /// Every active child unit of the source.
        children: Vec<Allocation<UnitId>>,
    },
    /// An empty unit closes.
    UnitDissolved {
        /// The unit.
        unit: UnitId,
    },
    /// A staff member becomes active with a home unit.
    StaffJoined {
        /// Not active on the day.
        staff: StaffId,
        /// The home unit.
        unit: UnitId,
    },
    /// A permanent change of home unit (调动).
    StaffTransferred {
        /// The staff member.
        staff: StaffId,
        /// Their home unit on the day.
        from: UnitId,
        /// The new home unit.
        to: UnitId,
    },
    /// A temporary assignment to a host unit (借调).
    StaffSeconded {
        /// The staff member.
        staff: StaffId,
        /// Their home unit on the day.
        from: UnitId,
        /// The host unit.
        to: UnitId,
        /// The last day away, if known.
        until: Option<Date>,
    },
    /// A secondment ends early (or on time, explicitly).
    SecondmentEnded {
        /// The staff member.
        staff: StaffId,
    },
    /// A staff member leaves; any secondment ends.
    StaffLeft {
        /// The staff member.
        staff: StaffId,
        /// Why (retired, resigned, …).
        reason: String,
    },
    /// An accepted event is treated as never having happened.
    EventRetracted {
        /// The ledger sequence of the accepted event retracted. The ledger
        /// resolves the (source, id) the publisher names to this.
        target: Seq,
        /// Why.
        reason: String,
    },
}

/// The kind of an event, for messages and history listings.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[allow(missing_docs)]
pub enum EventKind {
    UnitEstablished,
    UnitRenamed,
    UnitMoved,
    UnitReclassified,
    UnitQuotaSet,
    UnitsMerged,
    UnitSplit,
    UnitDissolved,
    StaffJoined,
    StaffTransferred,
    StaffSeconded,
    SecondmentEnded,
    StaffLeft,
    EventRetracted,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [EventKind; 14] = [
        EventKind::UnitEstablished,
        EventKind::UnitRenamed,
        EventKind::UnitMoved,
        EventKind::UnitReclassified,
        EventKind::UnitQuotaSet,
        EventKind::UnitsMerged,
        EventKind::UnitSplit,
        EventKind::UnitDissolved,
        EventKind::StaffJoined,
        EventKind::StaffTransferred,
        EventKind::StaffSeconded,
        EventKind::SecondmentEnded,
        EventKind::StaffLeft,
        EventKind::EventRetracted,
    ];

    /// A stable snake_case name (`staff_transferred`), used in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::UnitEstablished => "unit_established",
            EventKind::UnitRenamed => "unit_renamed",
            EventKind::UnitMoved => "unit_moved",
            EventKind::UnitReclassified => "unit_reclassified",
            EventKind::UnitQuotaSet => "unit_quota_set",
            EventKind::UnitsMerged => "units_merged",
            EventKind::UnitSplit => "unit_split",
            EventKind::UnitDissolved => "unit_dissolved",
            EventKind::StaffJoined => "staff_joined",
            EventKind::StaffTransferred => "staff_transferred",
            EventKind::StaffSeconded => "staff_seconded",
            EventKind::SecondmentEnded => "secondment_ended",
            EventKind::StaffLeft => "staff_left",
            EventKind::EventRetracted => "event_retracted",
        }
    }
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::UnitEstablished { .. } => EventKind::UnitEstablished,
            Event::UnitRenamed { .. } => EventKind::UnitRenamed,
            Event::UnitMoved { .. } => EventKind::UnitMoved,
            Event::UnitReclassified { .. } => EventKind::UnitReclassified,
            Event::UnitQuotaSet { .. } => EventKind::UnitQuotaSet,
            Event::UnitsMerged { .. } => EventKind::UnitsMerged,
            Event::UnitSplit { .. } => EventKind::UnitSplit,
            Event::UnitDissolved { .. } => EventKind::UnitDissolved,
            Event::StaffJoined { .. } => EventKind::StaffJoined,
            Event::StaffTransferred { .. } => EventKind::StaffTransferred,
            Event::StaffSeconded { .. } => EventKind::StaffSeconded,
            Event::SecondmentEnded { .. } => EventKind::SecondmentEnded,
            Event::StaffLeft { .. } => EventKind::StaffLeft,
            Event::EventRetracted { .. } => EventKind::EventRetracted,
        }
    }
}
