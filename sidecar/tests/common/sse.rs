//! A small reader of `text/event-stream` bodies (WHATWG HTML §9.2 "Server-sent events"): fields
//! `id`, `event`, `data` (multi-line joined by `\n`), `retry`; comment lines (`:`) are counted
//! because the sidecar's keep-alives are comments (`SIDECAR_KEEPALIVE_SECS` in
//! docs/api/configuration.md).

use std::time::Duration;

use serde_json::Value;

/// Upper bound for the next event of a stream.
pub const EVENT_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub retry: Option<u64>,
}

impl SseEvent {
    /// The JSON-RPC message in `data` (panics when `data` is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.data))
    }
}

pub struct SseStream {
    resp: reqwest::Response,
    buf: Vec<u8>,
    ended: bool,
    /// Bytes of `buf` already searched for an event boundary.
    scanned: usize,
    /// Comment lines seen so far.
    pub comments: usize,
}

impl SseStream {
    pub fn new(resp: reqwest::Response) -> Self {
        Self {
            resp,
            buf: Vec::new(),
            ended: false,
            scanned: 0,
            comments: 0,
        }
    }

    /// The next event (comments skipped), `None` when the body ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(block) = self.take_block() {
                if let Some(event) = self.parse_block(&block) {
                    return Some(event);
                }
                continue;
            }
            if self.ended {
                return None;
            }
            match self.resp.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) | Err(_) => {
                    self.ended = true;
                    if !self.buf.is_empty() {
                        self.buf.extend_from_slice(b"\n\n");
                    }
                }
            }
        }
    }

    /// The next event within `limit`, failing the test on a hang.
    pub async fn next_within(&mut self, limit: Duration, what: &str) -> Option<SseEvent> {
        super::within(limit, what, self.next()).await
    }

    /// The next progress notification, skipping the priming event (no data) and anything else.
    pub async fn next_progress(&mut self) -> SseEvent {
        loop {
            let event = self
                .next_within(EVENT_WITHIN, "a progress notification")
                .await
                .expect("the stream ended before a progress notification");
            if !event.data.is_empty() && event.json()["method"] == "notifications/progress" {
                return event;
            }
        }
    }

    /// Read a request's stream to its end: (progress values seen, the response to `id`). Every
    /// event has an id (resumable), and every progress notification carries `token`.
    pub async fn progress_and_response(mut self, token: &str, id: u64) -> (Vec<f64>, Value) {
        let mut progress = Vec::new();
        while let Some(event) = self.next_within(EVENT_WITHIN, "progress stream").await {
            assert!(event.id.is_some(), "every event has an id: {event:?}");
            if event.data.is_empty() {
                continue;
            }
            let message = event.json();
            if message["method"] == "notifications/progress" {
                assert_eq!(
                    message["params"]["progressToken"], token,
                    "progress of another request: {message}"
                );
                progress.push(message["params"]["progress"].as_f64().unwrap());
            } else if message["id"] == id {
                return (progress, message);
            }
        }
        panic!("stream of request {id} ended without its response");
    }

    /// Wait (bounded) until at least `n` comment lines arrived, without consuming events beyond.
    pub async fn wait_comments(&mut self, n: usize, limit: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        super::within(limit, "keep-alive comments", async {
            while self.comments < n {
                if let Some(block) = self.take_block() {
                    if let Some(event) = self.parse_block(&block) {
                        events.push(event);
                    }
                    continue;
                }
                match self.resp.chunk().await {
                    Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                    _ => panic!("stream ended before {n} comments"),
                }
            }
        })
        .await;
        events
    }

    /// Cut the next event block (up to a blank line, LF endings as the sidecar writes them) off the
    /// buffer; scans only new bytes so that a 10 MiB event arriving in small chunks stays linear.
    fn take_block(&mut self) -> Option<String> {
        let from = self.scanned.saturating_sub(1);
        let Some(i) = self.buf[from..].windows(2).position(|w| w == b"\n\n") else {
            self.scanned = self.buf.len();
            return None;
        };
        let rest = self.buf.split_off(from + i);
        let block = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf = rest[2..].to_vec();
        self.scanned = 0;
        Some(block)
    }

    fn parse_block(&mut self, block: &str) -> Option<SseEvent> {
        let mut event = SseEvent::default();
        let mut data: Vec<&str> = Vec::new();
        let mut any = false;
        for line in block.lines() {
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            let (field, value) = line
                .split_once(':')
                .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
            any = true;
            match field {
                "id" => event.id = Some(value.to_string()),
                "event" => event.event = Some(value.to_string()),
                "data" => data.push(value),
                "retry" => event.retry = value.parse().ok(),
                _ => {}
            }
        }
        event.data = data.join("\n");
        any.then_some(event)
    }
}
