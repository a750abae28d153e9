//! What a child's handle and its tasks (supervisor, stderr drain) share: its pid and session label
//! for logs, the routing state of its requests, and where its unsolicited messages go.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::child::pending::Peer;

/// Where a child's unsolicited messages go (MCP spec "Transports" > "Streamable HTTP" >
/// "Listening for Messages from the Server"): everything it sends outside the requests it serves.
pub trait Unsolicited: Send + Sync {
    /// Takes one message; false when nobody can take it (the caller then drops it).
    fn deliver(&self, line: &Bytes) -> bool;
    /// The child is gone: nothing more will come.
    fn closed(&self);
}

pub struct State {
    pub pid: u32,
    pub peer: Peer,
    /// Session id, for logs (set when a pooled child joins a session).
    label: OnceLock<String>,
    unsolicited: OnceLock<Arc<dyn Unsolicited>>,
}

impl State {
    pub fn new(pid: u32) -> Self {
        Self {
            pid,
            peer: Peer::default(),
            label: OnceLock::new(),
            unsolicited: OnceLock::new(),
        }
    }

    pub fn label(&self) -> &str {
        self.label.get().map(String::as_str).unwrap_or("")
    }

    /// Names the child in logs and sets where its unsolicited messages go (once).
    pub fn attach(&self, label: &str, unsolicited: Arc<dyn Unsolicited>) {
        let _ = self.label.set(label.to_owned());
        let _ = self.unsolicited.set(unsolicited);
    }

    pub fn unsolicited(&self) -> Option<&Arc<dyn Unsolicited>> {
        self.unsolicited.get()
    }
}
