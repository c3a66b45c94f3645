//! The wire and disk form of an event: [`Envelope`].
//!
//! The same structs serve both encodings: serde writes them as CloudEvents
//! JSON (`cloudevents.rs`) and as bincode (`codec.rs`). Rationale: one set
//! of types means the two encodings cannot drift apart; the golden vectors
//! pin both. Nothing here is checked yet — `validate.rs` turns an
//! `Envelope` into domain types, enforcing every limit.

use muster_domain::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar day: `"YYYY-MM-DD"` in JSON, a day number (0 = 1900-01-01)
/// in bincode. Any string is carried; `validate` checks it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WireDate(pub Date);

impl Serialize for WireDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&self.0)
        } else {
            serializer.serialize_u32(self.0.day_number())
        }
    }
}

impl<'de> Deserialize<'de> for WireDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Date::parse(&text).map(WireDate).map_err(D::Error::custom)
        } else {
            let n = u32::deserialize(deserializer)?;
            Date::from_day_number(n).map(WireDate).map_err(D::Error::custom)
        }
    }
}

/// `office` or `front_line`.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum WireCategory {
    Office,
    FrontLine,
}

/// An event as published: the idempotency key (`source`, `id`), its
/// effective date, an optional order reference and note, and the body.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Envelope {
    /// Unique per source (CloudEvents `id`).
    pub id: String,
    /// The publishing system (CloudEvents `source`).
    pub source: String,
    /// The day the change takes effect (valid time).
    pub effective_date: WireDate,
    /// Order or decision number, e.g. `南湖公〔2015〕12号`.
    pub order_ref: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// What happened.
    pub body: EventBody,
}

/// The event proper. Variant order is part of the bincode format: append
/// only.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub enum EventBody {
    UnitEstablished(UnitEstablished),
    UnitRenamed(UnitRenamed),
    UnitMoved(UnitMoved),
    UnitReclassified(UnitReclassified),
    UnitQuotaSet(UnitQuotaSet),
    UnitsMerged(UnitsMerged),
    UnitSplit(UnitSplit),
    UnitDissolved(UnitDissolved),
    StaffJoined(StaffJoined),
    StaffTransferred(StaffTransferred),
    StaffSeconded(StaffSeconded),
    SecondmentEnded(SecondmentEnded),
    StaffLeft(StaffLeft),
    EventRetracted(EventRetracted),
}

