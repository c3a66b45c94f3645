//! The audit as a self-contained HTML page: figures, a chart of office and
//! front-line strength over time (SVG, drawn with plotters, inline), the
//! moves by cause, paper moves, round trips, the reconciliation, and the
//! unit tree before and after with counts. No scripts, no external files.
//! Beside it, every move as CSV (`moves_csv`) and the whole audit as a
//! workbook an auditor can filter (`audit_xlsx`).
//!
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use muster_proto::answers::{
    AuditOut, EventRefOut, MoveOut, ReconciliationOut, StrengthOut, SubunitChangeOut, TreeNodeOut,
};
use plotters::prelude::*;
use std::fmt::Write;

mod xlsx;
pub use xlsx::audit_xlsx;

/// Why a report could not be drawn.
#[derive(Debug)]
pub struct ReportError(pub String);

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportError {}

/// Text safe inside HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Office and front-line posted strength over time, as an SVG document.
pub fn strength_chart_svg(points: &[(String, StrengthOut)]) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 320)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| ReportError(format!("drawing the chart: {e}"));
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let top = points
            .iter()
            .map(|(_, s)| s.office_posted.max(s.front_posted).max(s.office_working).max(s.front_working))
            .max()
            .unwrap_or(0)
            .max(1);
        let last = points.len().saturating_sub(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption("Strength: office vs front line (solid: posted, dashed: working)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(0..last, 0..top + top / 10 + 1)
            .map_err(|e| err(&e))?;
        let label_every = (points.len() / 8).max(1);
        chart
            .configure_mesh()
            .x_labels(points.len())
            .x_label_formatter(&|i| {
                if i % label_every == 0 {
                    points.get(*i).map_or(String::new(), |(d, _)| d.clone())
                } else {
                    String::new()
                }
            })
            .y_desc("staff")
            .draw()
            .map_err(|e| err(&e))?;
        let office = points.iter().enumerate().map(|(i, (_, s))| (i, s.office_posted));
        let front = points.iter().enumerate().map(|(i, (_, s))| (i, s.front_posted));
        chart
            .draw_series(LineSeries::new(office, BLUE.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label("office")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
        chart
            .draw_series(LineSeries::new(front, RED.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label("front line")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
        // Working strength dashed: where it parts from posted, people are
        // seconded across the line (paper moves show as a gap).
        for (pick, color) in [(office_working as fn(&StrengthOut) -> u32, BLUE), (front_working, RED)] {
            let line = points.iter().enumerate().map(|(i, (_, s))| (i, pick(s)));
            chart.draw_series(DashedLineSeries::new(line, 6, 4, color.stroke_width(1))).map_err(|e| err(&e))?;
        }
        // Bottom right: the lines sit above it unless a category empties.
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// The unit tree on one day as an icicle chart: one column per level, each
/// unit a block as tall as its rolled-up posted strength (office blue,
/// front line red), labelled with its id and count where there is room.
fn tree_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    nodes: &[TreeNodeOut],
) -> Result<(), ReportError> {
    let err = |e: &dyn std::fmt::Display| ReportError(format!("drawing the tree: {e}"));
    let area = area.titled(title, ("sans-serif", 16)).map_err(|e| err(&e))?;
    let (width, height) = area.dim_in_pixel();
    let Some(top) = nodes.iter().map(|n| n.depth).min() else { return Ok(()) };
    let levels = (nodes.iter().map(|n| n.depth - top).max().unwrap_or(0) + 1).min(8);
    let column = f64::from(width) / f64::from(levels);
    let total: u32 = nodes.iter().filter(|n| n.depth == top).map(|n| n.rolled_posted).sum();
    let scale = f64::from(height.saturating_sub(4)) / f64::from(total.max(1));
    let office = RGBColor(70, 110, 180);
    let front = RGBColor(200, 70, 60);
    // next[d]: where the next block at level d starts (DFS order: a unit's
    // children start at its top; its own posted staff fill its bottom).
    let mut next = vec![0.0f64; levels as usize + 1];
    for node in nodes {
        let level = (node.depth - top) as usize;
        if level >= levels as usize {
            continue;
        }
        let y0 = next[level];
        let h = f64::from(node.rolled_posted) * scale;
        next[level] = y0 + h;
        next[level + 1] = y0;
        if h < 0.5 {
            continue;
        }
        let x0 = (level as f64 * column) as i32;
        let x1 = ((level as f64 + 1.0) * column) as i32 - 1;
        let color = if node.category == "front_line" { front } else { office };
        area.draw(&Rectangle::new([(x0, y0 as i32), (x1, (y0 + h) as i32)], color.filled())).map_err(|e| err(&e))?;
        area.draw(&Rectangle::new([(x0, y0 as i32), (x1, (y0 + h) as i32)], WHITE.stroke_width(1)))
            .map_err(|e| err(&e))?;
        if h >= 11.0 {
            // Room for ~6 px per character; the count is never cut.
            let count = node.rolled_posted.to_string();
            let room = (((column - 6.0) / 6.0) as usize).saturating_sub(count.len() + 1);
            let id: String = node.unit.chars().take(room).collect();
            let label = format!("{id} {count}");
            let at = (x0 + 3, y0 as i32 + (h as i32).min(14) / 2 - 5);
            area.draw(&Text::new(label, at, ("sans-serif", 10).into_font().color(&WHITE))).map_err(|e| err(&e))?;
        }
    }
    Ok(())
}

/// The tree before and after, side by side, as one SVG document.
pub fn trees_chart_svg(from: (&str, &[TreeNodeOut]), to: (&str, &[TreeNodeOut])) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| ReportError(format!("drawing the tree: {e}")))?;
        let (left, right) = root.split_horizontally(480);
        tree_panel(&left.margin(4, 4, 4, 8), &format!("Units on {}", from.0), from.1)?;
        tree_panel(&right.margin(4, 4, 8, 4), &format!("Units on {}", to.0), to.1)?;
        root.present().map_err(|e| ReportError(format!("drawing the tree: {e}")))?;
    }
    Ok(svg)
}

fn office_working(s: &StrengthOut) -> u32 {
    s.office_working
}

fn front_working(s: &StrengthOut) -> u32 {
    s.front_working
}

fn tree_html(out: &mut String, nodes: &[TreeNodeOut]) {
    out.push_str("<table><tr><th>unit</th><th>category</th><th>quota</th><th>posted</th><th>working</th><th>rolled up (posted)</th></tr>");
    for n in nodes {
        let _ = write!(
            out,
            "<tr class=\"{}\"><td style=\"padding-left:{}em\">{} <small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&n.category),
            n.depth,
            escape(&n.name),
            escape(&n.unit),
            escape(&n.category),
            n.quota.map_or("-".into(), |q| q.to_string()),
            n.posted,
            n.working,
            n.rolled_posted
        );
    }
    out.push_str("</table>");
}

fn moves_html(out: &mut String, moves: &[MoveOut]) {
    out.push_str(
        "<table><tr><th>staff</th><th>from</th><th>to</th><th>cause</th><th>working on the last day</th>\
         <th>paper move</th><th>the orders behind it</th></tr>",
    );
    for m in moves {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&m.staff),
            unit_html(&m.from_unit, m.from_unit_name.as_deref()),
            unit_html(&m.to_unit, m.to_unit_name.as_deref()),
            escape(&m.cause),
            unit_html(&m.working_on_to, m.working_on_to_name.as_deref()),
            if m.paper_move { "yes" } else { "" },
            m.events.iter().map(event_html).collect::<Vec<_>>().join("<br>")
        );
    }
    out.push_str("</table>");
}

