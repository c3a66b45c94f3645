//! The audit as a workbook (`/v1/audit.xlsx`), over a real stack holding
//! the reform scenario: read back with calamine, every figure of its
//! Summary and every row of every sheet is the JSON answer of
//! `/v1/audit` to the same question; each sheet has its autofilter and a
//! frozen header; a bad question gets the JSON error `/v1/audit` gives.

use calamine::{Data, Reader, Xlsx};
use muster_tests::browser::download;
use muster_tests::stack::ReformStack;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{Cursor, Read};

const NANHU: &str = "scope=NH&from=2013-01-01&to=2016-12-01";
const SHEETS: [&str; 10] = [
    "Summary",
    "Moved down",
    "Moved up",
    "Round trips",
    "Units on D1",
    "Units on D2",
    "Sub-units",
    "Strength series",
    "Tree D1",
    "Tree D2",
];

/// A cell as the JSON value it must equal (whole numbers as integers).
fn cell_json(cell: &Data) -> Value {
    match cell {
        Data::Empty => Value::Null,
        Data::String(text) => json!(text),
        Data::Float(f) if f.fract() == 0.0 => json!(*f as i64),
        Data::Float(f) => json!(f),
        Data::Int(i) => json!(i),
        other => panic!("a cell of an unexpected type: {other:?}"),
    }
}

/// A JSON value as the workbook shows it: a flag as yes or no, a whole
/// number (27.0 too) as an integer, as [`cell_json`] reads it.
fn shown(value: &Value) -> Value {
    match value {
        Value::Bool(flag) => json!(if *flag { "yes" } else { "no" }),
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => json!(n.as_f64().unwrap() as i64),
        other => other.clone(),
    }
}

/// The rows of `sheet` below its header.
fn sheet_rows(workbook: &mut Xlsx<Cursor<Vec<u8>>>, sheet: &str) -> Vec<Vec<Value>> {
    let range = workbook.worksheet_range(sheet).unwrap_or_else(|e| panic!("sheet {sheet}: {e}"));
    range.rows().skip(1).map(|row| row.iter().map(cell_json).collect()).collect()
}

/// `fields` of each object of `list`, as shown.
fn rows_of(list: &Value, fields: &[&str]) -> Vec<Vec<Value>> {
    let objects = list.as_array().expect("a list");
    objects.iter().map(|o| fields.iter().map(|f| shown(&o[*f])).collect()).collect()
}

/// The paths (`a.b`) of every figure of the answer: its scalars, lists
/// aside.
fn scalar_fields(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in value.as_object().expect("an object") {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Object(_) => scalar_fields(value, &path, out),
            Value::Array(_) => {}
            _ => {
                out.insert(path);
            }
        }
    }
}

/// Summary: every figure of the answer once, each equal to the JSON
/// field it names.
fn check_summary(rows: &[Vec<Value>], audit: &Value) {
    let mut named = BTreeSet::new();
    for row in rows {
        let Some(field) = row[3].as_str().filter(|f| !f.is_empty()) else { continue };
        let pointer = format!("/{}", field.replace('.', "/"));
        let expected = audit.pointer(&pointer).unwrap_or_else(|| panic!("{field} is not in the answer"));
        assert_eq!(row[2], shown(expected), "Summary {field}");
        assert!(named.insert(field.to_owned()), "{field} twice");
    }
    let mut fields = BTreeSet::new();
    scalar_fields(audit, "", &mut fields);
    assert_eq!(named, fields, "the Summary holds every figure of the answer");
}

/// One row per (move, event), numbered by move.
fn expected_moves(moves: &Value) -> Vec<Vec<Value>> {
    let move_fields = [
        "staff",
        "from_unit",
        "from_unit_name",
        "to_unit",
        "to_unit_name",
        "cause",
        "working_on_to",
        "working_on_to_name",
        "paper_move",
    ];
    let event_fields = ["seq", "type", "source", "id", "order_ref", "effective_date", "recorded_at"];
    let mut rows = Vec::new();
    for (number, m) in (1..).zip(moves.as_array().expect("moves")) {
        let head: Vec<Value> =
            std::iter::once(json!(number)).chain(move_fields.iter().map(|f| shown(&m[*f]))).collect();
        for e in m["events"].as_array().expect("events") {
            rows.push(head.iter().cloned().chain(event_fields.iter().map(|f| e[*f].clone())).collect());
        }
    }
    rows
}

/// The units of a day with their names from that day's tree.
fn expected_units(units: &Value, tree: &Value) -> Vec<Vec<Value>> {
    let name = |unit: &Value| tree.as_array().unwrap().iter().find(|n| n["unit"] == *unit).map(|n| n["name"].clone());
    let fields = ["category", "quota", "posted", "over_quota", "vacancies"];
    let units = units.as_array().expect("units");
    units
        .iter()
        .map(|u| {
            let head = [u["unit"].clone(), name(&u["unit"]).unwrap_or(Value::Null)];
            head.into_iter().chain(fields.iter().map(|f| u[*f].clone())).collect()
        })
        .collect()
}

fn expected_tree(tree: &Value) -> Vec<Vec<Value>> {
    let fields = [
        "unit",
        "name",
        "category",
        "parent",
        "depth",
        "quota",
        "posted",
        "working",
        "rolled_posted",
        "rolled_working",
    ];
    let nodes = tree.as_array().expect("a tree");
    (1..)
        .zip(nodes)
        .map(|(order, n)| std::iter::once(json!(order)).chain(fields.iter().map(|f| n[*f].clone())).collect())
        .collect()
}

