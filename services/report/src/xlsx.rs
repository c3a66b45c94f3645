//! The audit as an XLSX workbook: one sheet a table, each with its header
//! row frozen and an autofilter on it, so an auditor can sort and filter
//! every list the HTML report shows.
//!
//! Numbers are numbers (counts as integers, percentages with one
//! decimal). Dates and times are text as the API gives them
//! (`YYYY-MM-DD`, RFC 3339): they sort and filter correctly as text, and
//! the cell holds exactly the answer's string, with no time zone or
//! epoch conversion to get wrong. A figure that is absent (no quota, no
//! percentage from zero) is an empty cell, never 0.

use crate::ReportError;
use muster_proto::answers::{AuditOut, MoveOut, StateOut, TreeNodeOut, UnitQuotaOut};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

/// One cell's value.
enum Cell {
    Text(String),
    /// A count or a change of one: an integer far below 2^53, so exact
    /// as f64, Excel's only number.
    Number(f64),
    /// A percentage, shown with one decimal as the API rounds it.
    Percent(f64),
    Empty,
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::Text(text.to_owned())
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::Text(text)
    }
}

impl From<u32> for Cell {
    fn from(count: u32) -> Cell {
        Cell::Number(count.into())
    }
}

impl From<u64> for Cell {
    fn from(count: u64) -> Cell {
        Cell::Number(count as f64)
    }
}

impl From<i64> for Cell {
    fn from(change: i64) -> Cell {
        Cell::Number(change as f64)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Cell {
        value.map_or(Cell::Empty, Into::into)
    }
}

fn yes_no(flag: bool) -> Cell {
    Cell::Text(if flag { "yes" } else { "no" }.to_owned())
}

fn percent(value: Option<f64>) -> Cell {
    value.map_or(Cell::Empty, Cell::Percent)
}

/// A sheet: its name (at most 31 characters, Excel's limit), its
/// columns as (header, width in characters) and its rows.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, f64)],
    rows: Vec<Vec<Cell>>,
}

/// The workbook: `Summary`, `Moved down`, `Moved up`, `Round trips`,
/// `Units on D1`, `Units on D2`, `Sub-units`, `Strength series`,
/// `Tree D1`, `Tree D2`; `state` is the ledger state the audit was
/// computed at (the Summary names it). The same audit at the same state
/// is the same bytes: the workbook's creation time is the state's
/// recorded time, not the clock's.
pub fn audit_xlsx(a: &AuditOut, state: &StateOut) -> Result<Vec<u8>, ReportError> {
    let tables = [
        summary(a, state),
        moves("Moved down", &a.moved_down),
        moves("Moved up", &a.moved_up),
        round_trips(a),
        units("Units on D1", &a.units_from, &a.tree_from),
        units("Units on D2", &a.units_to, &a.tree_to),
        subunits(a),
        strength_series(a),
        tree("Tree D1", &a.tree_from),
        tree("Tree D2", &a.tree_to),
    ];
    let mut workbook = Workbook::new();
    workbook.set_properties(&properties(a, state).map_err(|e| xlsx_error("the properties", &e))?);
    for table in &tables {
        write_table(workbook.add_worksheet(), table).map_err(|e| xlsx_error(table.name, &e))?;
    }
    workbook.save_to_buffer().map_err(|e| xlsx_error("the workbook", &e))
}

/// Title, the ledger state as a comment and as custom properties, and
/// the state's recorded time as the creation time (the Unix epoch for an
/// empty ledger, which has none).
fn properties(a: &AuditOut, state: &StateOut) -> Result<DocProperties, XlsxError> {
    let created = match &state.recorded_at {
        Some(at) => ExcelDateTime::parse_from_str(at.get(..19).unwrap_or(at))?,
        None => ExcelDateTime::from_ymd(1970, 1, 1)?,
    };
    let scope = a.scope.as_deref().unwrap_or("whole ledger");
    Ok(DocProperties::new()
        .set_title(format!("Front-line audit: {scope}, {} to {}", a.from, a.to))
        .set_comment(format!("Computed from ledger entry {}, chain hash {}", state.seq, state.hash))
        .set_custom_property("Ledger entry", state.seq.to_string().as_str())
        .set_custom_property("Chain hash", state.hash.as_str())
        .set_creation_datetime(&created))
}

fn xlsx_error(what: &str, e: &XlsxError) -> ReportError {
    ReportError(format!("writing {what} of the audit workbook: {e}"))
}

/// The header in bold, frozen, with an autofilter over the whole table.
fn write_table(sheet: &mut Worksheet, table: &Table) -> Result<(), XlsxError> {
    sheet.set_name(table.name)?;
    let bold = Format::new().set_bold();
    let one_decimal = Format::new().set_num_format("0.0");
    for (col, (header, width)) in (0u16..).zip(table.columns) {
        sheet.write_string_with_format(0, col, *header, &bold)?;
        sheet.set_column_width(col, *width)?;
    }
    for (row, cells) in (1u32..).zip(&table.rows) {
        for (col, cell) in (0u16..).zip(cells) {
            match cell {
                Cell::Text(text) => sheet.write_string(row, col, text)?,
                Cell::Number(number) => sheet.write_number(row, col, *number)?,
                Cell::Percent(value) => sheet.write_number_with_format(row, col, *value, &one_decimal)?,
                Cell::Empty => sheet,
            };
        }
    }
    let last_row = table.rows.len() as u32;
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, last_row, table.columns.len() as u16 - 1)?;
    Ok(())
}

