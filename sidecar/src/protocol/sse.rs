//! Server-Sent Events on the wire (WHATWG HTML "Server-sent events"; MCP spec "Transports" >
//! "Streamable HTTP" > "Resumability and Redelivery"): how events and event ids are written and
//! read. Pure: no I/O.
//!
//! Event ids are `<stream>-<seq>`: the stream (0 = a session's standalone GET stream, 1.. = one per
//! POST answered over SSE) and the event's number in it, so `Last-Event-ID` names exactly one
//! stream and a position in it.

use bytes::{BufMut, Bytes, BytesMut};

/// The standalone GET stream of a session.
pub const STANDALONE: u64 = 0;

/// The comment sent when a stream has been quiet for the keep-alive interval.
pub const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// Parses an event id `<stream>-<seq>` (the value of `Last-Event-ID`).
pub fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (stream, seq) = id.trim().split_once('-')?;
    Some((stream.parse().ok()?, seq.parse().ok()?))
}

/// One SSE `message` event carrying a JSON-RPC message, with its resumable id.
pub fn event(stream: u64, seq: u64, json: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(json.len() + 32);
    out.put_slice(format!("id: {stream}-{seq}\ndata: ").as_bytes());
    out.put_slice(json);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// One SSE event without an id, for streams that are not resumed (the stateless revision's).
pub fn plain_event(json: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(json.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(json);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// The priming event (MCP 2025-11-25): an id and empty data, so the client can resume even before
/// the first message, plus the reconnection delay (`retry`, WHATWG HTML "Server-sent events").
fn priming_event(stream: u64, retry_ms: u64) -> Bytes {
    Bytes::from(format!("id: {stream}-0\nretry: {retry_ms}\ndata: \n\n"))
}

/// What a stream of a session that negotiated `version` starts with: the priming event from
/// 2025-11-25 on, nothing before (older SDK clients try to parse empty data as JSON, so the
/// TypeScript SDK only sends it from 2025-11-25 on as well).
pub fn prelude(version: &str, stream: u64, retry_ms: u64) -> Option<Bytes> {
    (version >= "2025-11-25").then(|| priming_event(stream, retry_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip() {
        assert_eq!(parse_event_id("7-12"), Some((7, 12)));
        assert_eq!(parse_event_id(" 0-0 "), Some((0, 0)));
        assert_eq!(parse_event_id("x-1"), None);
        assert_eq!(parse_event_id("12"), None);
        assert_eq!(&event(3, 4, b"{}")[..], b"id: 3-4\ndata: {}\n\n");
        assert_eq!(&plain_event(b"{}")[..], b"data: {}\n\n");
    }

    #[test]
    fn priming_only_from_2025_11_25() {
        assert_eq!(
            prelude("2025-11-25", 3, 500).as_deref(),
            Some(&b"id: 3-0\nretry: 500\ndata: \n\n"[..])
        );
        assert_eq!(prelude("2025-06-18", 3, 500), None);
    }
}