/// A unit as its id and, below it, its name.
fn unit_html(unit: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{}<br><small>{}</small>", escape(unit), escape(name)),
        None => escape(unit),
    }
}

/// One event behind a move: what an auditor needs to find the order.
fn event_html(e: &EventRefOut) -> String {
    format!(
        "{} {} <small>effective {} · {}/{} · seq {} · recorded {}</small>",
        escape(e.order_ref.as_deref().unwrap_or("(no order reference)")),
        escape(&event_kind(&e.event_type)),
        escape(&e.effective_date),
        escape(&e.source),
        escape(&e.id),
        e.seq,
        escape(&e.recorded_at)
    )
}

/// `org.muster.staff.transferred.v1` as `staff transferred`.
pub fn event_kind(event_type: &str) -> String {
    let short = event_type.strip_prefix("org.muster.").unwrap_or(event_type);
    let short = short.rsplit_once(".v").map_or(short, |(kind, _)| kind);
    short.replace('.', " ")
}

/// The arithmetic of the change in posted office strength as one line a
/// reader can check, for the terminal and the report alike.
pub fn reconciliation_line(r: &ReconciliationOut) -> String {
    format!(
        "{} → {} = {} + {} joined − {} left + {} entered the scope − {} left it + {} moved up \
         ({} transferred, {} restructured, {} relabelled) − {} moved down ({} transferred, {} restructured, \
         {} relabelled): {}",
        r.office_posted_from,
        r.office_posted_to,
        r.office_posted_from,
        r.joined,
        r.left,
        r.entered_scope,
        r.left_scope,
        r.moved_up_total(),
        r.moved_up_transferred,
        r.moved_up_restructured,
        r.moved_up_reclassified,
        r.moved_down_total(),
        r.moved_down_transferred,
        r.moved_down_restructured,
        r.moved_down_reclassified,
        if r.balances { "balances" } else { "DOES NOT BALANCE" }
    )
}

