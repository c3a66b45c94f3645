//! A page's query string: checked against the parameters the page takes
//! (as strictly as the API checks its own), and turned into the API's
//! typed requests. Also the links between pages: every link carries the
//! pinned ledger state, so following it stays in the same state.

use crate::{Api, ApiError};
use muster_proto::answers::StateOut;
use muster_proto::requests::ErrorAnswer;
use muster_proto::requests::StateRequest;
use std::collections::BTreeMap;

/// A page's parameters, empty values dropped (an empty form field means
/// "not given").
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// `pairs` if every one is among `accepted`, each at most once.
    pub fn of(pairs: &[(String, String)], accepted: &'static [&'static str]) -> Result<Params, ApiError> {
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            if !accepted.contains(&key.as_str()) {
                return Err(unknown_field(key, accepted));
            }
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if map.insert(key.clone(), value.to_owned()).is_some() {
                return Err(ApiError::bad_request(format!("parameter {key} is given more than once")));
            }
        }
        Ok(Params(map))
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The value of `key`, or `default`.
    pub fn or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_owned()
    }

    /// A `true`/`false` switch (a checkbox sends `on`).
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") | Some("on") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!("{key} '{other}' is not true or false"))),
        }
    }
}

fn unknown_field(key: &str, accepted: &[&str]) -> ApiError {
    ApiError {
        status: 400,
        answer: ErrorAnswer {
            code: "unknown_field".into(),
            message: format!("this page takes no parameter {key}; it takes {}", accepted.join(", ")),
            field: Some(key.to_owned()),
            accepted: Some(accepted.iter().map(|a| (*a).to_owned()).collect()),
        },
    }
}

/// `known_at` as a page takes it, one field: a ledger sequence (digits)
/// or a commit time (anything else, checked by the API).
pub fn known_at(text: Option<&str>) -> Result<(Option<u64>, Option<String>), ApiError> {
    match text {
        None => Ok((None, None)),
        Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => {
            let seq = t.parse().map_err(|_| ApiError::bad_request(format!("known_at '{t}' is too large")))?;
            Ok((Some(seq), None))
        }
        Some(t) => Ok((None, Some(t.to_owned()))),
    }
}

/// The ledger state a page is computed from: its `known_at`, or the head.
pub fn pin(api: &impl Api, params: &Params) -> Result<StateOut, ApiError> {
    let (known_at_seq, known_at_time) = known_at(params.get("known_at"))?;
    api.state(StateRequest { known_at_seq, known_at_time })
}

/// A link: `path?key=value&…`, values percent-encoded, empty ones left out.
pub fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A path segment (a unit or staff id), percent-encoded.
pub fn segment(id: &str) -> String {
    encode(id)
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn an_empty_form_field_is_not_given() {
        let params = Params::of(&pairs(&[("date", ""), ("known_at", " 12 ")]), &["date", "known_at"]).unwrap();
        assert_eq!(params.get("date"), None);
        assert_eq!(params.get("known_at"), Some("12"));
    }

    #[test]
    fn a_parameter_the_page_does_not_take_is_refused_with_the_list() {
        let e = Params::of(&pairs(&[("dat", "2016-01-01")]), &["date", "known_at"]).err().unwrap();
        assert_eq!((e.status, e.answer.code.as_str()), (400, "unknown_field"));
        assert_eq!(e.answer.accepted.unwrap(), ["date", "known_at"]);
    }

    #[test]
    fn known_at_is_a_sequence_when_all_digits_else_a_time() {
        assert_eq!(known_at(Some("57")).unwrap(), (Some(57), None));
        assert_eq!(known_at(Some("2016-01-05T08:00:00Z")).unwrap(), (None, Some("2016-01-05T08:00:00Z".into())));
        assert_eq!(known_at(None).unwrap(), (None, None));
    }

    #[test]
    fn links_encode_ids_and_leave_out_empty_values() {
        assert_eq!(
            link("/org", &[("date", "2016-01-01"), ("under", ""), ("q", "交警 1")]),
            "/org?date=2016-01-01&q=%E4%BA%A4%E8%AD%A6%201"
        );
        assert_eq!(segment("NH-TR1"), "NH-TR1");
    }
}
