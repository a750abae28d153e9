//! A POST to the MCP endpoint as JSON-RPC: the body is size-checked and collected, kept as one
//! line (stdio framing forbids embedded newlines), and split into its messages (MCP spec
//! "Transports" > "Sending Messages to the Server": one message, or a batch in 2025-03-26).

use std::net::SocketAddr;

use bytes::Bytes;
use hyper::body::Incoming;

use crate::error::HttpError;
use crate::http::body;
use crate::protocol::headers::Accepts;
use crate::protocol::jsonrpc::{self, Envelope, Kind};

/// A POST read and split into its messages: what the handler of either era takes.
pub struct Post<'a> {
    pub messages: Vec<Envelope<'a>>,
    pub batch: bool,
    pub accepts: Accepts,
    /// `X-User-Id` set by the edge ("" when absent).
    pub user: &'a str,
    /// The local address the request arrived at (a new session's owner, `cluster`).
    pub via: SocketAddr,
}

/// JSON text without raw line breaks: stdio framing forbids embedded newlines, and a pretty-printed
/// body would carry them into raw `params`. Re-serialised only when needed.
fn compact(body: Bytes) -> Result<Bytes, HttpError> {
    if !body.iter().any(|b| *b == b'\n' || *b == b'\r') {
        return Ok(body);
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| HttpError::Parse(e.to_string()))?;
    Ok(Bytes::from(value.to_string()))
}

/// The body of a POST, at most `max` bytes (else 413), on one line.
pub async fn read(body: Incoming, max: usize) -> Result<Bytes, HttpError> {
    compact(body::collect(body, max).await?)
}

/// The messages of a body and whether it was a batch; every one must be a JSON-RPC 2.0 request,
/// notification or response.
pub fn messages(body: &[u8]) -> Result<(Vec<Envelope<'_>>, bool), HttpError> {
    let text = std::str::from_utf8(body).map_err(|e| HttpError::Parse(e.to_string()))?;
    let (raw, batch) = jsonrpc::split_body(text).map_err(|e| HttpError::Parse(e.to_string()))?;
    if raw.is_empty() {
        return Err(HttpError::InvalidMessage("empty batch"));
    }
    let messages = raw
        .iter()
        .map(|r| {
            Envelope::parse(r.get())
                .ok()
                .filter(|e| e.kind() != Kind::Invalid)
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(HttpError::InvalidMessage("not a JSON-RPC 2.0 message"))?;
    Ok((messages, batch))
}