/// Every figure of the audit, one a row, each with the field of the JSON
/// answer it is (so it can be checked against `/v1/audit`).
fn summary(a: &AuditOut, state: &StateOut) -> Table {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut row = |section: &str, figure: &str, value: Cell, field: &str| {
        rows.push(vec![section.into(), figure.into(), value, field.into()]);
    };
    // The state is /v1/state's answer, not a field of the audit's.
    row("ledger state", "computed at entry", state.seq.into(), "");
    row("ledger state", "chain hash there", state.hash.as_str().into(), "");
    row("ledger state", "recorded at", state.recorded_at.as_deref().unwrap_or("").into(), "");
    row("audit", "scope", a.scope.as_deref().unwrap_or("whole ledger").into(), "scope");
    row("audit", "from (D1)", a.from.as_str().into(), "from");
    row("audit", "to (D2)", a.to.as_str().into(), "to");
    row("audit", "known at entry (empty: the latest)", a.known_at_seq.into(), "known_at_seq");
    for (day, field, s) in [("D1", "strength_from", &a.strength_from), ("D2", "strength_to", &a.strength_to)] {
        let section = format!("strength on {day}");
        row(&section, "office, posted", s.office_posted.into(), &format!("{field}.office_posted"));
        row(&section, "office, working", s.office_working.into(), &format!("{field}.office_working"));
        row(&section, "front line, posted", s.front_posted.into(), &format!("{field}.front_posted"));
        row(&section, "front line, working", s.front_working.into(), &format!("{field}.front_working"));
    }
    for (name, field, c) in [
        ("office, posted", "office_posted", &a.office_posted),
        ("office, working", "office_working", &a.office_working),
        ("front line, posted", "front_posted", &a.front_posted),
        ("front line, working", "front_working", &a.front_working),
    ] {
        let section = format!("change: {name}");
        row(&section, "from", c.from.into(), &format!("{field}.from"));
        row(&section, "to", c.to.into(), &format!("{field}.to"));
        row(&section, "change", c.change.into(), &format!("{field}.change"));
        row(&section, "percent", percent(c.percent), &format!("{field}.percent"));
    }
    row("moved down", "moved down, relabelling aside", a.moved_down_real.into(), "moved_down_real");
    row("moved down", "working at the front line on D2", a.moved_down_at_front.into(), "moved_down_at_front");
    row("moved down", "share of office posted on D1 (%)", percent(a.moved_down_share), "moved_down_share");
    reconciliation_rows(a, &mut row);
    Table {
        name: "Summary",
        columns: &[("section", 28.0), ("figure", 40.0), ("value", 14.0), ("JSON field", 40.0)],
        rows,
    }
}

fn reconciliation_rows(a: &AuditOut, row: &mut impl FnMut(&str, &str, Cell, &str)) {
    let r = &a.reconciliation;
    let section = "reconciliation";
    for (figure, value, field) in [
        ("office posted on D1", r.office_posted_from, "office_posted_from"),
        ("office posted on D2", r.office_posted_to, "office_posted_to"),
        ("joined", r.joined, "joined"),
        ("left", r.left, "left"),
        ("entered the scope", r.entered_scope, "entered_scope"),
        ("left the scope", r.left_scope, "left_scope"),
        ("moved down, transferred", r.moved_down_transferred, "moved_down_transferred"),
        ("moved down, restructured", r.moved_down_restructured, "moved_down_restructured"),
        ("moved down, relabelled", r.moved_down_reclassified, "moved_down_reclassified"),
        ("moved up, transferred", r.moved_up_transferred, "moved_up_transferred"),
        ("moved up, restructured", r.moved_up_restructured, "moved_up_restructured"),
        ("moved up, relabelled", r.moved_up_reclassified, "moved_up_reclassified"),
    ] {
        row(section, figure, value.into(), &format!("reconciliation.{field}"));
    }
    row(section, "balances", yes_no(r.balances), "reconciliation.balances");
    row(section, "the arithmetic", crate::reconciliation_line(r).into(), "");
}

/// The columns of a move sheet: the move, then one event behind it.
const MOVE_COLUMNS: &[(&str, f64)] = &[
    ("move", 7.0),
    ("staff", 12.0),
    ("from unit", 14.0),
    ("from unit name", 32.0),
    ("to unit", 14.0),
    ("to unit name", 32.0),
    ("cause", 13.0),
    ("working on D2", 14.0),
    ("working on D2, name", 32.0),
    ("paper move", 11.0),
    ("event seq", 10.0),
    ("event type", 30.0),
    ("source", 14.0),
    ("id", 18.0),
    ("order reference", 22.0),
    ("effective date", 13.0),
    ("recorded at", 26.0),
];

