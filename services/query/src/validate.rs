//! Checking a request before it is answered, and the errors a query
//! answers with: [`QueryErrorCode`] and [`QueryError`], the parsing of a
//! request's JSON ([`parse`]), of its values (dates, `known_at`,
//! [`parse_utc_ms`]) and the check that the ids it names exist.
//! Rationale: every endpoint goes through the same checks, and they read
//! apart from what each endpoint answers. Re-exported from
//! [`crate::answer`], where callers find them.

use crate::answer::QueryEndpoint;
use muster_domain::{Date, Seq, StaffId, Timeline, UnitId};
use muster_ledger::Ledger;
use muster_proto::requests::*;

/// Why a query has no answer: a stable code (proto/README.md, "Query
/// errors"), never renamed or reused, and the HTTP status that goes with
/// it. Over NATS the code is in the JSON body of the error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryErrorCode {
    /// A request that does not parse, or a value that is not one (a
    /// malformed date, `to` before `from`, too many points). 400.
    BadRequest,
    /// A field or query parameter the endpoint does not accept; the error
    /// names it and lists the accepted ones. 400.
    UnknownField,
    /// A unit id (`unit`, `scope`) no accepted event established, as the
    /// ledger knew it at the `known_at` asked. 404.
    UnitUnknown,
    /// A staff id no accepted event named, as known at the `known_at`
    /// asked. 404.
    StaffUnknown,
    /// No such endpoint or path, or no event recorded under a receipt's
    /// (source, id). 404.
    NotFound,
    /// An HTTP method the path does not take. 405.
    MethodNotAllowed,
    /// `known_at_seq` past what this replica has applied: ask again, or
    /// another replica. 503.
    NotYetApplied,
    /// The replica failed (storage, a bug). 500.
    Internal,
}

impl QueryErrorCode {
    /// Every code, in the order documented.
    pub const ALL: [QueryErrorCode; 8] = [
        QueryErrorCode::BadRequest,
        QueryErrorCode::UnknownField,
        QueryErrorCode::UnitUnknown,
        QueryErrorCode::StaffUnknown,
        QueryErrorCode::NotFound,
        QueryErrorCode::MethodNotAllowed,
        QueryErrorCode::NotYetApplied,
        QueryErrorCode::Internal,
    ];

    /// The code named `text` (as a remote answer carries it), if any.
    pub fn named(text: &str) -> Option<QueryErrorCode> {
        QueryErrorCode::ALL.into_iter().find(|code| code.as_str() == text)
    }

    /// The stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryErrorCode::BadRequest => "bad_request",
            QueryErrorCode::UnknownField => "unknown_field",
            QueryErrorCode::UnitUnknown => "unit_unknown",
            QueryErrorCode::StaffUnknown => "staff_unknown",
            QueryErrorCode::NotFound => "not_found",
            QueryErrorCode::MethodNotAllowed => "method_not_allowed",
            QueryErrorCode::NotYetApplied => "not_yet_applied",
            QueryErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status (also `Nats-Service-Error-Code` over NATS).
    pub fn http_status(self) -> u16 {
        match self {
            QueryErrorCode::BadRequest | QueryErrorCode::UnknownField => 400,
            QueryErrorCode::UnitUnknown | QueryErrorCode::StaffUnknown | QueryErrorCode::NotFound => 404,
            QueryErrorCode::MethodNotAllowed => 405,
            QueryErrorCode::NotYetApplied => 503,
            QueryErrorCode::Internal => 500,
        }
    }

    /// The `Nats-Service-Error-Code` of an error reply over NATS: the HTTP
    /// status, so a client of either edge reads the same number.
    pub fn nats_code(self) -> usize {
        usize::from(self.http_status())
    }
}

impl std::fmt::Display for QueryErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// What kind of error.
    pub code: QueryErrorCode,
    /// What went wrong, naming the field and the value.
    pub message: String,
    /// With `UnknownField`: the field not understood and the accepted ones.
    pub unknown_field: Option<(String, &'static [&'static str])>,
}

