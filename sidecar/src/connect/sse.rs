//! Reading Server-Sent Events as a client (WHATWG HTML "Server-sent events" > "Event stream
//! interpretation"): lines end with LF, CRLF or CR; `data` lines are joined with LF; `id` sets
//! the last event id even for an event without data (MCP 2025-11-25 priming events); `retry`
//! sets the reconnection delay; comments (`:`) are keep-alives. Pure: bytes in, events out.

use bytes::{Buf, BytesMut};

/// One dispatched event (only events with data are dispatched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub data: String,
}

/// Incremental parser with a size limit for one event.
#[derive(Debug)]
pub struct Parser {
    buf: BytesMut,
    data: String,
    has_data: bool,
    /// The id field of the event being read (WHATWG "last event ID buffer").
    id_buf: Option<String>,
    /// The last event id seen (`Last-Event-ID` when resuming).
    pub last_id: Option<String>,
    /// The reconnection delay the server asked for, in milliseconds.
    pub retry_ms: Option<u64>,
    max: usize,
}

/// An event or line longer than the limit.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLong(pub usize);

impl Parser {
    pub fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            data: String::new(),
            has_data: false,
            id_buf: None,
            last_id: None,
            retry_ms: None,
            max,
        }
    }

    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, TooLong> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n' || *b == b'\r') {
            // CRLF is one line end; a CR at the very end may be the first half of one.
            let crlf = self.buf[end] == b'\r' && self.buf.get(end + 1) == Some(&b'\n');
            if self.buf[end] == b'\r' && end + 1 == self.buf.len() {
                break;
            }
            let line = self.buf.split_to(end);
            self.buf.advance(if crlf { 2 } else { 1 });
            if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                out.push(event);
            }
        }
        if self.buf.len() + self.data.len() > self.max {
            return Err(TooLong(self.max));
        }
        Ok(out)
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            // Dispatch sets the last event id, with or without data.
            if self.id_buf.is_some() {
                self.last_id.clone_from(&self.id_buf);
            }
            let had = std::mem::take(&mut self.has_data);
            let data = std::mem::take(&mut self.data);
            return had.then_some(Event { data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // An id with NUL is ignored (WHATWG: "If the field value does not contain U+0000").
            "id" if !value.contains('\0') => self.id_buf = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry_ms = Some(ms);
                }
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn events_ids_retry_and_comments() {
        let mut p = Parser::new(1024);
        let events = p
            .feed(b": keep-alive\n\nid: 1-0\nretry: 500\ndata: \n\nid: 1-1\ndata: {\"a\":")
            .unwrap();
        // The priming event has empty data: it dispatches an empty string (data line present).
        assert_eq!(
            events,
            vec![Event {
                data: String::new()
            }]
        );
        assert_eq!(p.last_id.as_deref(), Some("1-0"));
        assert_eq!(p.retry_ms, Some(500));
        let events = p.feed(b"1}\r\n\r\ndata:x\rdata:y\r").unwrap();
        assert_eq!(events[0].data, "{\"a\":1}");
        assert_eq!(p.last_id.as_deref(), Some("1-1"));
        let events = p.feed(b"\n\n").unwrap();
        assert_eq!(
            events,
            vec![Event {
                data: "x\ny".into()
            }]
        );
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut p = Parser::new(16);
        assert_eq!(p.feed(&[b'a'; 17]), Err(TooLong(16)));
        let mut p = Parser::new(16);
        assert!(p.feed(b"data: 0123456789\n").is_ok());
        assert_eq!(p.feed(b"data: 0123456789\n"), Err(TooLong(16)));
    }
}