/// Every move, down then up, as CSV (RFC 4180), one row a move:
/// direction, staff, from_unit, to_unit, cause, working_on_to, paper_move,
/// then the units' names and the events behind the move (several joined
/// with `; `, in timeline order): their seqs, sources, ids, types,
/// effective dates, order references and recorded times.
pub fn moves_csv(a: &AuditOut) -> String {
    let cell = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut out = String::from(
        "direction,staff,from_unit,to_unit,cause,working_on_to,paper_move,from_unit_name,to_unit_name,\
         working_on_to_name,event_seqs,event_sources,event_ids,event_types,effective_dates,order_refs,recorded_at\n",
    );
    for (direction, moves) in [("down", &a.moved_down), ("up", &a.moved_up)] {
        for m in moves {
            let events =
                |field: fn(&EventRefOut) -> String| cell(&m.events.iter().map(field).collect::<Vec<_>>().join("; "));
            let _ = writeln!(
                out,
                "{direction},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                cell(&m.staff),
                cell(&m.from_unit),
                cell(&m.to_unit),
                cell(&m.cause),
                cell(&m.working_on_to),
                m.paper_move,
                cell(m.from_unit_name.as_deref().unwrap_or_default()),
                cell(m.to_unit_name.as_deref().unwrap_or_default()),
                cell(m.working_on_to_name.as_deref().unwrap_or_default()),
                events(|e| e.seq.to_string()),
                events(|e| e.source.clone()),
                events(|e| e.id.clone()),
                events(|e| e.event_type.clone()),
                events(|e| e.effective_date.clone()),
                events(|e| e.order_ref.clone().unwrap_or_default()),
                events(|e| e.recorded_at.clone()),
            );
        }
    }
    out
}

fn percent(p: Option<f64>) -> String {
    p.map_or("–".into(), |p| format!("{p:+.1}%"))
}

/// The whole report.
pub fn audit_html(a: &AuditOut) -> Result<String, ReportError> {
    let points: Vec<(String, StrengthOut)> =
        a.strength_series.iter().map(|p| (p.date.clone(), p.strength.clone())).collect();
    let chart = strength_chart_svg(&points)?;
    let mut html = String::new();
    head_html(&mut html, a);
    strength_html(&mut html, a);
    html.push_str(&chart);
    moved_down_html(&mut html, a);
    subunits_html(&mut html, &a.subunits);
    html.push_str(
        "<h2>The tree before and after</h2>\n<p>Each block is a unit, as tall as the staff posted in it and below it; \
         blue office, red front line; one column per level.</p>\n",
    );
    html.push_str(&trees_chart_svg((&a.from, &a.tree_from), (&a.to, &a.tree_to))?);
    let _ = writeln!(
        html,
        "<h2>Reconciliation of posted office strength</h2><p id=\"reconciliation\">{}</p>",
        escape(&reconciliation_line(&a.reconciliation))
    );
    html.push_str("<h2>Every move down</h2>");
    moves_html(&mut html, &a.moved_down);
    html.push_str("<h2>Every move up</h2>");
    moves_html(&mut html, &a.moved_up);
    let _ = write!(html, "\n<h2>Units on {}</h2>", escape(&a.from));
    tree_html(&mut html, &a.tree_from);
    let _ = write!(html, "<h2>Units on {}</h2>", escape(&a.to));
    tree_html(&mut html, &a.tree_to);
    html.push_str("\n</body></html>\n");
    Ok(html)
}

