//! Tables for people, JSON and CSV for machines.

use anyhow::Result;
use muster_proto::answers::*;
use muster_proto::entry::{Receipt, ReceiptStatus};
use serde::Serialize;
use std::io::Write;

#[derive(Clone, Copy)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// A writer that starts with a UTF-8 byte order mark (`--bom`) if asked:
/// written before the first byte of output, so a command that fails
/// before printing prints nothing. Rationale: Excel reads a CSV without
/// one in the machine's legacy code page and garbles Chinese names.
pub struct BomFirst<W: Write> {
    inner: W,
    bom_pending: bool,
}

impl<W: Write> BomFirst<W> {
    pub fn new(inner: W, bom: bool) -> Self {
        BomFirst { inner, bom_pending: bom }
    }
}

impl<W: Write> Write for BomFirst<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bom_pending && !buf.is_empty() {
            self.inner.write_all("\u{FEFF}".as_bytes())?;
            self.bom_pending = false;
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A table: a header and rows of cells, printed aligned or as CSV.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// Terminal columns a text takes: CJK characters are two wide.
fn display_width(text: &str) -> usize {
    text.chars().map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 }).sum()
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map_or(String::new(), |v| v.to_string())
}

impl Table {
    pub fn headcount(h: &HeadcountOut) -> Table {
        Table {
            header: vec!["unit", "date", "status", "closed_on", "rolled_up", "posted", "working", "known_at_seq"],
            rows: vec![vec![
                h.unit.clone(),
                h.date.clone(),
                h.status.status.clone(),
                opt(&h.status.closed_on),
                h.rolled_up.to_string(),
                h.posted.to_string(),
                h.working.to_string(),
                opt(&h.known_at_seq),
            ]],
        }
    }

    pub fn tree(rows: &[TreeNodeOut]) -> Table {
        Table {
            header: vec![
                "unit",
                "name",
                "category",
                "parent",
                "quota",
                "posted",
                "working",
                "rolled_posted",
                "rolled_working",
            ],
            rows: rows
                .iter()
                .map(|n| {
                    vec![
                        format!("{}{}", "  ".repeat(n.depth as usize), n.unit),
                        n.name.clone(),
                        n.category.clone(),
                        opt(&n.parent),
                        opt(&n.quota),
                        n.posted.to_string(),
                        n.working.to_string(),
                        n.rolled_posted.to_string(),
                        n.rolled_working.to_string(),
                    ]
                })
                .collect(),
        }
    }

    pub fn roster(rows: &[RosterEntryOut]) -> Table {
        Table {
            header: vec![
                "staff",
                "home",
                "home_name",
                "working",
                "working_name",
                "seconded_until",
                "since_seq",
                "since_order_ref",
                "since_event",
            ],
            rows: rows
                .iter()
                .map(|r| {
                    let since = r.since.as_ref();
                    vec![
                        r.staff.clone(),
                        r.home.clone(),
                        opt(&r.home_name),
                        r.working.clone(),
                        opt(&r.working_name),
                        opt(&r.seconded_until),
                        since.map_or(String::new(), |e| e.seq.to_string()),
                        since.map_or(String::new(), |e| opt(&e.order_ref)),
                        since.map_or(String::new(), event_key),
                    ]
                })
                .collect(),
        }
    }

    pub fn history(rows: &[HistoryEntryOut]) -> Table {
        Table {
            header: vec![
                "seq",
                "date",
                "event",
                "order_ref",
                "source",
                "id",
                "recorded_at",
                "active",
                "home",
                "home_name",
                "working",
                "working_name",
            ],
            rows: rows
                .iter()
                .map(|h| {
                    vec![
                        h.seq.to_string(),
                        h.date.clone(),
                        h.event.clone(),
                        opt(&h.order_ref),
                        opt(&h.source),
                        opt(&h.id),
                        opt(&h.recorded_at),
                        h.active.to_string(),
                        h.home.clone(),
                        opt(&h.home_name),
                        h.working.clone(),
                        opt(&h.working_name),
                    ]
                })
                .collect(),
        }
    }

    pub fn lineage(rows: &[LineageEdgeOut]) -> Table {
        Table {
            header: vec!["date", "seq", "event", "from", "to"],
            rows: rows
                .iter()
                .map(|e| vec![e.date.clone(), e.seq.to_string(), e.event.clone(), e.from.clone(), e.to.clone()])
                .collect(),
        }
    }

    pub fn series(rows: &[SeriesPointOut]) -> Table {
        Table {
            header: vec!["date", "status", "posted", "working"],
            rows: rows
                .iter()
                .map(|p| vec![p.date.clone(), p.status.status.clone(), p.posted.to_string(), p.working.to_string()])
                .collect(),
        }
    }

