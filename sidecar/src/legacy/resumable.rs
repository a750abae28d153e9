//! Resumable SSE streams of a legacy session (MCP spec "Transports" > "Streamable HTTP" >
//! "Resumability and Redelivery").
//!
//! Each stream (the standalone GET stream, one per POST answered over SSE) numbers its events
//! (`protocol::sse` writes the ids), so a `GET` with `Last-Event-ID` replays exactly that stream's
//! events after it from a bounded buffer. A client
//! connection is a *subscriber*: events are buffered whether or not one is attached, so a dropped
//! connection loses nothing the buffer still holds. A subscriber that cannot keep up is detached
//! (it may resume) instead of blocking the child's stdout reader.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::child::state::Unsolicited;
use crate::protocol::sse::event;

struct State {
    buffer: VecDeque<(u64, Bytes)>,
    next_seq: u64,
    /// Highest seq handed to a subscriber; a plain re-open replays only what is newer.
    delivered: u64,
    subscriber: Option<mpsc::Sender<Bytes>>,
    finished: bool,
    /// One warning per overflow episode, not one per dropped message.
    warned: bool,
}

/// One resumable stream.
pub struct SseStream {
    pub id: u64,
    capacity: usize,
    state: Mutex<State>,
}

impl SseStream {
    pub fn new(id: u64, capacity: usize) -> Self {
        Self {
            id,
            capacity,
            state: Mutex::new(State {
                buffer: VecDeque::new(),
                next_seq: 1,
                delivered: 0,
                subscriber: None,
                finished: false,
                warned: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a message; sends it to the subscriber if one is attached and keeping up.
    pub fn push(&self, json: &[u8]) {
        let mut state = self.state();
        let seq = state.next_seq;
        state.next_seq += 1;
        let ev = event(self.id, seq, json);
        if state.buffer.len() == self.capacity
            && let Some((dropped, _)) = state.buffer.pop_front()
            && dropped > state.delivered
            && !state.warned
        {
            state.warned = true;
            tracing::warn!(
                sse.stream = self.id,
                sse.seq = dropped,
                "sse buffer full: oldest undelivered messages dropped"
            );
        }
        state.buffer.push_back((seq, ev.clone()));
        if let Some(tx) = &state.subscriber {
            match tx.try_send(ev) {
                Ok(()) => state.delivered = seq,
                // Slow or gone: detach; the client resumes from the buffer with Last-Event-ID.
                Err(_) => state.subscriber = None,
            }
        }
    }

    /// No more events; an attached subscriber's response ends once it has drained.
    pub fn finish(&self) {
        let mut state = self.state();
        state.finished = true;
        state.subscriber = None;
    }

    pub fn is_finished(&self) -> bool {
        self.state().finished
    }

    /// Whether a client connection is attached (and has not gone away).
    pub fn has_subscriber(&self) -> bool {
        self.state()
            .subscriber
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Attaches a new subscriber (replacing any previous one): first `prelude` (priming event),
    /// then the buffered events after `after` (or the undelivered ones when `None`), then live
    /// events until the stream finishes.
    pub fn attach(&self, after: Option<u64>, prelude: Option<Bytes>) -> mpsc::Receiver<Bytes> {
        let mut state = self.state();
        let (tx, rx) = mpsc::channel(self.capacity + 2);
        if let Some(p) = prelude {
            let _ = tx.try_send(p);
        }
        state.warned = false;
        let after = after.unwrap_or(state.delivered);
        let mut delivered = state.delivered;
        for (seq, ev) in state.buffer.iter().filter(|(seq, _)| *seq > after) {
            // The channel holds the whole buffer, so this cannot fail.
            if tx.try_send(ev.clone()).is_ok() {
                delivered = delivered.max(*seq);
            }
        }
        state.delivered = delivered;
        state.subscriber = (!state.finished).then_some(tx);
        rx
    }
}

/// A legacy session's standalone stream takes its child's unsolicited messages (MCP spec
/// "Transports" > "Listening for Messages from the Server"), server-to-client requests included.
impl Unsolicited for SseStream {
    fn deliver(&self, line: &Bytes) -> bool {
        self.push(line);
        true
    }

    fn closed(&self) {
        // Ends an open GET stream: the session is over (next request gets 404).
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn drain(rx: &mut mpsc::Receiver<Bytes>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(b) = rx.try_recv() {
            out.push(String::from_utf8(b.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn queued_until_attached_then_live_then_resumed_after_an_id() {
        let s = SseStream::new(0, 3);
        s.push(b"1");
        s.push(b"2");
        let mut rx = s.attach(None, None);
        assert_eq!(
            drain(&mut rx),
            vec!["id: 0-1\ndata: 1\n\n", "id: 0-2\ndata: 2\n\n"]
        );
        s.push(b"3");
        assert_eq!(drain(&mut rx), vec!["id: 0-3\ndata: 3\n\n"]);
        // A plain re-open replays nothing already delivered; Last-Event-ID replays after it.
        let mut again = s.attach(None, None);
        assert!(drain(&mut again).is_empty());
        let mut resumed = s.attach(Some(1), None);
        assert_eq!(drain(&mut resumed).len(), 2);
        // Bounded: the oldest event falls out.
        s.push(b"4");
        let mut all = s.attach(Some(0), None);
        assert_eq!(drain(&mut all).first().unwrap(), "id: 0-2\ndata: 2\n\n");
    }

    #[test]
    fn finishing_closes_the_subscriber_after_the_buffer() {
        let s = SseStream::new(5, 8);
        s.push(b"a");
        s.finish();
        let mut rx = s.attach(Some(0), crate::protocol::sse::prelude("2025-11-25", 5, 1));
        assert_eq!(drain(&mut rx).len(), 2);
        assert!(rx.try_recv().is_err());
        assert!(rx.is_closed());
        assert!(s.is_finished() && !s.has_subscriber());
    }
}
