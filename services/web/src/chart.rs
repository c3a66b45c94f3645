//! Charts as inline SVG, drawn from answers the page already has: labels
//! at a legible size, a hover title on every mark, and value axes that
//! start near the data (and say so) so that a change of 18 → 19 shows.

use maud::{html, Markup};
use muster_domain::Date;

/// Width of every chart, in SVG units (they scale down with the page).
const WIDTH: f64 = 1000.0;

/// One line of a step chart: a count that holds from each point's day to
/// the next point's.
pub struct Line<'a> {
    /// Legend text.
    pub label: &'a str,
    /// CSS class giving its colour (`posted`, `working`, `quota`, …).
    pub class: &'a str,
    /// Drawn dashed.
    pub dashed: bool,
    /// (first day, value), in day order.
    pub points: Vec<(Date, u32)>,
}

/// The value axis: from near the lowest value to above the highest.
struct Scale {
    lo: f64,
    hi: f64,
    step: f64,
}

impl Scale {
    /// Padded by a tenth of the range (at least 1) and not below zero.
    fn of(values: impl Iterator<Item = u32>) -> Scale {
        let (mut min, mut max) = (u32::MAX, 0);
        for v in values {
            (min, max) = (min.min(v), max.max(v));
        }
        if min > max {
            (min, max) = (0, 1);
        }
        let pad = (f64::from(max - min) / 10.0).max(1.0);
        let step = nice_step((f64::from(max - min) + 2.0 * pad) / 5.0);
        let lo = ((f64::from(min) - pad).max(0.0) / step).floor() * step;
        let hi = ((f64::from(max) + pad) / step).ceil() * step;
        Scale { lo, hi, step }
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let n = ((self.hi - self.lo) / self.step).round() as u32;
        (0..=n).map(move |i| self.lo + f64::from(i) * self.step)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power)
}

/// Days on the time axis: 1 January of each year over long spans, the
/// first of months over short ones, at most about ten.
fn time_ticks(from: Date, to: Date) -> Vec<Date> {
    let (y0, m0, _) = from.ymd();
    let (y1, _, _) = to.ymd();
    let span_days = to.day_number().saturating_sub(from.day_number());
    let mut ticks = Vec::new();
    if span_days > 3 * 365 {
        let every = ((y1 - y0) / 10 + 1).max(1);
        ticks.extend((y0 + 1..=y1).step_by(every as usize).filter_map(|y| Date::from_ymd(y, 1, 1).ok()));
    } else {
        let months = span_days / 30 + 1;
        let every = (months / 10 + 1) as i32;
        let mut k = 1;
        while let Some(day) =
            crate::dates::step(Date::from_ymd(y0, m0, 1).ok().unwrap_or(from), crate::dates::Step::Months(k))
        {
            if day > to {
                break;
            }
            ticks.push(day);
            k += every;
        }
    }
    // None within a twelfth of the span of either end: the first and last
    // days are labelled there, and a tick's label would run into them
    // (or off the chart).
    let margin = (span_days / 12).max(1);
    ticks.retain(|d| d.day_number() >= from.day_number() + margin && d.day_number() + margin <= to.day_number());
    ticks
}

