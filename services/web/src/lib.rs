//! The auditor's workbench: server-rendered pages over the query API,
//! served by `muster-query` at `/` beside `/v1/*`.
//!
//! ```text
//! /                 start: search a unit or staff member, the pages below ([`home`])
//! /org              the unit tree on a day (collapsible, searchable, counts, quotas)
//! /unit/{id}        a unit: headcount series, roster, lineage graph, events
//! /staff/{id}       a staff member's timeline of home and working units
//! /audit            the front-line audit, every number a link to its members
//! /audit/members    the members behind one of the audit's numbers
//! /corrections      a scope on a day as reported at A vs as corrected at B
//! /ledger           this replica's status, the chain's check, signed checkpoints
//! /assets/…         the stylesheet and the one small script (ours, no CDN)
//! ```
//!
//! Invariants:
//! - A page computes nothing the API does not also answer: every figure
//!   comes from an [`Api`] call with the same typed request the JSON API
//!   takes; pages only arrange, filter and draw.
//! - A page is one ledger state: it resolves its `known_at` (or the head)
//!   with `state` first, then pins every question to that sequence, and
//!   shows it (seq, hash, time) with a permalink that reproduces the page.
//! - Bad input is the API's error on the page, with the API's status;
//!   never a blank page.

#![deny(missing_docs)]

mod chart;
mod dates;
mod layout;
mod pages;
mod params;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use muster_proto::answers::*;
use muster_proto::requests::*;
use std::future::Future;
use std::sync::Arc;

pub use pages::audit::document as audit_document;

/// An API error as the JSON API answers it: its HTTP status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status the JSON API gives it.
    pub status: u16,
    /// The `{"code", "message", …}` body.
    pub answer: ErrorAnswer,
}

impl ApiError {
    /// A `bad_request` (400) the workbench finds in its own parameters
    /// before asking anything, worded as the API words its own.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            answer: ErrorAnswer { code: "bad_request".into(), message: message.into(), field: None, accepted: None },
        }
    }
}

/// What the workbench asks: the query API, typed. The query service
/// implements it with the functions behind its JSON endpoints, so a page
/// and `/v1/<endpoint>` give the same answer to the same request.
pub trait Api: Send + Sync + 'static {
    /// `state`.
    fn state(&self, r: StateRequest) -> Result<StateOut, ApiError>;
    /// `tree`.
    fn tree(&self, r: TreeRequest) -> Result<Vec<TreeNodeOut>, ApiError>;
    /// `headcount`.
    fn headcount(&self, r: HeadcountRequest) -> Result<HeadcountOut, ApiError>;
    /// `roster`.
    fn roster(&self, r: RosterRequest) -> Result<Vec<RosterEntryOut>, ApiError>;
    /// `series`.
    fn series(&self, r: SeriesRequest) -> Result<Vec<SeriesPointOut>, ApiError>;
    /// `lineage`.
    fn lineage(&self, r: LineageRequest) -> Result<Vec<LineageEdgeOut>, ApiError>;
    /// `unit_events`.
    fn unit_events(&self, r: UnitEventsRequest) -> Result<Vec<UnitEventOut>, ApiError>;
    /// `history`.
    fn history(&self, r: HistoryRequest) -> Result<Vec<HistoryEntryOut>, ApiError>;
    /// `audit`.
    fn audit(&self, r: AuditRequest) -> Result<AuditOut, ApiError>;
    /// `corrections`.
    fn corrections(&self, r: CorrectionsRequest) -> Result<CorrectionsOut, ApiError>;
    /// `verify`.
    fn verify(&self) -> Result<VerifyAnswer, ApiError>;
    /// `status`.
    fn status(&self) -> impl Future<Output = StatusAnswer> + Send;
    /// `checkpoints`.
    fn checkpoints(&self, r: CheckpointsRequest) -> impl Future<Output = Result<Vec<CheckpointOut>, ApiError>> + Send;
    /// `inclusion_proof`.
    fn inclusion_proof(&self, r: InclusionProofRequest) -> Result<InclusionProofOut, ApiError>;
}

/// The workbench's routes, to merge into the query service's router.
pub fn router<A: Api>() -> Router<Arc<A>> {
    Router::new()
        .route("/org", get(org::<A>))
        .route("/unit/{id}", get(unit::<A>))
        .route("/staff/{id}", get(staff::<A>))
        .route("/audit", get(audit::<A>))
        .route("/audit/members", get(audit_members::<A>))
        .route("/corrections", get(corrections::<A>))
        .route("/ledger", get(ledger::<A>))
        .route("/proof", get(proof::<A>))
        .route("/assets/workbench.css", get(|| asset("text/css; charset=utf-8", layout::CSS)))
        .route("/assets/workbench.js", get(|| asset("text/javascript; charset=utf-8", layout::JS)))
}

/// The raw query string's pairs; each page checks them against the ones
/// it takes.
type Pairs = Query<Vec<(String, String)>>;

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    // Built into the binary: a new release is a new asset, so browsers may
    // keep it for an hour without ever mixing versions for long.
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// A page, or the error it met shown as a page with the API's status.
fn html(result: Result<maud::Markup, ApiError>) -> Response {
    let (status, body) = match result {
        Ok(markup) => (StatusCode::OK, markup),
        Err(e) => (StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST), layout::error_page(&e)),
    };
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body.into_string()).into_response()
}

/// `/`, the start page. Not among [`router`]'s routes: the query service
/// serves `/` to browsers with this and to programs with its JSON index.
pub async fn home<A: Api>(State(api): State<Arc<A>>, Query(pairs): Pairs) -> Response {
    html(pages::home::page(&*api, &pairs))
}

async fn org<A: Api>(State(api): State<Arc<A>>, Query(pairs): Pairs) -> Response {
    html(pages::org::page(&*api, &pairs))
}

async fn unit<A: Api>(State(api): State<Arc<A>>, Path(id): Path<String>, Query(pairs): Pairs) -> Response {
    html(pages::unit::page(&*api, &id, &pairs))
}

async fn staff<A: Api>(State(api): State<Arc<A>>, Path(id): Path<String>, Query(pairs): Pairs) -> Response {
    html(pages::staff::page(&*api, &id, &pairs))
}

async fn audit<A: Api>(State(api): State<Arc<A>>, Query(pairs): Pairs) -> Response {
    html(pages::audit::page(&*api, &pairs))
}

async fn audit_members<A: Api>(State(api): State<Arc<A>>, Query(pairs): Pairs) -> Response {
    html(pages::audit::members(&*api, &pairs))
}

async fn corrections<A: Api>(State(api): State<Arc<A>>, Query(pairs): Pairs) -> Response {
    html(pages::corrections::page(&*api, &pairs))
}

async fn ledger<A: Api>(State(api): State<Arc<A>>, Query(pairs): Pairs) -> Response {
    let status = api.status().await;
    let checkpoints = api.checkpoints(CheckpointsRequest { limit: None }).await;
    html(pages::ledger::page(&*api, &pairs, status, checkpoints))
}

async fn proof<A: Api>(State(api): State<Arc<A>>, Query(pairs): Pairs) -> Response {
    let checkpoints = api.checkpoints(CheckpointsRequest { limit: None }).await;
    html(pages::proof::page(&*api, &pairs, checkpoints))
}
