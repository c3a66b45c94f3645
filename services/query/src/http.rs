//! The HTTP JSON API: `GET /v1/<endpoint>?field=value…` (or `POST` with a
//! JSON body), the same requests and answers as the NATS endpoints.
//!
//! ```text
//! GET /                                          (a browser: the workbench, muster_web; else the endpoints as JSON)
//! GET /api                                       (the endpoints as HTML)
//! GET /v1/headcount?unit=NH-SUP&date=2016-01-01&rollup=true&known_at_seq=57
//! GET /v1/status
//! GET /v1/audit.html?scope=NH&from=2013-01-01&to=2016-12-01   (the report, charts included)
//! GET /v1/audit.csv?scope=NH&from=2013-01-01&to=2016-12-01    (every move)
//! GET /v1/audit.xlsx?scope=NH&from=2013-01-01&to=2016-12-01   (the audit as a workbook)
//! ```
//!
//! Strict: a parameter or body field an endpoint does not accept is a 400
//! (`unknown_field`) listing the ones it does, never passed over. Every
//! error, an unknown path (404) and a wrong method (405) included, is
//! `{"code", "message"}` with the status of its code
//! ([`QueryErrorCode`](crate::answer::QueryErrorCode); proto/README.md,
//! "Query errors").

use crate::answer::{Answer, QueryEndpoint, QueryError, QueryErrorCode};
use crate::replica::Replica;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use muster_proto::limits::HTTP_BODY_BYTES_MAX;
use muster_proto::requests::{AuditRequest, CheckpointsRequest};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Serves until the task is aborted.
pub async fn serve(replica: Arc<Replica>, listener: tokio::net::TcpListener) {
    let app = Router::new()
        .route("/", get(index))
        .route("/api", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], index_html()) }))
        .route("/v1/{endpoint}", get(by_query).post(by_body))
        // The proofs' paths: the endpoints `inclusion_proof`,
        // `consistency_proof` and `evidence_entries` (their NATS names)
        // under /v1/proof/.
        .route("/v1/proof/{kind}", get(proof_by_query).post(proof_by_body))
        .merge(muster_web::router::<Replica>())
        .fallback(no_such_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(HTTP_BODY_BYTES_MAX))
        .with_state(replica);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(%e, "HTTP API stopped");
    }
}

/// An answer or an error as JSON: the one place the HTTP API serializes.
fn respond(result: Result<Answer, QueryError>) -> Response {
    let (status, body) = match result.and_then(|answer| answer.to_json()) {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => (StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), e.to_json()),
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `endpoint` (a path segment) answered from `body`. The name is read
/// after the request, so a malformed request to an unknown endpoint is
/// still a 400, as it always was.
async fn answer(replica: &Replica, endpoint: &str, body: &[u8]) -> Response {
    match endpoint.parse::<QueryEndpoint>() {
        Ok(endpoint) => respond(replica.query(endpoint, body).await),
        Err(e) => respond(Err(e)),
    }
}

fn bad(message: String) -> QueryError {
    QueryError::new(QueryErrorCode::BadRequest, message)
}

/// Query parameters as the JSON request: `rollup` and `proof` are booleans,
/// `known_at_seq`, `reported_at_seq`, `limit` and the proofs' `seq`,
/// `tree_size`, `from_size` and `to_size` numbers, `seqs` numbers
/// separated by commas; everything else is text. A parameter given
/// twice is refused (which one would count?); one the endpoint does not
/// accept is refused by the endpoint, as a body field would be.
fn params_to_json(params: Vec<(String, String)>) -> Result<Vec<u8>, QueryError> {
    let mut object = Map::new();
    for (key, value) in params {
        let value = match key.as_str() {
            "rollup" | "proof" => {
                Value::Bool(value.parse().map_err(|_| bad(format!("{key} '{value}' is not true or false")))?)
            }
            "known_at_seq" | "reported_at_seq" | "limit" | "seq" | "tree_size" | "from_size" | "to_size" => {
                Value::from(value.parse::<u64>().map_err(|_| bad(format!("{key} '{value}' is not a number")))?)
            }
            "seqs" => Value::from(
                value
                    .split(',')
                    .map(|n| n.trim().parse::<u64>())
                    .collect::<Result<Vec<u64>, _>>()
                    .map_err(|_| bad(format!("seqs '{value}' is not numbers separated by commas")))?,
            ),
            _ => Value::String(value),
        };
        if object.contains_key(&key) {
            return Err(bad(format!("parameter {key} is given more than once")));
        }
        object.insert(key, value);
    }
    Ok(serde_json::to_vec(&Value::Object(object)).expect("serializes"))
}

async fn by_query(
    State(replica): State<Arc<Replica>>,
    Path(endpoint): Path<String>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(params)) => params,
        Err(e) => return respond(Err(bad(format!("query string: {}", e.body_text())))),
    };
    let body = match params_to_json(params) {
        Ok(body) => body,
        Err(e) => return respond(Err(e)),
    };
    match endpoint.as_str() {
        "audit.html" => audit_document(&replica, AuditDocument::Html, &body),
        "audit.csv" => audit_document(&replica, AuditDocument::Csv, &body),
        "audit.xlsx" => audit_document(&replica, AuditDocument::Xlsx, &body),
        "evidence.zip" => evidence_zip(&replica, &body).await,
        _ => answer(&replica, &endpoint, &body).await,
    }
}

