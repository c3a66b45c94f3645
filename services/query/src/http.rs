//! The HTTP JSON API: `GET /v1/<endpoint>?field=value…` (or `POST` with a
//! JSON body), the same requests and answers as the NATS endpoints.
//!
//! ```text
//! GET /v1/headcount?unit=NH-SUP&date=2016-01-01&rollup=true&known_at_seq=57
//! GET /v1/status
//! GET /v1/audit.html?scope=NH&from=2013-01-01&to=2016-12-01   (the report, charts included)
//! GET /v1/audit.csv?scope=NH&from=2013-01-01&to=2016-12-01    (every move)
//! ```
//!
//! An error is `{"code", "message"}` with its status: `bad_request` 400,
//! `not_found` 404, `not_yet_applied` 503 (this replica has not applied
//! the `known_at_seq` asked for yet: ask again, or another replica),
//! `internal` 500.

use crate::service::Replica;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use muster_proto::limits::HTTP_BODY_BYTES_MAX;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Serves until the task is aborted.
pub async fn serve(replica: Arc<Replica>, listener: tokio::net::TcpListener) {
    let app = Router::new()
        .route("/v1/{endpoint}", get(by_query).post(by_body))
        .layer(DefaultBodyLimit::max(HTTP_BODY_BYTES_MAX))
        .with_state(replica);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(%e, "HTTP API stopped");
    }
}

fn respond(result: Result<Vec<u8>, crate::answer::QueryError>) -> Response {
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => (StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), e.to_json()),
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Query parameters as the JSON request: `rollup` is a boolean and
/// `known_at_seq` a number; everything else is text.
fn params_to_json(params: BTreeMap<String, String>) -> Result<Vec<u8>, crate::answer::QueryError> {
    let bad = |message: String| crate::answer::QueryError { code: "bad_request", message };
    let mut object = Map::new();
    for (key, value) in params {
        let value = match key.as_str() {
            "rollup" => Value::Bool(value.parse().map_err(|_| bad(format!("rollup '{value}' is not true or false")))?),
            "known_at_seq" => {
                Value::from(value.parse::<u64>().map_err(|_| bad(format!("known_at_seq '{value}' is not a number")))?)
            }
            _ => Value::String(value),
        };
        object.insert(key, value);
    }
    Ok(serde_json::to_vec(&Value::Object(object)).expect("serializes"))
}

async fn by_query(
    State(replica): State<Arc<Replica>>,
    Path(endpoint): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let body = match params_to_json(params) {
        Ok(body) => body,
        Err(e) => return respond(Err(e)),
    };
    match endpoint.as_str() {
        "audit.html" | "audit.csv" => audit_document(&replica, &endpoint, &body).await,
        _ => respond(replica.query(&endpoint, &body).await),
    }
}

/// The audit as the HTML report or the CSV of its moves.
async fn audit_document(replica: &Replica, endpoint: &str, body: &[u8]) -> Response {
    let answer = match replica.query("audit", body).await {
        Ok(answer) => answer,
        Err(e) => return respond(Err(e)),
    };
    let audit: muster_proto::answers::AuditOut = serde_json::from_slice(&answer).expect("the audit answer parses");
    if endpoint == "audit.csv" {
        let csv = muster_report::moves_csv(&audit);
        return ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response();
    }
    match muster_report::audit_html(&audit) {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => respond(Err(crate::answer::QueryError { code: "internal", message: e.to_string() })),
    }
}

async fn by_body(State(replica): State<Arc<Replica>>, Path(endpoint): Path<String>, body: Bytes) -> Response {
    let body = if body.is_empty() { b"{}".as_slice() } else { &body };
    respond(replica.query(&endpoint, body).await)
}