    pub fn receipts(rows: &[Receipt]) -> Table {
        Table {
            header: vec!["source", "id", "seq", "status", "duplicate", "code", "message"],
            rows: rows
                .iter()
                .map(|r| {
                    let status = match r.status {
                        ReceiptStatus::Accepted => "accepted",
                        ReceiptStatus::Rejected => "rejected",
                    };
                    vec![
                        r.source.clone(),
                        r.id.clone(),
                        opt(&r.seq),
                        status.into(),
                        r.duplicate.to_string(),
                        opt(&r.code),
                        opt(&r.message),
                    ]
                })
                .collect(),
        }
    }

    pub fn kv(pairs: &[(&'static str, String)]) -> Table {
        Table {
            header: pairs.iter().map(|(k, _)| *k).collect(),
            rows: vec![pairs.iter().map(|(_, v)| v.clone()).collect()],
        }
    }

    fn print_aligned(&self, out: &mut impl Write) -> std::io::Result<()> {
        let width = |i: usize| {
            let cells = self.rows.iter().map(|r| display_width(&r[i]));
            cells.chain(std::iter::once(self.header[i].len())).max().unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> =
                cells.iter().zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - display_width(c)))).collect();
            padded.join("  ").trim_end().to_owned()
        };
        writeln!(out, "{}", line(self.header.clone()))?;
        for row in &self.rows {
            writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
        }
        Ok(())
    }

    fn print_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        let escape = |cell: &str| {
            if cell.contains([',', '"', '\n']) {
                format!("\"{}\"", cell.replace('"', "\"\""))
            } else {
                cell.to_owned()
            }
        };
        writeln!(out, "{}", self.header.join(","))?;
        for row in &self.rows {
            // CSV carries ids, not the tree's indentation.
            let cells: Vec<String> = row.iter().map(|c| escape(c.trim_start())).collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        Ok(())
    }
}

pub fn one<T: Serialize>(out: &mut impl Write, format: Format, value: &T, table: Table) -> Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(value)?)?,
        Format::Table => table.print_aligned(out)?,
        Format::Csv => table.print_csv(out)?,
    }
    Ok(())
}

pub fn many<T: Serialize>(out: &mut impl Write, format: Format, values: &[T], table: Table) -> Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(values)?)?,
        Format::Table => table.print_aligned(out)?,
        Format::Csv => table.print_csv(out)?,
    }
    Ok(())
}

pub trait SummaryRows {
    fn rows(&self) -> Vec<(&'static str, String)>;
}

impl SummaryRows for ImportSummary {
    fn rows(&self) -> Vec<(&'static str, String)> {
        let by_code: Vec<String> = self.rejected_by_code.iter().map(|(k, v)| format!("{k}={v}")).collect();
        vec![
            ("submitted", self.submitted.to_string()),
            ("accepted", self.accepted.to_string()),
            ("rejected", self.rejected.to_string()),
            ("duplicates", self.duplicates.to_string()),
            ("unrecorded", self.unrecorded.to_string()),
            ("rejected_by_code", by_code.join(" ")),
            ("head_seq", self.head_seq.to_string()),
            ("head_hash", self.head_hash.clone()),
        ]
    }
}

fn percent(p: Option<f64>) -> String {
    p.map_or("-".into(), |p| format!("{p:+.1}%"))
}

/// `source/id` of an event: its key in the HR system.
fn event_key(e: &EventRefOut) -> String {
    format!("{}/{}", e.source, e.id)
}

/// Every move with the orders behind it: each event as
/// `order_ref (effective date, seq N, source/id)`.
fn moves_table(down: &[MoveOut], up: &[MoveOut]) -> Table {
    let named = |unit: &str, name: &Option<String>| match name {
        Some(name) => format!("{unit} {name}"),
        None => unit.to_owned(),
    };
    let orders = |m: &MoveOut| {
        let order = |e: &EventRefOut| {
            let reference = e.order_ref.clone().unwrap_or_else(|| muster_report::event_kind(&e.event_type));
            format!("{reference} ({}, seq {}, {})", e.effective_date, e.seq, event_key(e))
        };
        m.events.iter().map(order).collect::<Vec<_>>().join("; ")
    };
    let row = |direction: &str, m: &MoveOut| {
        vec![
            direction.to_owned(),
            m.staff.clone(),
            named(&m.from_unit, &m.from_unit_name),
            named(&m.to_unit, &m.to_unit_name),
            m.cause.clone(),
            named(&m.working_on_to, &m.working_on_to_name),
            m.paper_move.to_string(),
            orders(m),
        ]
    };
    Table {
        header: vec!["direction", "staff", "from_unit", "to_unit", "cause", "working_on_to", "paper_move", "orders"],
        rows: down.iter().map(|m| row("down", m)).chain(up.iter().map(|m| row("up", m))).collect(),
    }
}

/// The audit: a summary for people (every move with `moves`), the whole
/// object as JSON, the moves as CSV.
pub fn audit(out: &mut impl Write, format: Format, a: &AuditOut, moves: bool) -> Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(a)?)?,
        Format::Csv => out.write_all(muster_report::moves_csv(a).as_bytes())?,
        Format::Table => audit_summary(out, a, moves)?,
    }
    Ok(())
}