/// `/v1/proof/inclusion`, `/v1/proof/consistency` and
/// `/v1/proof/entries`: the endpoint at that path (any other kind is an
/// unknown endpoint, 404).
fn proof_endpoint(kind: &str) -> String {
    let path = format!("/v1/proof/{kind}");
    match QueryEndpoint::ALL.into_iter().find(|e| e.path() == path) {
        Some(endpoint) => endpoint.name().to_owned(),
        None => format!("proof/{kind}"),
    }
}

async fn proof_by_query(
    replica: State<Arc<Replica>>,
    Path(kind): Path<String>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    by_query(replica, Path(proof_endpoint(&kind)), params).await
}

async fn proof_by_body(
    replica: State<Arc<Replica>>,
    Path(kind): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    by_body(replica, Path(proof_endpoint(&kind)), body).await
}

/// The documents made from an audit, which are GET-only paths beside the
/// endpoints (`/v1/audit.html`, `/v1/audit.csv`, `/v1/audit.xlsx`), not
/// endpoints of their own.
#[derive(Clone, Copy)]
enum AuditDocument {
    /// The report, charts included.
    Html,
    /// Every move, one a row.
    Csv,
    /// Every table of the audit, one a sheet.
    Xlsx,
}

/// The audit as the HTML report, the CSV of its moves or the workbook,
/// made from the typed answer (never from its JSON). The CSV and the
/// workbook are downloads, named after the question; the report stays
/// inline, to be read in the browser.
fn audit_document(replica: &Replica, document: AuditDocument, body: &[u8]) -> Response {
    let (audit, state) = match replica.audit(body) {
        Ok(answer) => answer,
        Err(e) => return respond(Err(e)),
    };
    let made = match document {
        AuditDocument::Csv => Ok(("text/csv; charset=utf-8", muster_report::moves_csv(&audit).into_bytes())),
        AuditDocument::Html => {
            Ok(("text/html; charset=utf-8", muster_web::audit_document(&audit, &state).into_bytes()))
        }
        AuditDocument::Xlsx => muster_report::audit_xlsx(&audit, &state).map(|xlsx| (XLSX, xlsx)),
    };
    let (content_type, bytes) = match made {
        Ok(made) => made,
        Err(e) => return respond(Err(QueryError::new(QueryErrorCode::Internal, e.to_string()))),
    };
    let disposition = match document {
        AuditDocument::Html => format!("inline; filename=\"{}.html\"", file_stem(&audit)),
        AuditDocument::Csv => format!("attachment; filename=\"{}.csv\"", file_stem(&audit)),
        AuditDocument::Xlsx => format!("attachment; filename=\"{}.xlsx\"", file_stem(&audit)),
    };
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

/// `/v1/evidence.zip`: the evidence pack of the audit asked, computed at
/// the newest signed checkpoint this replica has applied (none yet:
/// `not_found`).
async fn evidence_zip(replica: &Replica, body: &[u8]) -> Response {
    let request: AuditRequest = match crate::answer::parse(QueryEndpoint::Audit, body) {
        Ok(request) => request,
        Err(e) => return respond(Err(e)),
    };
    let listed = match replica.checkpoints(CheckpointsRequest { limit: None }).await {
        Ok(listed) => listed,
        Err(e) => return respond(Err(e)),
    };
    let Some(newest) = crate::evidence::newest_applied(listed) else {
        let none = "no signed checkpoint this replica has applied yet: a pack needs one";
        return respond(Err(QueryError::new(QueryErrorCode::NotFound, none)));
    };
    let stem = stem_of("evidence", request.scope.as_deref(), &request.from, &request.to);
    let pack = replica.read(|ledger| {
        let mut ask = |endpoint, body: Vec<u8>| crate::answer::answer(ledger, endpoint, &body)?.to_json();
        crate::evidence::gather(&mut ask, request, &newest.published)
    });
    match pack {
        Ok(pack) => {
            let name = format!("attachment; filename=\"{stem}-at-{}.zip\"", newest.seq);
            ([(header::CONTENT_TYPE, "application/zip".to_owned()), (header::CONTENT_DISPOSITION, name)], pack.zip())
                .into_response()
        }
        Err(e) => respond(Err(e)),
    }
}

/// The workbook's media type (ECMA-376).
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `audit-<scope>-<from>-<to>`, `all` for no scope. Unit ids and dates
/// are checked before an audit is answered, but a unit id may hold
/// characters a file name or this header cannot: those become `_`.
fn file_stem(audit: &muster_proto::answers::AuditOut) -> String {
    stem_of("audit", audit.scope.as_deref(), &audit.from, &audit.to)
}

/// `<what>-<scope>-<from>-<to>`, as [`file_stem`].
fn stem_of(what: &str, scope: Option<&str>, from: &str, to: &str) -> String {
    let stem = format!("{what}-{}-{from}-{to}", scope.unwrap_or("all"));
    stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect()
}

async fn by_body(
    State(replica): State<Arc<Replica>>,
    Path(endpoint): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) => answer(&replica, &endpoint, &body).await,
        Err(e) => respond(Err(bad(format!("request body: {}", e.body_text())))),
    }
}