/// The document's head (its own style: no CDN, nothing fetched) and what
/// the page shows: the days, the scope, and the ledger state it was read at.
fn head_html(html: &mut String, a: &AuditOut) {
    let scope = a.scope.clone().unwrap_or_else(|| "whole ledger".into());
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Front-line audit {from} to {to}</title>\n<style>\n\
         body{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\n\
         td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:left}}tr.front_line td:first-child{{color:#b00}}\n\
         .figure{{font-size:1.4em;font-weight:bold}}\n</style></head><body>\n\
         <h1>Front-line audit (警力下沉)</h1>\n<p>{from} → {to}, {scope}{known}.</p>\n",
        from = escape(&a.from),
        to = escape(&a.to),
        scope = escape(&scope),
        known = a.known_at_seq.map_or(String::new(), |k| format!(", as the ledger knew it at entry {k}")),
    );
}

/// Office and front line, posted and working, on both days.
fn strength_html(html: &mut String, a: &AuditOut) {
    html.push_str("<h2>Strength</h2><table><tr><th></th><th>from</th><th>to</th><th>change</th><th>percent</th></tr>");
    for (name, c) in [
        ("office, posted", &a.office_posted),
        ("office, working", &a.office_working),
        ("front line, posted", &a.front_posted),
        ("front line, working", &a.front_working),
    ] {
        let _ = write!(
            html,
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{:+}</td><td>{}</td></tr>",
            c.from,
            c.to,
            c.change,
            percent(c.percent)
        );
    }
    html.push_str("</table>\n");
}

/// The headline figures, each with an id (tests and the browser check
/// compare them with the API's answer), and the moves by cause.
fn moved_down_html(html: &mut String, a: &AuditOut) {
    let r = &a.reconciliation;
    let _ = write!(
        html,
        "\n<h2>Moved down</h2><p><span class=\"figure\" id=\"moved-down-at-front\">{}</span> moved to the front line \
         and working there on {}: <span class=\"figure\" id=\"moved-down-share\">{}</span> of the {} office posted on {}.</p>\n",
        a.moved_down_at_front,
        escape(&a.to),
        a.moved_down_share.map_or("–".into(), |p| format!("{p:.1}%")),
        r.office_posted_from,
        escape(&a.from),
    );
    let _ = writeln!(
        html,
        "<p><span class=\"figure\" id=\"moved-down-real\">{}</span> moved down \
         ({} transferred, {} restructured); {} only relabelled (a unit reclassified: nobody moved). \
         Paper moves (posted at the front line, working in the office): <b id=\"paper-moves\">{}</b>. \
         Round trips (office → front line → office): <b id=\"round-trips\">{}</b>.</p>",
        a.moved_down_real,
        r.moved_down_transferred,
        r.moved_down_restructured,
        r.moved_down_reclassified,
        a.paper_moves.len(),
        a.round_trips.len()
    );
}

/// The units restructured between the days.
fn subunits_html(html: &mut String, subunits: &[SubunitChangeOut]) {
    html.push_str("<h2>Units whose number of sub-units changed</h2><table><tr><th>unit</th><th>sub-units before</th><th>after</th></tr>");
    for c in subunits {
        let _ = write!(
            html,
            "<tr><td>{} <small>{}</small></td><td>{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&c.unit),
            c.from,
            c.to
        );
    }
    html.push_str("</table>\n");
}
