//! Reading events to publish: JSON lines of CloudEvents, or CSV with one
//! column per field.
//!
//! CSV columns (proto/README.md, "CSV input"): `id`, `source` (or
//! `--source`), `type` (the CloudEvents type, or its short form
//! `staff.transferred`), `effectivedate`, and optionally `orderref`,
//! `note`; then the event's data fields by name (`staff`, `unit`, `from`,
//! `to`, `until`, `reason`, `name`, `category`, `parent`, `quota`), or a
//! `data` column holding a JSON object for events with lists (mergers,
//! splits, retractions). Empty cells are absent. A header without the
//! columns every row needs, or with a column not listed here, refuses the
//! whole file: every row would fail the same way.

use crate::Outgoing;
use muster_proto::{cloudevents, codec};
use serde_json::{Map, Value};
use std::io::Read;

/// A line or row that cannot be published: no usable id to wait for.
#[derive(Clone, Debug)]
pub struct Unpublishable {
    /// 1-based line (JSONL) or record (CSV) number.
    pub line: u64,
    /// The reason code.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

impl Unpublishable {
    /// Its receipt: rejected, unrecorded (no sequence), the line in the
    /// message — for summaries that count it with the ledger's.
    pub fn receipt(&self) -> muster_proto::entry::Receipt {
        muster_proto::entry::Receipt {
            source: String::new(),
            id: String::new(),
            seq: None,
            duplicate: false,
            status: muster_proto::entry::ReceiptStatus::Rejected,
            hash: None,
            code: Some(self.code.clone()),
            message: Some(format!("line {}: {}", self.line, self.message)),
            conflicts_with: Vec::new(),
        }
    }
}

/// How to encode events on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// CloudEvents JSON, as read.
    Json,
    /// The bincode envelope.
    Bincode,
}

/// One JSON line as an outgoing event. A line that does not decode is
/// still published if it names an id and source — the ledger records its
/// rejection — and is unpublishable otherwise.
pub fn from_json_line(line_number: u64, line: &[u8], encoding: Encoding) -> Result<Outgoing, Unpublishable> {
    match cloudevents::decode_json(line) {
        Ok(envelope) => {
            let (content_type, payload) = match encoding {
                Encoding::Json => (cloudevents::CONTENT_TYPE, line.to_vec()),
                Encoding::Bincode => (codec::CONTENT_TYPE, codec::encode_envelope(&envelope)),
            };
            Ok(Outgoing { source: envelope.source, id: envelope.id, content_type, payload })
        }
        Err(e) => match (e.source, e.id) {
            (Some(source), Some(id)) if !source.is_empty() && !id.is_empty() => {
                Ok(Outgoing { source, id, content_type: cloudevents::CONTENT_TYPE, payload: line.to_vec() })
            }
            _ => Err(Unpublishable { line: line_number, code: e.code.as_str().to_owned(), message: e.message }),
        },
    }
}

const DATA_FIELDS: [&str; 10] =
    ["staff", "unit", "from", "to", "until", "reason", "name", "category", "parent", "quota"];

/// The columns of the event's envelope a CSV may have (besides
/// [`DATA_FIELDS`]).
const ENVELOPE_COLUMNS: [&str; 7] = ["id", "source", "type", "effectivedate", "orderref", "note", "data"];

/// Checks a CSV header: every column known, and those every row needs
/// present (`source` only without a default source).
pub fn check_csv_header(headers: &csv::StringRecord, default_source: Option<&str>) -> Result<(), String> {
    let known = |name: &str| ENVELOPE_COLUMNS.contains(&name) || DATA_FIELDS.contains(&name);
    if let Some(unknown) = headers.iter().find(|name| !known(name)) {
        return Err(format!(
            "unknown column '{unknown}' (known: {}, {})",
            ENVELOPE_COLUMNS.join(", "),
            DATA_FIELDS.join(", ")
        ));
    }
    let required: &[&str] = if default_source.is_some() {
        &["id", "type", "effectivedate"]
    } else {
        &["id", "source", "type", "effectivedate"]
    };
    let missing: Vec<&str> = required.iter().copied().filter(|name| !headers.iter().any(|h| h == *name)).collect();
    match missing.as_slice() {
        [] => Ok(()),
        _ if missing.contains(&"source") => {
            Err(format!("no column {} (and no --source for the rows' source)", missing.join(", ")))
        }
        _ => Err(format!("no column {}", missing.join(", "))),
    }
}

/// Reads a CSV file of events: checks its header (line 1), then hands
/// each row to `each` as a CloudEvents JSON line, or why it cannot be one,
/// with its line number in the file. An error: the header is unusable, or
/// the file could not be read.
pub fn read_csv(
    reader: impl Read,
    default_source: Option<&str>,
    mut each: impl FnMut(u64, Result<Vec<u8>, Unpublishable>),
) -> Result<(), Unpublishable> {
    let mut reader = csv::Reader::from_reader(reader);
    let header_error = |message: String| Unpublishable { line: 1, code: "csv_header".into(), message };
    let headers = reader.headers().map_err(|e| header_error(e.to_string()))?.clone();
    check_csv_header(&headers, default_source).map_err(header_error)?;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                let converted = csv_record_to_json(&headers, &record, default_source)
                    .map_err(|message| Unpublishable { line, code: "invalid_field".into(), message });
                each(line, converted);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let bad = Unpublishable { line, code: "invalid_field".into(), message: e.to_string() };
                if e.is_io_error() {
                    return Err(bad);
                }
                each(line, Err(bad));
            }
        }
    }
}