/// The audit for people, in the order an auditor reads it: the strength
/// on both days, how the office posted moved, the restructured units, the
/// moves (if asked), then the arithmetic that must balance and the quotas.
fn audit_summary(out: &mut impl Write, a: &AuditOut, moves: bool) -> Result<()> {
    let scope = a.scope.clone().unwrap_or_else(|| "the whole ledger".into());
    let known = a.known_at_seq.map_or(String::new(), |k| format!(", as known at entry {k}"));
    writeln!(out, "Front-line audit {} → {} ({scope}{known})", a.from, a.to)?;
    strength_table(a).print_aligned(out)?;
    writeln!(out)?;
    audit_moves_lines(out, a)?;
    writeln!(out)?;
    writeln!(out, "Units whose number of sub-units changed:")?;
    Table {
        header: vec!["unit", "name", "sub-units from", "to"],
        rows: a
            .subunits
            .iter()
            .map(|c| vec![c.unit.clone(), c.name.clone(), c.from.to_string(), c.to.to_string()])
            .collect(),
    }
    .print_aligned(out)?;
    writeln!(out)?;
    if moves {
        moves_table(&a.moved_down, &a.moved_up).print_aligned(out)?;
        writeln!(out)?;
    }
    writeln!(out, "Reconciliation of office posted: {}", muster_report::reconciliation_line(&a.reconciliation))?;
    writeln!(out, "Quota on {} (over +n / vacant -n): {}", a.to, quota_line(a))?;
    if !moves {
        let n = a.moved_down.len() + a.moved_up.len();
        writeln!(out, "({n} moves: --moves lists them, --format csv writes them)")?;
    }
    Ok(())
}

/// Office and front line, posted and working, on both days.
fn strength_table(a: &AuditOut) -> Table {
    let rows = [
        ("office posted", &a.office_posted),
        ("office working", &a.office_working),
        ("front line posted", &a.front_posted),
        ("front line working", &a.front_working),
    ];
    Table {
        header: vec!["strength", "from", "to", "change", "percent"],
        rows: rows
            .iter()
            .map(|(name, c)| {
                vec![
                    (*name).into(),
                    c.from.to_string(),
                    c.to.to_string(),
                    format!("{:+}", c.change),
                    percent(c.percent),
                ]
            })
            .collect(),
    }
}

/// The headline figure and the moves by cause, paper moves and round trips.
fn audit_moves_lines(out: &mut impl Write, a: &AuditOut) -> Result<()> {
    let r = &a.reconciliation;
    writeln!(
        out,
        "Moved to the front line and working there: {} = {} of the {} office posted on {}",
        a.moved_down_at_front,
        a.moved_down_share.map_or("-".into(), |p| format!("{p:.1}%")),
        r.office_posted_from,
        a.from
    )?;
    writeln!(
        out,
        "  moved down {} ({} transferred, {} restructured), of which {} only on paper",
        a.moved_down_real,
        r.moved_down_transferred,
        r.moved_down_restructured,
        a.paper_moves.len()
    )?;
    writeln!(out, "  relabelled office → front line (nobody moved): {}", r.moved_down_reclassified)?;
    writeln!(
        out,
        "  moved up {} ({} transferred, {} restructured, {} relabelled)",
        r.moved_up_total(),
        r.moved_up_transferred,
        r.moved_up_restructured,
        r.moved_up_reclassified
    )?;
    writeln!(out, "Paper moves (posted down, working in the office): {}", a.paper_moves.join(" "))?;
    writeln!(out, "Round trips (office → front line → office): {}", a.round_trips.join(" "))?;
    Ok(())
}

/// The units over quota (`+n`) or with vacancies (`-n`) on the last day.
fn quota_line(a: &AuditOut) -> String {
    let off_quota = a.units_to.iter().filter(|u| u.over_quota > 0 || u.vacancies > 0);
    let marks: Vec<String> = off_quota
        .map(|u| {
            if u.over_quota > 0 {
                format!("{} +{}", u.unit, u.over_quota)
            } else {
                format!("{} -{}", u.unit, u.vacancies)
            }
        })
        .collect();
    marks.join(", ")
}
