//! One module a page. Each takes the raw query pairs, checks them
//! ([`crate::params::Params`]), pins the ledger state, asks the [`crate::Api`]
//! and arranges the answers; none computes a figure of its own.

pub mod audit;
pub mod corrections;
pub mod home;
pub mod ledger;
pub mod org;
pub mod proof;
pub mod staff;
pub mod unit;

use maud::{html, Markup};

/// The "Known at" field every form has: a ledger entry number or a time.
fn known_at_field(value: Option<&str>) -> Markup {
    html! {
        label {
            "Known at (entry # or time, empty: now)"
            input type="text" name="known_at" value=[value] placeholder="e.g. 57 or 2016-01-05T08:00:00Z" size="24";
        }
    }
}

/// A count that changed: the signed difference, coloured.
fn difference(from: i64, to: i64) -> Markup {
    let change = to - from;
    html! {
        @if change > 0 { span.up { "+" (change) } }
        @else if change < 0 { span.down { "−" (change.abs()) } }
        @else { span.muted { "0" } }
    }
}
