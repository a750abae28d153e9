//! What can go wrong on the client side, typed where it happens and turned into the JSON-RPC
//! error the stdio client sees in one place (`ConnectError::rpc`).

use crate::protocol::jsonrpc::{self, RpcError};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The gateway could not be reached or the connection broke.
    #[error("the gateway is unreachable: {0}")]
    Unreachable(String),
    /// The gateway answered with an error status and no JSON-RPC message.
    #[error("the gateway answered {status}: {detail}")]
    Status { status: u16, detail: String },
    /// The session is gone and could not be started again.
    #[error("the session ended and could not be restarted: {0}")]
    SessionLost(String),
    /// An SSE stream ended before the response to the request.
    #[error("the answer stream ended before the response: {0}")]
    StreamEnded(String),
    /// A message of the gateway broke the protocol (bad JSON, an event over the size limit).
    #[error("the gateway broke the protocol: {0}")]
    Protocol(String),
    /// Logging in failed: discovery, registration, the user's answer, the token endpoint.
    #[error("login failed: {0}")]
    Login(String),
    /// The client's message is not acceptable (answered as the gateway would).
    #[error("{}", .0.message)]
    Invalid(RpcError),
    /// The token file cannot be used (permissions, unreadable, unwritable).
    #[error("token file: {0}")]
    TokenFile(String),
}

impl ConnectError {
    /// The JSON-RPC error for a request that failed this way (MCP spec "Base Protocol":
    /// implementation-defined server errors are -32000 to -32099).
    pub fn rpc(&self) -> RpcError {
        if let ConnectError::Invalid(e) = self {
            return e.clone();
        }
        let code = match self {
            ConnectError::Unreachable(_)
            | ConnectError::SessionLost(_)
            | ConnectError::StreamEnded(_) => jsonrpc::SERVER_GONE,
            ConnectError::Status { .. } | ConnectError::Protocol(_) => jsonrpc::INTERNAL_ERROR,
            ConnectError::Login(_) | ConnectError::TokenFile(_) => UNAUTHORIZED,
            ConnectError::Invalid(e) => e.code,
        };
        RpcError::new(code, self.to_string())
    }
}

/// The request could not be authorized (no usable token and no login).
pub const UNAUTHORIZED: i64 = -32003;

impl From<reqwest::Error> for ConnectError {
    fn from(e: reqwest::Error) -> Self {
        // The chain carries the cause (refused, reset, DNS); the URL is ours and safe to show.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        ConnectError::Unreachable(text)
    }
}