fn expected_series(series: &Value) -> Vec<Vec<Value>> {
    let fields = ["office_posted", "office_working", "front_posted", "front_working"];
    let points = series.as_array().expect("a series");
    points
        .iter()
        .map(|p| std::iter::once(p["date"].clone()).chain(fields.iter().map(|f| p["strength"][*f].clone())).collect())
        .collect()
}

/// Every sheet's XML has an autofilter over its header and a frozen top
/// row (calamine reads neither).
fn check_filters(bytes: &[u8]) {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("an XLSX is a zip");
    for n in 1..=SHEETS.len() {
        let mut xml = String::new();
        let path = format!("xl/worksheets/sheet{n}.xml");
        zip.by_name(&path).unwrap_or_else(|e| panic!("{path}: {e}")).read_to_string(&mut xml).unwrap();
        assert!(xml.contains("<autoFilter ref=\"A1:"), "{} has no autofilter", SHEETS[n - 1]);
        assert!(xml.contains("state=\"frozen\""), "{}'s header is not frozen", SHEETS[n - 1]);
    }
}

/// The workbook names the ledger state it was computed at, in the
/// Summary and in its properties, and its creation time is that state's
/// recorded time: the same audit at the same state is the same bytes.
fn check_state(bytes: &[u8], summary: &[Vec<Value>], state: &Value) {
    let row = |figure: &str| summary.iter().find(|r| r[1] == json!(figure)).map(|r| r[2].clone());
    assert_eq!(row("computed at entry"), Some(state["seq"].clone()));
    assert_eq!(row("chain hash there"), Some(state["hash"].clone()));
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("an XLSX is a zip");
    let mut core = String::new();
    zip.by_name("docProps/core.xml").expect("document properties").read_to_string(&mut core).unwrap();
    let recorded = &state["recorded_at"].as_str().expect("a recorded time")[..19];
    assert!(core.contains(&format!(">{recorded}Z</dcterms:created>")), "created at {recorded}: {core}");
}

/// The JSON answer of `/v1/audit?QUERY`.
async fn audit_json(reform: &ReformStack, query: &str) -> Value {
    let response = download(&reform.url(&format!("/v1/audit?{query}"))).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    serde_json::from_slice(&response.body).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workbook_is_the_json_answer_sheet_by_sheet() {
    let reform = ReformStack::start().await;
    let audit = audit_json(&reform, NANHU).await;
    assert_eq!((audit["moved_down_at_front"].as_u64(), audit["moved_down_share"].as_f64()), (Some(89), Some(33.3)));

    let response = download(&reform.url(&format!("/v1/audit.xlsx?{NANHU}"))).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(
        response.header("content-type"),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"audit-NH-2013-01-01-2016-12-01.xlsx\"")
    );
    check_filters(&response.body);
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(response.body.clone())).expect("a workbook");
    assert_eq!(workbook.sheet_names(), SHEETS.map(String::from).to_vec());

    let summary = sheet_rows(&mut workbook, "Summary");
    check_summary(&summary, &audit);
    let state = download(&reform.url(&format!("/v1/state?known_at_seq={}", reform.entries))).await;
    check_state(&response.body, &summary, &serde_json::from_slice(&state.body).expect("JSON"));
    let moved_down = sheet_rows(&mut workbook, "Moved down");
    assert_eq!(moved_down, expected_moves(&audit["moved_down"]), "Moved down");
    let moves: BTreeSet<u64> = moved_down.iter().filter_map(|row| row[0].as_u64()).collect();
    assert_eq!(moves.len(), audit["moved_down"].as_array().unwrap().len());
    assert_eq!(sheet_rows(&mut workbook, "Moved up"), expected_moves(&audit["moved_up"]), "Moved up");
    let trips: Vec<Vec<Value>> = audit["round_trips"].as_array().unwrap().iter().map(|s| vec![s.clone()]).collect();
    assert_eq!(sheet_rows(&mut workbook, "Round trips"), trips);
    for (sheet, units, tree) in [("Units on D1", "units_from", "tree_from"), ("Units on D2", "units_to", "tree_to")] {
        assert_eq!(sheet_rows(&mut workbook, sheet), expected_units(&audit[units], &audit[tree]), "{sheet}");
    }
    assert_eq!(sheet_rows(&mut workbook, "Sub-units"), rows_of(&audit["subunits"], &["unit", "name", "from", "to"]));
    assert_eq!(sheet_rows(&mut workbook, "Strength series"), expected_series(&audit["strength_series"]));
    assert_eq!(sheet_rows(&mut workbook, "Tree D1"), expected_tree(&audit["tree_from"]));
    assert_eq!(sheet_rows(&mut workbook, "Tree D2"), expected_tree(&audit["tree_to"]));
    reform.stop().await;
}

/// A bad question to the workbook is the same JSON error as to the
/// audit itself, status and body alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_question_gets_the_audits_json_error() {
    let reform = ReformStack::start().await;
    for query in [
        "scope=NH&from=2013-13-01&to=2016-12-01",
        "scope=NOPE&from=2013-01-01&to=2016-12-01",
        "scop=NH&from=2013-01-01&to=2016-12-01",
        "scope=NH&from=2016-12-01&to=2013-01-01",
        "scope=NH&from=2013-01-01&to=2016-12-01&known_at_seq=99999",
        "scope=NH&scope=NH&from=2013-01-01&to=2016-12-01",
    ] {
        let json = download(&reform.url(&format!("/v1/audit?{query}"))).await;
        let xlsx = download(&reform.url(&format!("/v1/audit.xlsx?{query}"))).await;
        assert!(json.status >= 400, "{query}: {}", json.status);
        assert_eq!(
            (xlsx.status, xlsx.header("content-type"), &xlsx.body),
            (json.status, Some("application/json"), &json.body),
            "{query}"
        );
    }
    reform.stop().await;
}
