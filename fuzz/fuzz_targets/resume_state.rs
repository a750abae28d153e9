//! What clients echo back to resume: SSE event ids (`Last-Event-ID`, MCP spec "Transports" >
//! "Streamable HTTP" > "Resumability and Redelivery") and the `requestState` of multi-round-trip
//! requests (MCP 2026-07-28 "Multi Round-Trip Requests").
//!
//! Events the sidecar writes are read back by a reference SSE parser (WHATWG HTML "Server-sent
//! events" > "Event stream interpretation") and must give the same id, data and retry; an id
//! parses back to its stream and position. Any `requestState` text is opened without panicking;
//! one that opens must be exactly the canonical state for its claims (no second spelling of a
//! state passes its integrity check), and sealed claims open only for their binding and time.
//!
//! Input: 16 bytes of stream and position, then text: its first line is a JSON payload for an
//! event, the rest a `Last-Event-ID` value and a `requestState`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidecar::protocol::request_state::{self, Binding, Claims, StateError};
use sidecar::protocol::sse;

const KEY: &[u8] = b"fuzz requestState key, 32 bytes!";
const BINDING: Binding<'static> = Binding {
    user: "oidc:alice",
    method: "tools/call",
    name: "ask",
};

/// One dispatched event of a reference SSE parser: (id, data, retry).
#[derive(Debug, Default, PartialEq)]
struct Event {
    id: Option<String>,
    data: Option<String>,
    retry: Option<u64>,
}

fn parse_stream(stream: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let mut current = Event::default();
    let mut data: Option<String> = None;
    for line in stream.split('\n') {
        if line.is_empty() {
            if let Some(d) = data.take() {
                current.data = Some(d);
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => {
                let d = data.get_or_insert_with(String::new);
                if !d.is_empty() {
                    d.push('\n');
                }
                d.push_str(value);
            }
            "id" if !value.contains('\0') => current.id = Some(value.to_owned()),
            "retry" if value.bytes().all(|b| b.is_ascii_digit()) => {
                current.retry = value.parse().ok()
            }
            _ => {}
        }
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((head, rest)) = input.split_at_checked(16) else {
        return;
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(&head[..8]);
    let stream = u64::from_le_bytes(n);
    n.copy_from_slice(&head[8..]);
    let seq = u64::from_le_bytes(n);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (payload, rest) = text.split_once('\n').unwrap_or((text, ""));
    let (last_event_id, state) = rest.split_once('\n').unwrap_or((rest, rest));

    // Event ids round-trip.
    assert_eq!(
        sse::parse_event_id(&format!("{stream}-{seq}")),
        Some((stream, seq))
    );
    if let Some((s, q)) = sse::parse_event_id(last_event_id) {
        assert_eq!(sse::parse_event_id(&format!("{s}-{q}")), Some((s, q)));
    }

    // Events as a client reads them (the payload is one stdio line, so it has no line break).
    if !payload.contains('\r') && serde_json::from_str::<serde_json::Value>(payload).is_ok() {
        let written = sse::event(stream, seq, payload.as_bytes());
        let events = parse_stream(std::str::from_utf8(&written).unwrap_or(""));
        assert_eq!(
            events,
            vec![Event {
                id: Some(format!("{stream}-{seq}")),
                data: Some(payload.to_owned()),
                retry: None
            }]
        );
        let plain = sse::plain_event(payload.as_bytes());
        let events = parse_stream(std::str::from_utf8(&plain).unwrap_or(""));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.as_deref(), Some(payload));
    }
    if let Some(prelude) = sse::prelude("2025-11-25", stream, seq) {
        let events = parse_stream(std::str::from_utf8(&prelude).unwrap_or(""));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, Some(format!("{stream}-0")));
        assert_eq!(events[0].retry, Some(seq));
        assert_eq!(events[0].data.as_deref(), Some(""));
    }

    // requestState: whatever a client sends is refused cleanly or is the canonical state.
    if let Ok(claims) = request_state::open(KEY, state, BINDING, 0) {
        assert_eq!(
            request_state::seal(KEY, &claims, BINDING),
            state,
            "only the canonical spelling of a state opens"
        );
    }
    // Sealed claims open for their binding until they expire, and for nobody else.
    let held: String = last_event_id
        .bytes()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let held = if held.is_empty() {
        "0".to_owned()
    } else {
        held
    };
    let claims = Claims {
        held: held.clone(),
        round: (seq >> 32) as u32,
        expires: stream,
    };
    let sealed = request_state::seal(KEY, &claims, BINDING);
    assert_eq!(
        request_state::open(KEY, &sealed, BINDING, stream),
        Ok(claims.clone())
    );
    if let Some(later) = stream.checked_add(1) {
        assert_eq!(
            request_state::open(KEY, &sealed, BINDING, later),
            Err(StateError::Expired { held: held.clone() })
        );
    }
    let other = Binding {
        user: payload,
        ..BINDING
    };
    if other.user != BINDING.user {
        assert_eq!(
            request_state::open(KEY, &sealed, other, 0),
            Err(StateError::Forged { held })
        );
    }
});