macro_rules! payload {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($(#[$fdoc])* pub $field: $ty,)* }
    };
}

payload!(
    /// `data` of `unit.established`.
    UnitEstablished {
        /// New unit id.
        unit: String,
        /// Name.
        name: String,
        /// Category.
        category: WireCategory,
        /// Parent unit id.
        parent: Option<String>,
        /// Authorised posts.
        quota: Option<u32>,
    }
);
payload!(
    /// `data` of `unit.renamed`.
    UnitRenamed {
        /// Unit id.
        unit: String,
        /// New name.
        name: String,
    }
);
payload!(
    /// `data` of `unit.moved`.
    UnitMoved {
        /// Unit id.
        unit: String,
        /// New parent, or null for a root.
        parent: Option<String>,
    }
);
payload!(
    /// `data` of `unit.reclassified`.
    UnitReclassified {
        /// Unit id.
        unit: String,
        /// New category.
        category: WireCategory,
    }
);
payload!(
    /// `data` of `unit.quota_set`.
    UnitQuotaSet {
        /// Unit id.
        unit: String,
        /// Authorised posts.
        quota: u32,
    }
);
payload!(
    /// A unit created by a merger or split.
    NewUnit {
        /// New unit id.
        unit: String,
        /// Name.
        name: String,
        /// Category.
        category: WireCategory,
        /// Parent unit id.
        parent: Option<String>,
    }
);
payload!(
    /// `data` of `units.merged`: exactly one of `target`, `new_target`.
    UnitsMerged {
        /// Source unit ids.
        sources: Vec<String>,
        /// An existing target unit id.
        target: Option<String>,
        /// A target established by the merger.
        new_target: Option<NewUnit>,
    }
);
payload!(
    /// One staff member allocated to a split part.
    StaffAllocation {
        /// Staff id.
        staff: String,
        /// Part unit id.
        part: String,
    }
);
payload!(
    /// One child unit allocated to a split part.
    UnitAllocation {
        /// Child unit id.
        unit: String,
        /// Part unit id.
        part: String,
    }
);
payload!(
    /// `data` of `unit.split`.
    UnitSplit {
        /// Unit id split up.
        source: String,
        /// The new units.
        parts: Vec<NewUnit>,
        /// Every staff member posted at the source.
        posted: Vec<StaffAllocation>,
        /// Every staff member seconded into the source.
        seconded: Vec<StaffAllocation>,
        /// Every active child unit.
        children: Vec<UnitAllocation>,
    }
);
payload!(
    /// `data` of `unit.dissolved`.
    UnitDissolved {
        /// Unit id.
        unit: String,
    }
);
payload!(
    /// `data` of `staff.joined`.
    StaffJoined {
        /// Staff id.
        staff: String,
        /// Home unit id.
        unit: String,
    }
);
payload!(
    /// `data` of `staff.transferred`.
    StaffTransferred {
        /// Staff id.
        staff: String,
        /// Current home unit id.
        from: String,
        /// New home unit id.
        to: String,
    }
);
payload!(
    /// `data` of `staff.seconded`.
    StaffSeconded {
        /// Staff id.
        staff: String,
        /// Current home unit id.
        from: String,
        /// Host unit id.
        to: String,
        /// Last day away.
        until: Option<WireDate>,
    }
);
payload!(
    /// `data` of `staff.secondment_ended`.
    SecondmentEnded {
        /// Staff id.
        staff: String,
    }
);
payload!(
    /// `data` of `staff.left`.
    StaffLeft {
        /// Staff id.
        staff: String,
        /// Why.
        reason: String,
    }
);
payload!(
    /// The event a retraction names.
    EventRef {
        /// Its source.
        source: String,
        /// Its id.
        id: String,
    }
);
payload!(
    /// `data` of `event.retracted`.
    EventRetracted {
        /// The accepted event to treat as never having happened.
        target: EventRef,
        /// Why.
        reason: String,
    }
);

impl EventBody {
    /// Every CloudEvents `type`, in variant order.
    pub const TYPES: [&'static str; 14] = [
        "org.muster.unit.established.v1",
        "org.muster.unit.renamed.v1",
        "org.muster.unit.moved.v1",
        "org.muster.unit.reclassified.v1",
        "org.muster.unit.quota_set.v1",
        "org.muster.units.merged.v1",
        "org.muster.unit.split.v1",
        "org.muster.unit.dissolved.v1",
        "org.muster.staff.joined.v1",
        "org.muster.staff.transferred.v1",
        "org.muster.staff.seconded.v1",
        "org.muster.staff.secondment_ended.v1",
        "org.muster.staff.left.v1",
        "org.muster.event.retracted.v1",
    ];

    /// This body's CloudEvents `type`.
    pub fn type_name(&self) -> &'static str {
        let i = match self {
            EventBody::UnitEstablished(_) => 0,
            EventBody::UnitRenamed(_) => 1,
            EventBody::UnitMoved(_) => 2,
            EventBody::UnitReclassified(_) => 3,
            EventBody::UnitQuotaSet(_) => 4,
            EventBody::UnitsMerged(_) => 5,
            EventBody::UnitSplit(_) => 6,
            EventBody::UnitDissolved(_) => 7,
            EventBody::StaffJoined(_) => 8,
            EventBody::StaffTransferred(_) => 9,
            EventBody::StaffSeconded(_) => 10,
            EventBody::SecondmentEnded(_) => 11,
            EventBody::StaffLeft(_) => 12,
            EventBody::EventRetracted(_) => 13,
        };
        EventBody::TYPES[i]
    }
}

impl WireCategory {
    /// Its wire name: `office` or `front_line`.
    pub fn as_str(self) -> &'static str {
        match self {
            WireCategory::Office => "office",
            WireCategory::FrontLine => "front_line",
        }
    }
}