impl QueryError {
    /// An error of `code`.
    pub fn new(code: QueryErrorCode, message: impl Into<String>) -> QueryError {
        QueryError { code, message: message.into(), unknown_field: None }
    }

    pub(crate) fn bad(message: impl Into<String>) -> QueryError {
        QueryError::new(QueryErrorCode::BadRequest, message)
    }

    /// `field` is not one of `accepted` (the fields of `endpoint`).
    pub fn unknown_field(endpoint: &str, field: &str, accepted: &'static [&'static str]) -> QueryError {
        let list = if accepted.is_empty() { "nothing".to_owned() } else { accepted.join(", ") };
        QueryError {
            code: QueryErrorCode::UnknownField,
            message: format!("{endpoint} does not accept '{field}'; it accepts {list}"),
            unknown_field: Some((field.to_owned(), accepted)),
        }
    }

    /// As the body of an error answer.
    pub fn to_answer(&self) -> ErrorAnswer {
        ErrorAnswer {
            code: self.code.as_str().into(),
            message: self.message.clone(),
            field: self.unknown_field.as_ref().map(|(field, _)| field.clone()),
            accepted: self.unknown_field.as_ref().map(|(_, accepted)| accepted.iter().map(|f| f.to_string()).collect()),
        }
    }

    /// As the JSON body of an error answer.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_answer()).expect("serializes")
    }

    /// The HTTP status that goes with it.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The NATS error code that goes with it.
    pub fn nats_code(&self) -> usize {
        self.code.nats_code()
    }
}

/// `body` as the request of `endpoint`: a JSON object (an empty body is
/// `{}`) of the fields it accepts, and no other.
pub fn parse<T: QueryRequest>(endpoint: QueryEndpoint, body: &[u8]) -> Result<T, QueryError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| QueryError::bad(format!("request: {e}")))?;
    let serde_json::Value::Object(fields) = &value else {
        return Err(QueryError::bad("request: not a JSON object"));
    };
    if let Some(field) = fields.keys().find(|field| !T::FIELDS.contains(&field.as_str())) {
        return Err(QueryError::unknown_field(endpoint.name(), field, T::FIELDS));
    }
    serde_json::from_value(value).map_err(|e| QueryError::bad(format!("request: {e}")))
}

/// What a request names by id.
#[derive(Clone, Copy)]
pub(crate) enum Named {
    Unit,
    Staff,
}

/// The unit or staff member `id`, named by `field`, exists as known at
/// `known_at`: a unit some accepted event established (on any day), a
/// member some accepted event named. Rationale: asked of an id never
/// established, every query answered zeros or nothing, which reads as a
/// true answer (a mistyped unit had a headcount of 0, and its audit
/// "balanced"). A unit not active on the day is known: its answer says so.
pub(crate) fn require(
    timeline: &Timeline,
    named: Named,
    field: &str,
    id: &str,
    known_at: Option<Seq>,
) -> Result<(), QueryError> {
    let known = |id: &str| match named {
        Named::Unit => timeline.unit_known(&UnitId::from(id), known_at),
        Named::Staff => timeline.staff_known(&StaffId::from(id), known_at),
    };
    if known(id) {
        return Ok(());
    }
    let mut ids: Box<dyn Iterator<Item = &str>> = match named {
        Named::Unit => Box::new(timeline.unit_ids()),
        Named::Staff => Box::new(timeline.staff_ids()),
    };
    let near = ids.find(|other| other.eq_ignore_ascii_case(id) && *other != id && known(other));
    let (code, missing) = match named {
        Named::Unit => (QueryErrorCode::UnitUnknown, format!("no unit {id} was ever established")),
        Named::Staff => (QueryErrorCode::StaffUnknown, format!("no staff member {id} ever joined")),
    };
    Err(QueryError::new(code, format!("{field} {id}: {missing}{}{}", as_known(known_at), did_you_mean(near))))
}

fn as_known(known_at: Option<Seq>) -> String {
    known_at.map(|k| format!(" as known at seq {k}")).unwrap_or_default()
}

fn did_you_mean(near: Option<&str>) -> String {
    near.map(|id| format!(" (did you mean {id}?)")).unwrap_or_default()
}