async fn no_such_path(uri: Uri) -> Response {
    let message = format!("no such path {}: GET / lists the endpoints", uri.path());
    respond(Err(QueryError::new(QueryErrorCode::NotFound, message)))
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    let allowed = if uri.path() == "/" { "GET" } else { "GET (query parameters) or POST (a JSON body)" };
    let message = format!("{} does not take {method}: use {allowed}", uri.path());
    respond(Err(QueryError::new(QueryErrorCode::MethodNotAllowed, message)))
}

/// `/`: for a browser (it asks for HTML) the workbench's start page;
/// for anything else the endpoints with their parameters and the error
/// codes, as JSON (the same list as HTML is at `/api`).
async fn index(
    State(replica): State<Arc<Replica>>,
    headers: HeaderMap,
    params: Query<Vec<(String, String)>>,
) -> Response {
    let wants_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"));
    if wants_html {
        muster_web::home(State(replica), params).await
    } else {
        let body = serde_json::to_vec(&index_json()).expect("serializes");
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

fn index_json() -> Value {
    let endpoints: Vec<Value> = QueryEndpoint::ALL
        .iter()
        .map(|e| json!({"path": e.path(), "parameters": e.fields(), "about": e.about()}))
        .collect();
    let errors: Vec<Value> =
        QueryErrorCode::ALL.iter().map(|c| json!({"code": c.as_str(), "status": c.http_status()})).collect();
    json!({
        "service": "muster-query",
        "version": env!("CARGO_PKG_VERSION"),
        "usage": "GET /v1/<endpoint>?parameter=value… or POST /v1/<endpoint> with a JSON object; dates are YYYY-MM-DD",
        "endpoints": endpoints,
        "errors": errors,
    })
}

fn index_html() -> String {
    // Every string here is ours (names, fields, codes): nothing to escape.
    let rows: String = QueryEndpoint::ALL
        .iter()
        .map(|e| {
            format!(
                "<tr><td><a href=\"{0}\"><code>{0}</code></a></td><td><code>{1}</code></td><td>{2}</td></tr>\n",
                e.path(),
                e.fields().join(", "),
                e.about()
            )
        })
        .collect();
    let codes: String = QueryErrorCode::ALL
        .iter()
        .map(|c| format!("<tr><td><code>{}</code></td><td>{}</td></tr>\n", c.as_str(), c.http_status()))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Muster query service</title></head>\n\
         <body><h1>Muster query service</h1>\n\
         <p><code>GET /v1/&lt;endpoint&gt;?parameter=value…</code> or <code>POST</code> a JSON object; \
         dates are <code>YYYY-MM-DD</code>; <code>known_at_seq</code> or <code>known_at_time</code> \
         asks what the ledger knew then. Answers are JSON; <code>/v1/audit.html</code> (the report), \
         <code>/v1/audit.csv</code> (every move), <code>/v1/audit.xlsx</code> (the audit as a workbook) \
         and <code>/v1/evidence.zip</code> (the evidence pack at the newest signed checkpoint, without \
         <code>known_at</code>) take the audit's parameters.</p>\n\
         <table><caption>Endpoints</caption><tr><th>Path</th><th>Parameters</th><th>Answers</th></tr>\n{rows}</table>\n\
         <table><caption>Errors: <code>{{\"code\", \"message\"}}</code></caption><tr><th>Code</th><th>HTTP status</th></tr>\n{codes}</table>\n\
         </body></html>\n"
    )
}
