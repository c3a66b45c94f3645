//! One dispatcher for every query, whatever carried it (NATS or HTTP):
//! a JSON request in, a JSON answer or a typed error out.

use muster_domain::{Date, Seq, StaffId, UnitId};
use muster_ledger::Ledger;
use muster_proto::answers::*;
use muster_proto::limits::SERIES_POINTS_MAX;
use muster_proto::requests::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The endpoints, by name.
pub const ENDPOINTS: [&str; 10] =
    ["headcount", "tree", "roster", "history", "lineage", "series", "audit", "receipt", "verify", "status"];

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// `bad_request`, `not_found`, `not_yet_applied` (a replica behind the
    /// asked `known_at_seq`: ask again) or `internal`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl QueryError {
    fn bad(message: impl Into<String>) -> QueryError {
        QueryError { code: "bad_request", message: message.into() }
    }

    /// As the JSON body of an error answer.
    pub fn to_json(&self) -> Vec<u8> {
        let answer = ErrorAnswer { code: self.code.into(), message: self.message.clone() };
        serde_json::to_vec(&answer).expect("serializes")
    }

    /// The HTTP status that goes with it.
    pub fn http_status(&self) -> u16 {
        match self.code {
            "bad_request" => 400,
            "not_found" => 404,
            "not_yet_applied" => 503,
            _ => 500,
        }
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, QueryError> {
    serde_json::from_slice(body).map_err(|e| QueryError::bad(format!("request: {e}")))
}

fn date(field: &str, text: &str) -> Result<Date, QueryError> {
    Date::parse(text).map_err(|e| QueryError::bad(format!("{field}: {e}")))
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, QueryError> {
    serde_json::to_vec(value).map_err(|e| QueryError { code: "internal", message: e.to_string() })
}

fn internal(e: impl std::fmt::Display) -> QueryError {
    QueryError { code: "internal", message: e.to_string() }
}

/// `known_at` as a sequence.
fn known_at(ledger: &Ledger, known_at: &KnownAt) -> Result<Option<Seq>, QueryError> {
    match (known_at.known_at_seq, &known_at.known_at_time) {
        (Some(_), Some(_)) => Err(QueryError::bad("give known_at_seq or known_at_time, not both")),
        // Past this copy's head: a replica that has not applied that entry
        // yet would answer as if it did not exist. Rationale: a client that
        // holds a receipt with seq K asks "as known at K" and gets the same
        // answer from every replica, or this, and asks again (or another).
        (Some(seq), None) if seq > ledger.head().seq => Err(QueryError {
            code: "not_yet_applied",
            message: format!(
                "known_at_seq {seq} is past the last entry this copy holds ({}): ask again once it has caught up, or another replica",
                ledger.head().seq
            ),
        }),
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

/// D1, the first of every month after it up to D2 (at most 600 of them,
/// evenly thinned), and D2.
fn audit_days(from: Date, to: Date) -> Vec<Date> {
    let mut days = vec![from];
    let (mut year, mut month, _) = from.ymd();
    loop {
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        match Date::from_ymd(year, month, 1) {
            Ok(day) if day < to => days.push(day),
            _ => break,
        }
    }
    let step = days.len().div_ceil(600).max(1);
    let mut days: Vec<Date> = days.into_iter().step_by(step).collect();
    days.push(to);
    days
}

/// The part of a depth-first tree under `root` (inclusive).
fn subtree(tree: Vec<muster_domain::TreeNode>, root: &UnitId) -> Vec<muster_domain::TreeNode> {
    let Some(start) = tree.iter().position(|n| &n.unit == root) else { return Vec::new() };
    let depth = tree[start].depth;
    let end = tree[start + 1..].iter().position(|n| n.depth <= depth).map_or(tree.len(), |i| start + 1 + i);
    tree[start..end].to_vec()
}

/// Answers `endpoint` with `body` (JSON) from `ledger`. `status` is not
/// answered here: it needs the feed's position, which the caller has.
pub fn answer(ledger: &Ledger, endpoint: &str, body: &[u8]) -> Result<Vec<u8>, QueryError> {
    let timeline = ledger.timeline();
    match endpoint {
        "headcount" => {
            let r: HeadcountRequest = parse(body)?;
            let k = known_at(ledger, &r.known_at)?;
            let h = timeline.headcount(&UnitId::from(r.unit), date("date", &r.date)?, k, r.rollup);
            json(&HeadcountOut::new(&h, k))
        }
        "tree" => {
            let r: TreeRequest = parse(body)?;
            let k = known_at(ledger, &r.known_at)?;
            let nodes: Vec<TreeNodeOut> = timeline.tree(date("date", &r.date)?, k).iter().map(Into::into).collect();
            json(&nodes)
        }
        "roster" => {
            let r: RosterRequest = parse(body)?;
            let k = known_at(ledger, &r.known_at)?;
            let rows: Vec<RosterEntryOut> =
                timeline.roster(&UnitId::from(r.unit), date("date", &r.date)?, k).iter().map(Into::into).collect();
            json(&rows)
        }
        "history" => {
            let r: HistoryRequest = parse(body)?;
            let k = known_at(ledger, &r.known_at)?;
            let rows: Vec<HistoryEntryOut> =
                timeline.staff_history(&StaffId::from(r.staff), k).iter().map(Into::into).collect();
            json(&rows)
        }
        "lineage" => {
            let r: LineageRequest = parse(body)?;
            let k = known_at(ledger, &r.known_at)?;
            let rows: Vec<LineageEdgeOut> = timeline.lineage(&UnitId::from(r.unit), k).iter().map(Into::into).collect();
            json(&rows)
        }
        "series" => {
            let r: SeriesRequest = parse(body)?;
            let k = known_at(ledger, &r.known_at)?;
            let (from, to) = (date("from", &r.from)?, date("to", &r.to)?);
            if to < from {
                return Err(QueryError::bad(format!("to {to} is before from {from}")));
            }
            let points = timeline.series(&UnitId::from(r.unit), from, to, k, r.rollup);
            if points.len() > SERIES_POINTS_MAX {
                return Err(QueryError::bad(format!(
                    "{} points is over the limit of {SERIES_POINTS_MAX}",
                    points.len()
                )));
            }
            let rows: Vec<SeriesPointOut> = points.iter().map(Into::into).collect();
            json(&rows)
        }
        "audit" => {
            let r: AuditRequest = parse(body)?;
            let k = known_at(ledger, &r.known_at)?;
            let (from, to) = (date("from", &r.from)?, date("to", &r.to)?);
            if to <= from {
                return Err(QueryError::bad(format!("to {to} must be after from {from}")));
            }
            let scope = r.scope.map(UnitId::from);
            let audit = timeline.audit(from, to, scope.as_ref(), k);
            let series: Vec<(Date, muster_domain::Strength)> =
                audit_days(from, to).into_iter().map(|d| (d, timeline.strength_on(d, scope.as_ref(), k))).collect();
            let in_scope = |date: Date| {
                let tree = timeline.tree(date, k);
                match &scope {
                    None => tree,
                    Some(root) => subtree(tree, root),
                }
            };
            json(&AuditOut::new(&audit, k, &series, &in_scope(from), &in_scope(to)))
        }
        "receipt" => {
            let r: ReceiptRequest = parse(body)?;
            match ledger.receipt(&r.source, &r.id).map_err(internal)? {
                Some(receipt) => json(&receipt),
                None => Err(QueryError {
                    code: "not_found",
                    message: format!("no event {}/{} was recorded", r.source, r.id),
                }),
            }
        }
        "verify" => {
            let answer = match ledger.verify() {
                Ok(report) => VerifyAnswer::whole(report.entries, muster_ledger::hex(&report.head_hash)),
                Err(e) => match e.kind() {
                    muster_ledger::LedgerErrorKind::Corrupt { seq, reason } => {
                        VerifyAnswer::broken(ledger.head().seq, *seq, reason.clone())
                    }
                    _ => return Err(internal(e)),
                },
            };
            json(&answer)
        }
        other => Err(QueryError { code: "not_found", message: format!("no endpoint '{other}'") }),
    }
}
