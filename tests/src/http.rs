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
    let response = get(addr, path, "*/*").await.expect("connect HTTP");
    (response.status, String::from_utf8(response.body).expect("UTF-8 response"))
}

/// A response as it came: status, headers (names lower-cased) and the
/// body's bytes.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Each header line as (lower-cased name, value).
    pub headers: Vec<(String, String)>,
    /// The body, unchanged.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// A tiny HTTP/1.1 GET asking for `accept`; an error only when nothing
/// answers (a server still starting). The body is read to its
/// Content-Length when there is one: chromedriver says `Connection:
/// close` but keeps the connection open. The servers it asks (axum,
/// chromedriver) never send chunks.
pub async fn get(addr: std::net::SocketAddr, path: &str, accept: &str) -> std::io::Result<Response> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        response.extend_from_slice(&chunk[..read]);
        let whole = parse(&response).is_some_and(|r| {
            let length: Option<usize> = r.header("content-length").and_then(|n| n.parse().ok());
            length.is_some_and(|length| r.body.len() >= length)
        });
        if read == 0 || whole {
            break;
        }
    }
    Ok(parse(&response).expect("an HTTP response"))
}

/// A response's head and the body read so far; none before the head
/// has come whole.
fn parse(response: &[u8]) -> Option<Response> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status: u16 = head.get(9..12).and_then(|code| code.parse().ok()).expect("status code");
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(Response { status, headers, body: response[split + 4..].to_vec() })
}