/// One CSV record (with its header) as a CloudEvents JSON line.
pub fn csv_record_to_json(
    headers: &csv::StringRecord,
    record: &csv::StringRecord,
    default_source: Option<&str>,
) -> Result<Vec<u8>, String> {
    let mut event = Map::new();
    let mut data = Map::new();
    event.insert("specversion".into(), "1.0".into());
    for (name, cell) in headers.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        match name {
            "id" | "source" | "effectivedate" | "orderref" | "note" => {
                event.insert(name.into(), cell.into());
            }
            "type" => {
                let full =
                    if cell.starts_with("org.muster.") { cell.to_owned() } else { format!("org.muster.{cell}.v1") };
                event.insert("type".into(), full.into());
            }
            "data" => {
                let Value::Object(object) = serde_json::from_str(cell).map_err(|e| format!("data: {e}"))? else {
                    return Err("data must be a JSON object".into());
                };
                data.extend(object);
            }
            "quota" => {
                let quota: u64 = cell.parse().map_err(|_| format!("quota '{cell}' is not a whole number"))?;
                data.insert(name.into(), quota.into());
            }
            field if DATA_FIELDS.contains(&field) => {
                data.insert(field.into(), cell.into());
            }
            other => return Err(format!("unknown column '{other}'")),
        }
    }
    if !event.contains_key("source") {
        let source = default_source.ok_or("no source column and no --source")?;
        event.insert("source".into(), source.into());
    }
    event.insert("data".into(), Value::Object(data));
    serde_json::to_vec(&Value::Object(event)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(csv_text: &str, source: Option<&str>) -> Vec<Result<Outgoing, String>> {
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        reader
            .records()
            .enumerate()
            .map(|(i, record)| {
                let json = csv_record_to_json(&headers, &record.unwrap(), source)?;
                from_json_line(i as u64 + 1, &json, Encoding::Json).map_err(|e| e.message)
            })
            .collect()
    }

    #[test]
    fn csv_rows_become_cloudevents_with_flat_or_json_data() {
        let rows = convert(
            "id,type,effectivedate,orderref,staff,from,to,until,data\n\
             e1,staff.transferred,2015-10-01,南湖公〔2015〕44号,P002,NH-SUP,NH-PS1,,\n\
             e2,staff.seconded,2015-11-01,,P030,NH-PS1,NH-SUP,2015-12-31,\n\
             e3,units.merged,2015-09-01,,,,,,\"{\"\"sources\"\":[\"\"A\"\",\"\"B\"\"],\"\"target\"\":\"\"C\"\"}\"\n",
            Some("hr/nanhu"),
        );
        let events: Vec<Outgoing> = rows.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e1", "e2", "e3"]);
        let first = muster_proto::cloudevents::decode_json(&events[0].payload).unwrap();
        assert_eq!(first.source, "hr/nanhu");
        assert_eq!(first.order_ref.as_deref(), Some("南湖公〔2015〕44号"));
        let second = muster_proto::cloudevents::decode_json(&events[1].payload).unwrap();
        let muster_proto::wire::EventBody::StaffSeconded(seconded) = second.body else { panic!("not a secondment") };
        assert_eq!(seconded.until.unwrap().0.to_string(), "2015-12-31");
    }

    /// Each row's line, and its JSON or why not.
    type Rows = Vec<(u64, Result<Vec<u8>, String>)>;

    fn read(csv_text: &str, source: Option<&str>) -> Result<Rows, String> {
        let mut rows = Vec::new();
        read_csv(csv_text.as_bytes(), source, |line, row| rows.push((line, row.map_err(|e| e.message))))
            .map_err(|e| format!("line {}: {}", e.line, e.message))?;
        Ok(rows)
    }

    #[test]
    fn a_csv_header_without_what_rows_need_refuses_the_file() {
        let no_source = read("id,type,effectivedate,staff\ne1,staff.left,2015-01-01,P1\n", None).unwrap_err();
        assert_eq!(no_source, "line 1: no column source (and no --source for the rows' source)");
        let unknown = read("id,type,effectivedate,colour\ne1,staff.left,2015-01-01,red\n", Some("hr")).unwrap_err();
        assert!(unknown.starts_with("line 1: unknown column 'colour'"), "{unknown}");
        assert_eq!(read("", Some("hr")).unwrap_err(), "line 1: no column id, type, effectivedate");
        // Rows are numbered by their line in the file (the header is 1).
        let rows =
            read("id,type,effectivedate,quota\ne1,staff.left,2015-01-01,1\ne2,staff.left,2015-01-01,x\n", Some("hr"))
                .unwrap();
        assert_eq!(rows.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(rows[1].1.as_ref().unwrap_err(), "quota 'x' is not a whole number");
    }

    #[test]
    fn csv_problems_are_named() {
        let rows = convert("id,type,effectivedate,colour\ne1,staff.left,2015-01-01,red\n", Some("hr"));
        assert_eq!(rows[0].as_ref().unwrap_err(), "unknown column 'colour'");
        let rows = convert("id,type,effectivedate,staff\ne1,staff.left,2015-01-01,P1\n", None);
        assert!(rows[0].as_ref().unwrap_err().contains("no source column"));
    }
}
