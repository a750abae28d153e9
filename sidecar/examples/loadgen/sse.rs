//! Incremental `text/event-stream` parser: body chunks in, the `data` of each complete event out.
//!
//! Follows the WHATWG HTML "Server-sent events" parsing rules that matter for MCP (Streamable HTTP,
//! MCP 2025-06-18 basic/transports): lines end in LF or CRLF, `:` starts a comment (keep-alives),
//! several `data:` lines join with LF, a blank line dispatches the event, an event without data
//! (the priming event of MCP 2025-11-25) dispatches nothing.

#[derive(Default)]
pub struct SseParser {
    /// Bytes of the line not yet terminated.
    line: Vec<u8>,
    /// Data of the event being built.
    data: String,
    has_data: bool,
    /// The `id` field of the event being built.
    id: Option<String>,
    /// The id of the last event dispatched, priming events included: what a client sends as
    /// `Last-Event-ID` to resume (WHATWG "last event ID buffer").
    last_event_id: Option<String>,
    /// The id of the first event with one (a stream's priming event).
    first_event_id: Option<String>,
}

impl SseParser {
    /// Feeds one body chunk; the data of every event it completes is appended to `events`.
    pub fn push(&mut self, chunk: &[u8], events: &mut Vec<String>) {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..pos]);
            rest = &rest[pos + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.field(&line, events);
        }
        self.line.extend_from_slice(rest);
    }

    /// The id of the last complete event (None before any event with an id).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The id of the first complete event that had one.
    pub fn first_event_id(&self) -> Option<&str> {
        self.first_event_id.as_deref()
    }

    fn field(&mut self, line: &[u8], events: &mut Vec<String>) {
        if line.is_empty() {
            if let Some(id) = self.id.take() {
                if self.first_event_id.is_none() {
                    self.first_event_id = Some(id.clone());
                }
                self.last_event_id = Some(id);
            }
            // An empty data buffer carries no message (priming events, bare ids).
            if self.has_data && !self.data.is_empty() {
                events.push(std::mem::take(&mut self.data));
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &line[line.len()..]),
        };
        if name == b"id" {
            self.id = Some(String::from_utf8_lossy(value).into_owned());
        } else if name == b"data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(&String::from_utf8_lossy(value));
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_priming_event_skipped() {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        parser.push(b"id: 1\ndata:\n\n: keep-alive\n\nid: 2\r\nda", &mut events);
        assert!(events.is_empty());
        parser.push(b"ta: {\"a\":\r\ndata: 1}\r\n\r\n", &mut events);
        assert_eq!(events, vec!["{\"a\":\n1}".to_string()]);
        assert_eq!(parser.last_event_id(), Some("2"));
    }

    #[test]
    fn the_priming_event_sets_the_id_to_resume_from() {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        parser.push(b"id: 4-0\nretry: 1000\ndata: \n\n", &mut events);
        assert!(events.is_empty());
        assert_eq!(parser.last_event_id(), Some("4-0"));
        parser.push(b"id: 4-1\ndata: {}\n\n", &mut events);
        assert_eq!(parser.last_event_id(), Some("4-1"));
        assert_eq!(parser.first_event_id(), Some("4-0"));
    }
}