/// A step chart of `lines` from `from` to `to`.
pub fn step_chart(caption: &str, from: Date, to: Date, lines: &[Line]) -> Markup {
    let (left, right, top, bottom, height) = (64.0, 20.0, 16.0, 46.0, 340.0);
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let scale = Scale::of(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    let span = f64::from(to.day_number().saturating_sub(from.day_number()).max(1));
    let x = |d: Date| left + plot_w * f64::from(d.day_number().saturating_sub(from.day_number())) / span;
    let y = |v: f64| top + plot_h * (1.0 - (v - scale.lo) / (scale.hi - scale.lo));
    html! {
        figure.chart {
            svg viewBox={"0 0 " (WIDTH) " " (height)} width="100%" role="img" aria-label=(caption) {
                title { (caption) }
                g.grid { @for v in scale.ticks() { line x1=(left) x2=(WIDTH - right) y1=(y(v)) y2=(y(v)) {} } }
                g.axis {
                    line x1=(left) x2=(left) y1=(top) y2=(top + plot_h) {}
                    line x1=(left) x2=(WIDTH - right) y1=(top + plot_h) y2=(top + plot_h) {}
                    @for v in scale.ticks() { text x=(left - 8.0) y=(y(v) + 4.0) text-anchor="end" { (v) } }
                    @for d in time_ticks(from, to) {
                        line x1=(x(d)) x2=(x(d)) y1=(top + plot_h) y2=(top + plot_h + 5.0) {}
                        text x=(x(d)) y=(top + plot_h + 20.0) text-anchor="middle" { (d) }
                    }
                    text x=(left) y=(height - 6.0) { (from) }
                    text x=(WIDTH - right) y=(height - 6.0) text-anchor="end" { (to) }
                }
                @for line in lines { (step_line(line, to, &x, &y)) }
            }
            figcaption {
                span.legend { @for line in lines { span { i.(line.class) style=(swatch(line)) {} (line.label) } } }
                @if scale.lo > 0.0 { span.note { "The value axis starts at " (scale.lo) ", not 0, so that changes show." } }
            }
        }
    }
}

fn swatch(line: &Line) -> String {
    let colour = format!("var(--{})", line.class);
    if line.dashed {
        format!("background: repeating-linear-gradient(90deg, {colour} 0 5px, transparent 5px 8px)")
    } else {
        format!("background: {colour}")
    }
}

fn step_line(line: &Line, to: Date, x: &impl Fn(Date) -> f64, y: &impl Fn(f64) -> f64) -> Markup {
    let mut path = String::new();
    for (i, (day, value)) in line.points.iter().enumerate() {
        let end = line.points.get(i + 1).map_or(to, |next| next.0);
        let (x0, x1, yv) = (x(*day), x(end), y(f64::from(*value)));
        path.push_str(&format!("{}{x0:.1},{yv:.1} H{x1:.1} ", if i == 0 { "M" } else { "L" }));
    }
    html! {
        path.line.(line.class).dashed[line.dashed] d=(path) {}
        @for (day, value) in &line.points {
            circle.dot.(line.class) cx=(x(*day)) cy=(y(f64::from(*value))) r="4" {
                title { (day) ": " (line.label) " " (value) }
            }
        }
    }
}

/// One bar of a bar chart.
pub struct Bar {
    /// The label left of the bar.
    pub label: String,
    /// Its length.
    pub value: u32,
    /// CSS class (the unit's category).
    pub class: String,
    /// Where clicking it goes.
    pub href: String,
    /// Its hover title.
    pub title: String,
}

/// Horizontal bars, one a row, each labelled and linked.
pub fn bars(caption: &str, rows: &[Bar]) -> Markup {
    let (label_w, row_h, top) = (380.0, 24.0, 8.0);
    let height = top + row_h * rows.len().max(1) as f64 + 8.0;
    let max = rows.iter().map(|r| r.value).max().unwrap_or(0).max(1);
    let bar_w = |v: u32| (WIDTH - label_w - 70.0) * f64::from(v) / f64::from(max);
    html! {
        figure.chart {
            figcaption.note { (caption) }
            svg viewBox={"0 0 " (WIDTH) " " (height)} width="100%" role="img" aria-label=(caption) {
                title { (caption) }
                @for (i, row) in rows.iter().enumerate() {
                    @let y = top + row_h * i as f64;
                    a href=(row.href) {
                        title { (row.title) }
                        text x=(label_w - 8.0) y=(y + 16.0) text-anchor="end" { (clip(&row.label, 44)) }
                        rect.bar.(row.class) x=(label_w) y=(y + 3.0) width=(bar_w(row.value).max(1.0)) height=(row_h - 6.0) {}
                        text x=(label_w + bar_w(row.value) + 6.0) y=(y + 16.0) { (row.value) }
                    }
                }
            }
        }
    }
}

/// At most `n` characters, an ellipsis when cut (the full text is in the
/// mark's title).
fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        text.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

/// A node of the lineage graph.
pub struct Node {
    /// Unit id.
    pub unit: String,
    /// Its page.
    pub href: String,
    /// The unit the page is about.
    pub current: bool,
}

/// An edge of the lineage graph: `from` went into `to` on `date`.
pub struct Edge {
    /// Index of the source node.
    pub from: usize,
    /// Index of the target node.
    pub to: usize,
    /// Merged or split, and when.
    pub label: String,
}

/// Mergers and splits drawn left to right: a unit sits one column right
/// of every unit it came from.
pub fn lineage(caption: &str, nodes: &[Node], edges: &[Edge]) -> Markup {
    let mut column = vec![0usize; nodes.len()];
    // Edges come in date order, so one pass per edge settles the columns
    // of a chain of mergers; repeat to a fixed point for safety (≤ n).
    for _ in 0..nodes.len() {
        let mut moved = false;
        for e in edges {
            if column[e.to] < column[e.from] + 1 {
                column[e.to] = column[e.from] + 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let mut row = vec![0usize; nodes.len()];
    let mut filled = vec![0usize; nodes.len() + 1];
    for (i, c) in column.iter().enumerate() {
        row[i] = filled[*c];
        filled[*c] += 1;
    }
    let (box_w, box_h, col_w, row_h) = (190.0, 30.0, 300.0, 42.0);
    let rows = filled.iter().max().copied().unwrap_or(1).max(1);
    let height = 20.0 + row_h * rows as f64;
    let width = (30.0 + col_w * (column.iter().max().copied().unwrap_or(0) + 1) as f64).max(WIDTH);
    let at = |i: usize| (10.0 + col_w * column[i] as f64, 10.0 + row_h * row[i] as f64);
    html! {
        figure.chart {
            figcaption.note { (caption) }
            svg viewBox={"0 0 " (width) " " (height)} width=(width) role="img" aria-label=(caption) {
                title { (caption) }
                @for e in edges {
                    @let ((x0, y0), (x1, y1)) = (at(e.from), at(e.to));
                    g {
                        title { (e.label) }
                        path.edge d=(format!("M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", x0 + box_w, y0 + box_h / 2.0, x0 + box_w + 50.0, y0 + box_h / 2.0, x1 - 50.0, y1 + box_h / 2.0, x1, y1 + box_h / 2.0)) {}
                        circle cx=(x1 - 3.0) cy=(y1 + box_h / 2.0) r="3" {}
                    }
                }
                @for (i, n) in nodes.iter().enumerate() {
                    @let (x, y) = at(i);
                    a.node.self[n.current] href=(n.href) {
                        title { (n.unit) }
                        rect x=(x) y=(y) width=(box_w) height=(box_h) rx="5" {}
                        text x=(x + 8.0) y=(y + 20.0) { (clip(&n.unit, 24)) }
                    }
                }
            }
        }
    }
}

/// One stretch of a staff member's timeline.
pub struct Stretch {
    /// First day.
    pub from: Date,
    /// The day after the last.
    pub to: Date,
    /// The unit.
    pub unit: String,
    /// Where it links (the event that began it).
    pub href: String,
    /// Hover title.
    pub title: String,
}

/// Two lanes, home and working unit, over time.
pub fn timeline(caption: &str, from: Date, to: Date, home: &[Stretch], working: &[Stretch]) -> Markup {
    let (left, right, lane_h) = (90.0, 20.0, 40.0);
    let span = f64::from(to.day_number().saturating_sub(from.day_number()).max(1));
    let x =
        |d: Date| left + (WIDTH - left - right) * f64::from(d.day_number().saturating_sub(from.day_number())) / span;
    let lane = |y: f64, class: &str, stretches: &[Stretch]| {
        html! {
            @for s in stretches {
                a href=(s.href) {
                    title { (s.title) }
                    rect.seg.(class) x=(x(s.from)) y=(y) width=((x(s.to) - x(s.from)).max(2.0)) height=(lane_h - 8.0) {}
                    @if x(s.to) - x(s.from) > 60.0 { text x=(x(s.from) + 5.0) y=(y + 21.0) { (clip(&s.unit, ((x(s.to) - x(s.from)) / 8.0) as usize)) } }
                }
            }
        }
    };
    html! {
        figure.chart {
            figcaption.note { (caption) }
            svg viewBox={"0 0 " (WIDTH) " 130"} width="100%" role="img" aria-label=(caption) {
                title { (caption) }
                text x="4" y="30" { "Home" }
                text x="4" y="70" { "Working" }
                (lane(10.0, "home", home))
                (lane(50.0, "working", working))
                g.axis { @for d in time_ticks(from, to) { text x=(x(d)) y="110" text-anchor="middle" { (d) } } }
                text x=(left) y="126" { (from) }
                text x=(WIDTH - right) y="126" text-anchor="end" { (to) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_axis_for_18_to_19_does_not_start_at_zero() {
        let scale = Scale::of([18, 19].into_iter());
        assert!(scale.lo > 0.0 && scale.lo <= 17.0, "lo {}", scale.lo);
        assert!(scale.hi >= 20.0);
    }

    #[test]
    fn an_axis_near_zero_stops_at_zero() {
        let scale = Scale::of([0, 3, 120].into_iter());
        assert_eq!(scale.lo, 0.0);
        assert!(scale.hi >= 120.0);
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0.3), 1.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(12.0), 20.0);
        assert_eq!(nice_step(480.0), 500.0);
    }

    #[test]
    fn long_spans_tick_on_new_year() {
        let (from, to) = (Date::parse("2013-01-01").unwrap(), Date::parse("2016-12-01").unwrap());
        let ticks: Vec<String> = time_ticks(from, to).iter().map(|d| d.to_string()).collect();
        assert_eq!(ticks, ["2014-01-01", "2015-01-01", "2016-01-01"]);
    }
}