/// One row per (move, event): every cell holds one value, so filtering
/// on an order reference, a date or a source finds each move behind it,
/// and the move's own columns repeat so no filtered row loses its
/// context. `move` numbers the moves (1, 2 …) for counting them.
fn moves(name: &'static str, moves: &[MoveOut]) -> Table {
    let mut rows = Vec::new();
    for (number, m) in (1u64..).zip(moves) {
        let events: Vec<Option<&muster_proto::answers::EventRefOut>> =
            if m.events.is_empty() { vec![None] } else { m.events.iter().map(Some).collect() };
        for e in events {
            let mut row = move_cells(number, m);
            row.extend(match e {
                Some(e) => vec![
                    e.seq.into(),
                    e.event_type.as_str().into(),
                    e.source.as_str().into(),
                    e.id.as_str().into(),
                    e.order_ref.clone().into(),
                    e.effective_date.as_str().into(),
                    e.recorded_at.as_str().into(),
                ],
                None => (0..7).map(|_| Cell::Empty).collect(),
            });
            rows.push(row);
        }
    }
    Table { name, columns: MOVE_COLUMNS, rows }
}

fn move_cells(number: u64, m: &MoveOut) -> Vec<Cell> {
    vec![
        number.into(),
        m.staff.as_str().into(),
        m.from_unit.as_str().into(),
        m.from_unit_name.clone().into(),
        m.to_unit.as_str().into(),
        m.to_unit_name.clone().into(),
        m.cause.as_str().into(),
        m.working_on_to.as_str().into(),
        m.working_on_to_name.clone().into(),
        yes_no(m.paper_move),
    ]
}

fn round_trips(a: &AuditOut) -> Table {
    let rows = a.round_trips.iter().map(|staff| vec![staff.as_str().into()]).collect();
    Table { name: "Round trips", columns: &[("staff", 14.0)], rows }
}

/// The establishment on a day; names from the same day's tree.
fn units(name: &'static str, units: &[UnitQuotaOut], tree: &[TreeNodeOut]) -> Table {
    let unit_name = |unit: &str| tree.iter().find(|n| n.unit == unit).map(|n| n.name.clone());
    let rows = units
        .iter()
        .map(|u| {
            vec![
                u.unit.as_str().into(),
                unit_name(&u.unit).into(),
                u.category.as_str().into(),
                u.quota.into(),
                u.posted.into(),
                u.over_quota.into(),
                u.vacancies.into(),
            ]
        })
        .collect();
    let columns = &[
        ("unit", 14.0),
        ("name", 36.0),
        ("category", 12.0),
        ("quota", 9.0),
        ("posted", 9.0),
        ("over quota", 11.0),
        ("vacancies", 11.0),
    ];
    Table { name, columns, rows }
}

fn subunits(a: &AuditOut) -> Table {
    let rows = a
        .subunits
        .iter()
        .map(|c| vec![c.unit.as_str().into(), c.name.as_str().into(), c.from.into(), c.to.into()])
        .collect();
    let columns = &[("unit", 14.0), ("name", 36.0), ("sub-units on D1", 16.0), ("sub-units on D2", 16.0)];
    Table { name: "Sub-units", columns, rows }
}

fn strength_series(a: &AuditOut) -> Table {
    let rows = a
        .strength_series
        .iter()
        .map(|p| {
            let s = &p.strength;
            let counts = [s.office_posted, s.office_working, s.front_posted, s.front_working];
            std::iter::once(p.date.as_str().into()).chain(counts.map(Cell::from)).collect()
        })
        .collect();
    let columns = &[
        ("date", 12.0),
        ("office, posted", 15.0),
        ("office, working", 15.0),
        ("front line, posted", 18.0),
        ("front line, working", 18.0),
    ];
    Table { name: "Strength series", columns, rows }
}

/// The tree depth-first, as the API gives it: sorting by another column
/// and back by `order` restores it.
fn tree(name: &'static str, nodes: &[TreeNodeOut]) -> Table {
    let rows = (1u64..)
        .zip(nodes)
        .map(|(order, n)| {
            vec![
                order.into(),
                n.unit.as_str().into(),
                n.name.as_str().into(),
                n.category.as_str().into(),
                n.parent.clone().into(),
                n.depth.into(),
                n.quota.into(),
                n.posted.into(),
                n.working.into(),
                n.rolled_posted.into(),
                n.rolled_working.into(),
            ]
        })
        .collect();
    let columns = &[
        ("order", 7.0),
        ("unit", 14.0),
        ("name", 36.0),
        ("category", 12.0),
        ("parent", 14.0),
        ("depth", 7.0),
        ("quota", 9.0),
        ("posted", 9.0),
        ("working", 9.0),
        ("rolled up, posted", 17.0),
        ("rolled up, working", 18.0),
    ];
    Table { name, columns, rows }
}
