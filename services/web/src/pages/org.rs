//! `/org`: the unit tree as it stood on a day, with posted and working
//! counts (own and rolled up), category, quota and quota flags.

use super::known_at_field;
use crate::layout::{self, date_control, frame, pinned, unit_link, Section};
use crate::params::{pin, Params};
use crate::{Api, ApiError};
use maud::{html, Markup};
use muster_proto::answers::TreeNodeOut;
use muster_proto::requests::{HeadcountRequest, TreeRequest};

const ACCEPTED: &[&str] = &["date", "known_at", "under", "q"];

/// The page.
pub fn page(api: &impl Api, pairs: &[(String, String)]) -> Result<Markup, ApiError> {
    let params = Params::of(pairs, ACCEPTED)?;
    let state = pin(api, &params)?;
    let date = params.or("date", &layout::today());
    let request = TreeRequest { date: date.clone(), known_at_seq: Some(state.seq), known_at_time: None };
    let tree = api.tree(request)?;
    let day = layout::day(&date)?;
    let under = params.get("under");
    let nodes = match under {
        Some(root) => subtree(api, &tree, root, &date, state.seq)?,
        None => &tree[..],
    };
    let own = [("date", date.as_str()), ("under", under.unwrap_or(""))];
    let body = html! {
        form.controls method="get" action="/org" aria-label="Day and subtree" {
            (date_control("/org", "date", "Day", day, &[("under", under.unwrap_or("")), ("known_at", &state.seq.to_string())]))
            label { "Subtree (unit id)" input type="text" name="under" value=[under] size="12"; }
            (known_at_field(params.get("known_at")))
            button type="submit" { "Show" }
        }
        p {
            strong #unit-count { (nodes.len()) } " units active on " (date)
            @if let Some(root) = under { " in the subtree of " code { (root) } " (" a href=(crate::params::link("/org", &[("date", &date), ("known_at", &state.seq.to_string())])) { "whole tree" } ")" }
            "."
        }
        div.noprint {
            label for="tree-search" { "Search the tree by id or name " }
            input #tree-search type="search" data-tree-search aria-controls="tree" value=[params.get("q")] placeholder="e.g. NH-LEG or 法制";
            " " span #tree-search-status role="status" {}
            " " button type="button" data-expand aria-controls="tree" hidden { "Expand all" }
            " " button type="button" data-collapse aria-controls="tree" hidden { "Collapse all" }
        }
        (tree_list(nodes, &date, state.seq))
    };
    let title = format!("Organisation on {date}");
    Ok(frame(Section::Organisation, &title, Some(pinned(&state, "/org", &own)), body))
}

/// The part of `tree` under `root`; a unit not in the tree that day is
/// the API's answer for it (unknown, not yet established or closed).
fn subtree<'t>(
    api: &impl Api,
    tree: &'t [TreeNodeOut],
    root: &str,
    date: &str,
    seq: u64,
) -> Result<&'t [TreeNodeOut], ApiError> {
    let Some(start) = tree.iter().position(|n| n.unit == root) else {
        let request = HeadcountRequest {
            unit: root.to_owned(),
            date: date.to_owned(),
            rollup: false,
            known_at_seq: Some(seq),
            known_at_time: None,
        };
        let answer = api.headcount(request)?;
        return Err(ApiError::bad_request(format!(
            "unit {root} is {} on {date}",
            answer.status.status.replace('_', " ")
        )));
    };
    let depth = tree[start].depth;
    let end = tree[start + 1..].iter().position(|n| n.depth <= depth).map_or(tree.len(), |i| start + 1 + i);
    Ok(&tree[start..end])
}

/// The tree as nested lists: each unit a collapsible row.
fn tree_list(nodes: &[TreeNodeOut], date: &str, seq: u64) -> Markup {
    let (roots, children) = children_of(nodes);
    html! {
        div.tree-head { (row_cells(None, "Unit", date, seq)) }
        ul #tree .tree role="tree" aria-label="Units" {
            @for i in roots { (item(nodes, &children, i, date, seq)) }
        }
    }
}

/// The nodes with no parent among `nodes`, and for each node the nodes
/// right below it (depth-first order kept).
fn children_of(nodes: &[TreeNodeOut]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let (mut roots, mut children) = (Vec::new(), vec![Vec::new(); nodes.len()]);
    let mut path: Vec<usize> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        while path.last().is_some_and(|p| nodes[*p].depth >= node.depth) {
            path.pop();
        }
        match path.last() {
            Some(parent) => children[*parent].push(i),
            None => roots.push(i),
        }
        path.push(i);
    }
    (roots, children)
}

fn item(nodes: &[TreeNodeOut], children: &[Vec<usize>], i: usize, date: &str, seq: u64) -> Markup {
    let node = &nodes[i];
    let below = &children[i];
    html! {
        li role="treeitem" data-unit=(node.unit) data-name=(node.name) data-depth=(node.depth) data-children=(below.len()) {
            @if below.is_empty() {
                div.leaf { (row_cells(Some(node), "", date, seq)) }
            } @else {
                details open[node.depth < 1] {
                    summary { (row_cells(Some(node), &format!("{} sub-units", below.len()), date, seq)) }
                    ul role="group" { @for c in below { (item(nodes, children, *c, date, seq)) } }
                }
            }
        }
    }
}

/// One row's cells; `None` is the header row.
fn row_cells(node: Option<&TreeNodeOut>, note: &str, date: &str, seq: u64) -> Markup {
    let Some(n) = node else {
        return html! {
            span { "Unit" } span { "Category" } span.n { "Posted" } span.n { "Working" }
            span.n title="Posted, this unit and every unit below it" { "Posted ∑" }
            span.n title="Working, this unit and every unit below it" { "Working ∑" }
            span.n { "Quota" } span { "Quota check" }
        };
    };
    html! {
        span.name { (unit_link(&n.unit, Some(&n.name), date, seq)) @if !note.is_empty() { " " small.muted { (note) } } }
        span { span.badge.(n.category) { (n.category.replace('_', " ")) } }
        span.n.posted { (n.posted) } span.n.working { (n.working) }
        span.n.rolled-posted { (n.rolled_posted) } span.n.rolled-working { (n.rolled_working) }
        span.n.quota { @if let Some(q) = n.quota { (q) } @else { span.muted { "–" } } }
        span { (quota_flag(n)) }
    }
}

/// Over quota or vacancies, against the unit's own posted count (as the
/// audit's quota table counts them).
fn quota_flag(n: &TreeNodeOut) -> Markup {
    match n.quota {
        Some(q) if n.posted > q => {
            html! { span.badge.over title="posted above quota" { (n.posted - q) " over quota" } }
        }
        Some(q) if n.posted < q => html! { span.badge.vacant title="posted below quota" { (q - n.posted) " vacant" } },
        Some(_) => html! { span.muted { "at quota" } },
        None => html! {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(unit: &str, depth: u32) -> TreeNodeOut {
        TreeNodeOut {
            unit: unit.into(),
            name: unit.into(),
            category: "office".into(),
            parent: None,
            depth,
            quota: None,
            posted: 0,
            working: 0,
            rolled_posted: 0,
            rolled_working: 0,
        }
    }

    #[test]
    fn children_follow_depth_first_order() {
        let nodes = [node("NH", 0), node("A", 1), node("A1", 2), node("B", 1), node("PJ", 0)];
        let (roots, children) = children_of(&nodes);
        assert_eq!(roots, [0, 4]);
        assert_eq!(children, vec![vec![1, 3], vec![2], vec![], vec![], vec![]]);
    }
}
