//! The legacy session (MCP 2025-03-26 to 2025-11-25 "Session Management"): the id the gateway
//! gave at `initialize`, the negotiated version, and the client's own `initialize`, kept so that
//! a session the gateway lost (404: a restart, an idle expiry) is started again with it, the
//! client none the wiser. Each new session has a new generation, which ends the standalone stream
//! of the old one.

use bytes::Bytes;
use tokio::sync::{Mutex, watch};

use super::gateway::Gateway;
use super::stdio::Out;

/// What the relay and the standalone stream share: the gateway, stdout and the session.
pub struct Link {
    pub gw: Gateway,
    pub out: Out,
    pub session: Mutex<Session>,
    /// The session's generation, watched by the standalone stream.
    pub generation: watch::Sender<u64>,
}

#[derive(Default, Clone)]
pub struct Session {
    pub id: Option<String>,
    pub version: Option<String>,
    /// The client's `initialize` request, as sent.
    pub initialize: Option<Bytes>,
    /// The client sent `notifications/initialized` (so a new session gets it too).
    pub initialized: bool,
    pub generation: u64,
}

/// The JSON-RPC notification that completes initialization (MCP "Lifecycle" > "Initialization").
pub const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
