//! Every error of the HTTP boundary, mapped to a status, headers and a JSON-RPC error body in one
//! exhaustive match (MCP spec "Transports" > "Streamable HTTP"; JSON-RPC 2.0 §5.1).

use hyper::Response;
use hyper::StatusCode;
use hyper::header::{ALLOW, HeaderValue, RETRY_AFTER};
use serde_json::json;
use serde_json::value::RawValue;

use crate::http::body::{BodyError, ResponseBody};
use crate::http::response::json_response;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::{modern, version};

/// Seconds a client is told to wait when a session limit is reached.
const RETRY_AFTER_SECS: &str = "5";

/// Everything the MCP endpoint refuses, with the reason in the message (lowercase, no period).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("invalid request: {0}")]
    InvalidMessage(&'static str),
    #[error("bad request: missing Mcp-Session-Id header")]
    MissingSession,
    #[error("session not found")]
    SessionNotFound,
    /// The session lives on another replica that did not answer (MCP spec "Transports" >
    /// "Session Management": 404 makes the client start a new session).
    #[error("session not found: {0}")]
    OwnerUnreachable(#[from] crate::cluster::forward::Unreachable),
    #[error("unsupported protocol version {0:?}")]
    UnsupportedVersion(String),
    #[error("MCP-Protocol-Version {header} does not match the negotiated version {negotiated}")]
    VersionMismatch { header: String, negotiated: String },
    #[error("JSON-RPC batches are only allowed in sessions that negotiated 2025-03-26")]
    BatchNotAllowed,
    #[error("not acceptable: {0}")]
    NotAcceptable(&'static str),
    #[error("unsupported media type: Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("not found")]
    NotFound,
    #[error("forbidden: Origin not allowed")]
    ForbiddenOrigin,
    #[error("forbidden: Host not allowed")]
    ForbiddenHost,
    #[error("conflict: a standalone SSE stream is already open for this session")]
    StreamConflict,
    #[error("too many sessions, retry later")]
    TooManySessions,
    #[error("too many sessions for this user, end one or retry later")]
    TooManyUserSessions,
    #[error("the mcp server could not be started")]
    SpawnFailed,
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A stateless request refused with a JSON-RPC error; the HTTP status follows the error
    /// code (MCP 2026-07-28 "Transports" > "Error responses").
    #[error("{}", error.message)]
    Stateless {
        id: Option<Box<RawValue>>,
        error: RpcError,
    },
}

impl HttpError {
    /// The one mapping from error to response. No `_` arm: a new variant must be placed here.
    pub fn into_response(self) -> Response<ResponseBody> {
        use HttpError as E;
        use StatusCode as S;
        let retry = Some((RETRY_AFTER, RETRY_AFTER_SECS));
        let invalid = jsonrpc::INVALID_REQUEST;
        let (status, code, data, header) = match &self {
            E::Parse(_) => (S::BAD_REQUEST, jsonrpc::PARSE_ERROR, None, None),
            E::InvalidMessage(_)
            | E::MissingSession
            | E::BatchNotAllowed
            | E::VersionMismatch { .. }
            | E::Body(BodyError::Read) => (S::BAD_REQUEST, invalid, None, None),
            E::UnsupportedVersion(requested) => {
                let data = json!({ "supported": version::LEGACY, "requested": requested });
                let code = jsonrpc::UNSUPPORTED_PROTOCOL_VERSION;
                (S::BAD_REQUEST, code, Some(data), None)
            }
            E::SessionNotFound | E::OwnerUnreachable(_) => {
                (S::NOT_FOUND, jsonrpc::SESSION_NOT_FOUND, None, None)
            }
            E::NotFound => (S::NOT_FOUND, invalid, None, None),
            E::NotAcceptable(_) => (S::NOT_ACCEPTABLE, invalid, None, None),
            E::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, invalid, None, None),
            E::Body(BodyError::TooLarge { .. }) => (S::PAYLOAD_TOO_LARGE, invalid, None, None),
            E::MethodNotAllowed { allow } => {
                (S::METHOD_NOT_ALLOWED, invalid, None, Some((ALLOW, *allow)))
            }
            E::ForbiddenOrigin | E::ForbiddenHost => (S::FORBIDDEN, invalid, None, None),
            E::StreamConflict => (S::CONFLICT, invalid, None, None),
            E::TooManySessions | E::ShuttingDown => {
                (S::SERVICE_UNAVAILABLE, jsonrpc::OVERLOADED, None, retry)
            }
            E::TooManyUserSessions => (S::TOO_MANY_REQUESTS, jsonrpc::OVERLOADED, None, retry),
            E::SpawnFailed => (S::BAD_GATEWAY, jsonrpc::INTERNAL_ERROR, None, None),
            E::Stateless { id, error } => {
                let status = S::from_u16(modern::http_status(error.code)).unwrap_or(S::OK);
                return json_response(status, error.response(id.as_deref()));
            }
        };
        let error = RpcError {
            code,
            message: self.to_string().into(),
            data,
        };
        let mut response = json_response(status, error.response(None));
        if let Some((name, value)) = header {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}
