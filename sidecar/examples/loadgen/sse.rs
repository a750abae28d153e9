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

    fn field(&mut self, line: &[u8], events: &mut Vec<String>) {
        if line.is_empty() {
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
        if name == b"data" {
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
    }
}
