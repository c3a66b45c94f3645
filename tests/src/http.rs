//! A tiny HTTP client for the tests of the query service's HTTP API.

use muster_proto::requests::StatusAnswer;
use std::time::Duration;

/// Waits (at most 30 s) until the replica behind `http` has applied `seq`.
pub async fn caught_up(http: std::net::SocketAddr, seq: u64) -> StatusAnswer {
    crate::wait::eventually(Duration::from_secs(30), &format!("the replica applied entry {seq}"), || async {
        let status: StatusAnswer = serde_json::from_value(http_get(http, "/v1/status").await.1).unwrap();
        (status.applied_seq >= seq).then_some(status)
    })
    .await
}

/// A tiny HTTP/1.1 GET, so the test checks the wire and not a client
/// library's idea of it.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_get_text(addr, path).await;
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

/// [`http_get`] of a body that is text.
pub async fn http_get_text(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect HTTP");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).expect("UTF-8 response");
    let status: u16 = text[9..12].parse().expect("status code");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}
