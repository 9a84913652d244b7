//! A minimal HTTP/1.1 client (one request per connection) for talking to a local service:
//! what `cargo xtask eval` and `cargo xtask demo` need, without an HTTP client dependency.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::Context as _;

/// Sends `method path` with an optional JSON `body` to `address` (`host:port`); returns the
/// status and the body.
pub(crate) fn request(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)
        .with_context(|| format!("could not connect to {address}; is the service running?"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    // One write: a request sent in pieces waits on Nagle's algorithm and delayed ACKs (that
    // doubled the measured latency).
    let request = match body {
        Some(body) => format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
    };
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, content) = response
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("malformed HTTP status line")?;
    Ok((status, content.to_owned()))
}
