//! Why an event is rejected: stable reason codes and human messages.
//!
//! Codes are part of the contract (listed in `proto/REASON_CODES.md`,
//! checked by a test): never renamed, never reused for another meaning.

use crate::Seq;
use std::fmt;

macro_rules! reason_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        /// A stable reason code. Most come from the validator; the ones
        /// marked "codec" or "ledger" come from decoding and the ledger.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        #[non_exhaustive]
        pub enum ReasonCode {
            $($(#[$doc])* $variant,)*
        }

        impl ReasonCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)*];

            /// The stable snake_case code.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ReasonCode::$variant => $code,)*
                }
            }

            /// The code for a stable snake_case name.
            pub fn from_code(code: &str) -> Option<ReasonCode> {
                match code {
                    $($code => Some(ReasonCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

reason_codes! {
    /// Codec: the payload is not valid JSON or not valid bincode.
    MalformedPayload = "malformed_payload",
    /// Codec: the payload is larger than the limit.
    PayloadTooLarge = "payload_too_large",
    /// Codec: an unknown CloudEvents `type`.
    UnknownEventType = "unknown_event_type",
    /// Codec: a required field is missing.
    MissingField = "missing_field",
    /// Codec: a field is not of its type, empty, not allowed here, or unknown.
    InvalidField = "invalid_field",
    /// Codec: a text or list is over its length limit.
    FieldTooLong = "field_too_long",
    /// Codec: not a `YYYY-MM-DD` day between 1900-01-01 and 2199-12-31.
    InvalidDate = "invalid_date",
    /// Codec: the format version byte or `specversion` is not supported.
    UnsupportedVersion = "unsupported_version",
    /// Codec: the message's content type is none of CloudEvents JSON (one
    /// event or a batch) and the bincode envelope.
    UnsupportedContentType = "unsupported_content_type",
    /// Ledger: an event's source is not the one whose intake subject it came
    /// on (a publisher may be allowed one source's subjects only).
    SourceNotOfSubject = "source_not_of_subject",
    /// Ledger: the (source, id) was recorded before with other content.
    DuplicateIdDifferentContent = "duplicate_id_different_content",
    /// A unit id that no event ever established.
    UnitUnknown = "unit_unknown",
    /// A unit not active on the day: not yet established, or closed.
    UnitNotActive = "unit_not_active",
    /// A new unit's id was already used.
    UnitIdAlreadyUsed = "unit_id_already_used",
    /// The same unit appears twice where units must be distinct.
    DuplicateUnitInEvent = "duplicate_unit_in_event",
    /// A move would make a unit its own ancestor.
    UnitCycle = "unit_cycle",
    /// A reclassification to the category the unit already has.
    CategoryUnchanged = "category_unchanged",
    /// A merge target (or its parent) is a source or below one.
    MergeTargetInsideSources = "merge_target_inside_sources",
    /// A split part's parent is the source or below it.
    SplitPartInsideSource = "split_part_inside_source",
    /// A split does not allocate everything in the source.
    SplitAllocationIncomplete = "split_allocation_incomplete",
    /// A split allocates something not in the source, or twice.
    SplitAllocationExtra = "split_allocation_extra",
    /// A split allocates to a unit that is not one of its parts.
    SplitAllocationUnknownPart = "split_allocation_unknown_part",
    /// A dissolved unit still has staff posted, secondees or active children.
    UnitNotEmpty = "unit_not_empty",
    /// A staff id that never joined.
    StaffUnknown = "staff_unknown",
    /// A join of a staff member already active on the day.
    StaffAlreadyActive = "staff_already_active",
    /// A staff member not active on the day.
    StaffNotActive = "staff_not_active",
    /// The staff member's home unit on the day is not the one named.
    StaffNotInUnit = "staff_not_in_unit",
    /// A transfer or secondment to the unit the staff member is posted at.
    SameUnit = "same_unit",
    /// A secondment of a staff member already seconded on the day.
    AlreadySeconded = "already_seconded",
    /// A secondment ended for a staff member not seconded on the day.
    NotSeconded = "not_seconded",
    /// A secondment's `until` is before its effective date.
    UntilBeforeEffectiveDate = "until_before_effective_date",
    /// A retraction names an event the ledger does not have.
    RetractionTargetUnknown = "retraction_target_unknown",
    /// A retraction names an event that was rejected.
    RetractionTargetRejected = "retraction_target_rejected",
    /// A retraction names another retraction.
    RetractionTargetIsRetraction = "retraction_target_is_retraction",
    /// A retraction names an event already retracted.
    AlreadyRetracted = "already_retracted",
    /// The event is valid at its own place, but an accepted later event
    /// would become invalid; the conflicting events are named.
    ConflictsWithLaterEvent = "conflicts_with_later_event",
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event was rejected: a code, a message naming the ids and dates
/// involved, and the accepted events it conflicts with (by sequence).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rejection {
    /// The stable code.
    pub code: ReasonCode,
    /// A sentence naming the ids and dates involved.
    pub message: String,
    /// For [`ReasonCode::ConflictsWithLaterEvent`]: the sequence of the
    /// accepted event that would become invalid.
    pub conflicting_seqs: Vec<Seq>,
}

impl Rejection {
    /// A rejection with no conflicting events.
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Rejection {
        Rejection { code, message: message.into(), conflicting_seqs: Vec::new() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