impl EventBody {
    /// What it does, in a line for people, from its own fields only
    /// (`PJ00396 transferred PJ-TR1 → PJ-TR2`, `NH-LEG, NH-ADM merged into
    /// NH-SUP`, `retracts hr/x/ev-12`). Rationale: an answer listing events
    /// reads without a lookup per line; the fields stay in the event.
    pub fn summary(&self) -> String {
        match self {
            EventBody::UnitEstablished(e) => {
                let mut about = vec![e.category.as_str().to_owned()];
                about.extend(e.parent.as_ref().map(|p| format!("under {p}")));
                about.extend(e.quota.map(|q| format!("quota {q}")));
                format!("{} established as {} ({})", e.unit, e.name, about.join(", "))
            }
            EventBody::UnitRenamed(e) => format!("{} renamed {}", e.unit, e.name),
            EventBody::UnitMoved(e) => match &e.parent {
                Some(parent) => format!("{} moved under {parent}", e.unit),
                None => format!("{} moved to the top", e.unit),
            },
            EventBody::UnitReclassified(e) => format!("{} reclassified {}", e.unit, e.category.as_str()),
            EventBody::UnitQuotaSet(e) => format!("{} quota set to {}", e.unit, e.quota),
            EventBody::UnitsMerged(e) => merged_summary(e),
            EventBody::UnitSplit(e) => {
                let parts: Vec<&str> = e.parts.iter().map(|p| p.unit.as_str()).collect();
                format!("{} split into {}", e.source, parts.join(", "))
            }
            EventBody::UnitDissolved(e) => format!("{} dissolved", e.unit),
            EventBody::StaffJoined(e) => format!("{} joined {}", e.staff, e.unit),
            EventBody::StaffTransferred(e) => format!("{} transferred {} → {}", e.staff, e.from, e.to),
            EventBody::StaffSeconded(e) => {
                let until = e.until.map(|u| format!(" until {}", u.0)).unwrap_or_default();
                format!("{} seconded {} → {}{until}", e.staff, e.from, e.to)
            }
            EventBody::SecondmentEnded(e) => format!("{}'s secondment ended", e.staff),
            EventBody::StaffLeft(e) => format!("{} left ({})", e.staff, e.reason),
            EventBody::EventRetracted(e) => format!("retracts {}/{}", e.target.source, e.target.id),
        }
    }
}

fn merged_summary(e: &UnitsMerged) -> String {
    let target = match (&e.target, &e.new_target) {
        (_, Some(new)) => format!("{} (new)", new.unit),
        (Some(target), None) => target.clone(),
        (None, None) => "no target".to_owned(),
    };
    format!("{} merged into {target}", e.sources.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_says_what_the_event_did() {
        let transfer = EventBody::StaffTransferred(StaffTransferred {
            staff: "PJ00396".into(),
            from: "PJ-TR1".into(),
            to: "PJ-TR2".into(),
        });
        let merger = EventBody::UnitsMerged(UnitsMerged {
            sources: vec!["NH-LEG".into(), "NH-ADM".into()],
            target: Some("NH-SUP".into()),
            new_target: None,
        });
        let established = EventBody::UnitEstablished(UnitEstablished {
            unit: "PJ-TR1".into(),
            name: "一中队".into(),
            category: WireCategory::FrontLine,
            parent: Some("PJ-TRAFFIC".into()),
            quota: Some(14),
        });
        let retraction = EventBody::EventRetracted(EventRetracted {
            target: EventRef { source: "hr/x".into(), id: "ev-12".into() },
            reason: "keyed in error".into(),
        });
        let summaries = [transfer, merger, established, retraction].map(|e| e.summary());
        assert_eq!(
            summaries,
            [
                "PJ00396 transferred PJ-TR1 → PJ-TR2",
                "NH-LEG, NH-ADM merged into NH-SUP",
                "PJ-TR1 established as 一中队 (front_line, under PJ-TRAFFIC, quota 14)",
                "retracts hr/x/ev-12",
            ]
        );
    }
}