pub(crate) fn date(field: &str, text: &str) -> Result<Date, QueryError> {
    Date::parse(text).map_err(|e| QueryError::bad(format!("{field}: {e}")))
}

pub(crate) fn internal(e: impl std::fmt::Display) -> QueryError {
    QueryError::new(QueryErrorCode::Internal, e.to_string())
}

/// `known_at` as a sequence.
pub(crate) fn known_at(ledger: &Ledger, known_at: &KnownAt) -> Result<Option<Seq>, QueryError> {
    ledger_point(ledger, "known_at", known_at.known_at_seq, &known_at.known_at_time)
}

/// The `reported_at` of `corrections` as a sequence: like `known_at`, but
/// required (a correction is against something reported).
pub(crate) fn reported_at(ledger: &Ledger, seq: Option<u64>, time: &Option<String>) -> Result<Seq, QueryError> {
    ledger_point(ledger, "reported_at", seq, time)?
        .ok_or_else(|| QueryError::bad("give reported_at_seq or reported_at_time: the point as reported"))
}

/// A point of the ledger named by `<name>_seq` or `<name>_time`.
fn ledger_point(
    ledger: &Ledger,
    name: &str,
    seq: Option<u64>,
    time: &Option<String>,
) -> Result<Option<Seq>, QueryError> {
    match (seq, time) {
        (Some(_), Some(_)) => Err(QueryError::bad(format!("give {name}_seq or {name}_time, not both"))),
        // Past this copy's head: a replica that has not applied that entry
        // yet would answer as if it did not exist. Rationale: a client that
        // holds a receipt with seq K asks "as known at K" and gets the same
        // answer from every replica, or this, and asks again (or another).
        (Some(seq), None) if seq > ledger.head().seq => Err(QueryError::new(
            QueryErrorCode::NotYetApplied,
            format!(
                "{name}_seq {seq} is past the last entry this copy holds ({}): ask again once it has caught up, or another replica",
                ledger.head().seq
            ),
        )),
        (Some(seq), None) => Ok(Some(seq)),
        (None, Some(time)) => {
            let ms = parse_utc_ms(time).map_err(QueryError::bad)?;
            ledger.seq_at_time(ms).map(Some).map_err(internal)
        }
        (None, None) => Ok(None),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` to Unix milliseconds.
pub fn parse_utc_ms(text: &str) -> Result<u64, String> {
    let bad = || format!("'{text}' is not a UTC time like 2016-01-05T08:00:00Z");
    let (day, rest) = text.split_once('T').ok_or_else(bad)?;
    let clock = rest.strip_suffix('Z').ok_or_else(bad)?;
    let date = Date::parse(day).map_err(|_| bad())?;
    let (clock, millis) = match clock.split_once('.') {
        Some((c, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            (c, format!("{f:0<3}")[..3].parse::<u64>().map_err(|_| bad())?)
        }
        Some(_) => return Err(bad()),
        None => (clock, 0),
    };
    let parts: Vec<u64> = clock.split(':').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let [h, m, s] = parts[..] else { return Err(bad()) };
    if h > 23 || m > 59 || s > 60 {
        return Err(bad());
    }
    let epoch = Date::from_ymd(1970, 1, 1).expect("in range").day_number();
    let days = date.day_number().checked_sub(epoch).ok_or_else(bad)?;
    Ok((u64::from(days) * 86_400 + h * 3600 + m * 60 + s) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// proto/README.md's table of query errors lists every code, in
    /// order, with its HTTP status: the documentation cannot drift.
    #[test]
    fn the_readme_lists_every_error_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/README.md");
        let readme = std::fs::read_to_string(path).expect("proto/README.md");
        let section = readme.split("## Queries").nth(1).expect("a Queries section");
        let section = section.split("\n## ").next().expect("its end");
        let rows: Vec<(String, u16)> = section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((code.to_owned(), cells.get(2)?.parse().ok()?))
            })
            .collect();
        let codes: Vec<(String, u16)> =
            QueryErrorCode::ALL.iter().map(|c| (c.as_str().to_owned(), c.http_status())).collect();
        assert_eq!(rows, codes);
    }
}
