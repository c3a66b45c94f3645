//! The frame of every page: navigation, the ledger state the page was
//! computed from with its permalink, and the error page.

use crate::dates::{self, Step};
use crate::params::link;
use crate::ApiError;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use muster_domain::Date;
use muster_proto::answers::StateOut;

/// The stylesheet, built in.
pub const CSS: &str = include_str!("../assets/workbench.css");
/// The one script, built in (ours; no CDN, nothing fetched at run time).
pub const JS: &str = include_str!("../assets/workbench.js");

/// Which part of the navigation a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/`.
    Home,
    /// `/org`, `/unit/…`.
    Organisation,
    /// `/staff/…`.
    Staff,
    /// `/audit…`.
    Audit,
    /// `/corrections`.
    Corrections,
    /// `/ledger`.
    Ledger,
}

/// What a page was computed from, and how to come back to it.
pub struct Pinned<'a> {
    /// The ledger state.
    pub state: &'a StateOut,
    /// This page at this state: the URL to send a colleague.
    pub permalink: String,
    /// This page at the head, when the page shows an earlier state.
    pub latest: Option<String>,
}

/// A whole page.
pub fn frame(section: Section, title: &str, pinned: Option<Pinned>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Muster" }
                link rel="stylesheet" href="/assets/workbench.css";
                script src="/assets/workbench.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                (navigation(section))
                @if let Some(pinned) = pinned { (state_line(&pinned)) }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn navigation(section: Section) -> Markup {
    let item = |target: Section, href: &str, label: &str| {
        html! { a href=(href) aria-current=[(section == target).then_some("page")] { (label) } }
    };
    html! {
        header.top {
            a.brand href="/" { "Muster" }
            nav aria-label="Main" {
                (item(Section::Organisation, "/org", "Organisation"))
                (item(Section::Audit, "/audit", "Front-line audit"))
                (item(Section::Corrections, "/corrections", "Reported vs corrected"))
                (item(Section::Ledger, "/ledger", "Ledger"))
                a href="/api" { "JSON API" }
            }
            form action="/" method="get" role="search" {
                label for="find" { "Unit or staff id, or a name" }
                input #find type="search" name="find" required;
                button type="submit" { "Find" }
            }
        }
    }
}

/// "Computed from ledger entry #N …", on every page that asks the ledger.
fn state_line(pinned: &Pinned) -> Markup {
    let state = pinned.state;
    let short = state.hash.get(..16).unwrap_or(&state.hash);
    html! {
        section.state aria-label="Ledger state" {
            "Computed from ledger entry "
            strong #state-seq data-seq=(state.seq) { "#" (state.seq) }
            " · chain hash "
            code #state-hash title=(state.hash) data-hash=(state.hash) { (short) "…" }
            @if let Some(at) = &state.recorded_at { " · recorded " time datetime=(at) { (at) } }
            " · " a #permalink href=(pinned.permalink) { "Permalink to this page" }
            @if let Some(latest) = &pinned.latest {
                " · " span.earlier { "An earlier state: the ledger is now at #" (state.head_seq) ". " }
                a href=(latest) { "Show the latest" }
            }
        }
    }
}

/// `pinned` for a page at `path` with `pairs` (its own parameters, the
/// pinned `known_at` added here).
pub fn pinned<'a>(state: &'a StateOut, path: &str, pairs: &[(&str, &str)]) -> Pinned<'a> {
    let seq = state.seq.to_string();
    let mut with_state: Vec<(&str, &str)> = pairs.to_vec();
    with_state.push(("known_at", &seq));
    let latest = (state.seq < state.head_seq).then(|| link(path, pairs));
    Pinned { state, permalink: link(path, &with_state), latest }
}

/// A self-contained document (a report to keep or send): the stylesheet
/// inline, no navigation, no script, and the ledger state with the API
/// request that reproduces it.
pub fn document(title: &str, state: &StateOut, request: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { (title) }
                    p.state {
                        "Computed from ledger entry " strong { "#" (state.seq) } " · chain hash " code { (state.hash) }
                        @if let Some(at) = &state.recorded_at { " · recorded " (at) }
                        br; "The same answer, as JSON: " code { (request) }
                    }
                    (body)
                }
            }
        }
    }
}

/// The page for an error: the API's code and message, never a blank page.
pub fn error_page(e: &ApiError) -> Markup {
    let body = html! {
        div.error role="alert" {
            p { strong { "The ledger could not answer this: " } span #error-message { (e.answer.message) } }
            p.muted { "Error code " span.code #error-code { (e.answer.code) } " (HTTP " (e.status) ")." }
            @if let Some(accepted) = &e.answer.accepted {
                p { "Accepted parameters: " code { (accepted.join(", ")) } }
            }
        }
        p { a href="javascript:history.back()" { "Go back" } " or start again from " a href="/" { "the start page" } "." }
    };
    frame(Section::Home, "No answer", None, body)
}

/// A date field with ±1 day, month and year steps: a GET form to `path`
/// keeping `keep` (the page's other parameters).
pub fn date_control(path: &str, name: &str, label: &str, date: Date, keep: &[(&str, &str)]) -> Markup {
    let date_text = date.to_string();
    let step_link = |step: Step, text: &str, what: &str| {
        let href = dates::step(date, step).map(|d| {
            let target = d.to_string();
            let mut pairs = keep.to_vec();
            pairs.push((name, &target));
            link(path, &pairs)
        });
        html! {
            @if let Some(href) = href { a href=(href) aria-label=(what) title=(what) { (text) } }
        }
    };
    html! {
        span.steps.noprint aria-label="Step the date" {
            (step_link(Step::Years(-1), "−1 y", "One year earlier"))
            (step_link(Step::Months(-1), "−1 m", "One month earlier"))
            (step_link(Step::Days(-1), "−1 d", "One day earlier"))
            (step_link(Step::Days(1), "+1 d", "One day later"))
            (step_link(Step::Months(1), "+1 m", "One month later"))
            (step_link(Step::Years(1), "+1 y", "One year later"))
        }
        label { (label) input type="date" name=(name) value=(date_text) min="1900-01-01" max="2199-12-31"; }
    }
}

/// A unit id and name as a link to its page on `date`.
pub fn unit_link(unit: &str, name: Option<&str>, date: &str, known_at: u64) -> Markup {
    let href = link(
        &format!("/unit/{}", crate::params::segment(unit)),
        &[("date", date), ("known_at", &known_at.to_string())],
    );
    html! {
        a href=(href) data-unit=(unit) {
            @if let Some(name) = name { span lang="zh-Hans" { (name) } " " }
            code { (unit) }
        }
    }
}

/// "prove it": the page proving entry `seq` in the ledger's signed
/// Merkle tree, checked again in the browser.
pub fn prove_link(seq: u64) -> Markup {
    let title = "Prove this entry is in the Merkle tree the ledger signed";
    html! { a.prove href=(link("/proof", &[("seq", &seq.to_string())])) title=(title) { "prove it" } }
}

/// A staff id as a link to their timeline.
pub fn staff_link(staff: &str, known_at: u64) -> Markup {
    let href = link(&format!("/staff/{}", crate::params::segment(staff)), &[("known_at", &known_at.to_string())]);
    html! { a href=(href) data-staff=(staff) { code { (staff) } } }
}

/// The calendar text of `date` if it is one (the API has already checked
/// it by the time a page draws it).
pub fn day(text: &str) -> Result<Date, ApiError> {
    Date::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Today, as the default day of a page asked without one.
pub fn today() -> String {
    dates::today().to_string()
}
