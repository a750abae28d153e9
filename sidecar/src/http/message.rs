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
/// body would carry them into raw `params`. In JSON a raw CR or LF can only be whitespace between
/// tokens (RFC 8259 §2, §7: inside strings control characters are escaped), so each becomes a
/// space and nothing else changes: ids, numbers and strings keep their spelling (JSON-RPC 2.0 §5:
/// the response id is the request's), and a body that is not JSON stays not JSON. Re-serialising
/// instead loses number spellings and silently drops repeated members (found by the fuzz target
/// `id_remapping`). Public for that target.
pub fn compact(body: Bytes) -> Bytes {
    // `contains` on bytes is a word-at-a-time memchr; nearly every body has no line break.
    if !body.contains(&b'\n') && !body.contains(&b'\r') {
        return body;
    }
    body.iter()
        .map(|b| if matches!(b, b'\n' | b'\r') { b' ' } else { *b })
        .collect::<Vec<u8>>()
        .into()
}

/// The body of a POST, at most `max` bytes (else 413), on one line.
pub async fn read(body: Incoming, max: usize) -> Result<Bytes, HttpError> {
    Ok(compact(body::collect(body, max).await?))
}

/// The messages of a body and whether it was a batch; every one must be a JSON-RPC 2.0 request,
/// notification or response.
pub fn messages(body: &[u8]) -> Result<(Vec<Envelope<'_>>, bool), HttpError> {
    let text = std::str::from_utf8(body).map_err(|e| HttpError::Parse(e.to_string()))?;
    if !text.trim_start().starts_with('[') {
        return one_message(text).map(|env| (vec![env], false));
    }
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

/// A body of one message, parsed once (no batch to split first). What fails is told apart as
/// before: text that is not JSON at all is a parse error, JSON that is no JSON-RPC message an
/// invalid one.
fn one_message(text: &str) -> Result<Envelope<'_>, HttpError> {
    let invalid = HttpError::InvalidMessage("not a JSON-RPC 2.0 message");
    match Envelope::parse(text) {
        Ok(env) if env.kind() != Kind::Invalid => Ok(env),
        Ok(_) => Err(invalid),
        Err(_) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Err(invalid),
            Err(e) => Err(HttpError::Parse(e.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_pretty_printed_body_keeps_its_ids_and_its_repeated_members() {
        let body = "{\r\n \"jsonrpc\": \"2.0\",\n \"id\": 1.50,\n \"method\": \"ping\",\n \"params\": {\"s\": \"a\\/b\", \"n\": 1e2}\n}";
        let compacted = compact(Bytes::from(body));
        assert!(!compacted.iter().any(|b| *b == b'\n' || *b == b'\r'));
        let (parsed, _) = messages(&compacted).unwrap();
        assert_eq!(parsed[0].id.unwrap().get(), "1.50");
        assert_eq!(
            parsed[0].params.unwrap().get(),
            r#"{"s": "a\/b", "n": 1e2}"#
        );
        // A repeated member is refused with or without line breaks (JSON-RPC allows one id).
        let repeated = "{\"jsonrpc\":\"2.0\",\"id\":1,\n\"id\":2,\"method\":\"ping\"}";
        assert!(messages(&compact(Bytes::from(repeated))).is_err());
        assert!(messages(&compact(Bytes::from("{\n nope"))).is_err());
    }
}
