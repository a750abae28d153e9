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
use crate::protocol::version;

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
    /// Answered with HTTP 200: a JSON-RPC "method not found" is what a stateless-era client's
    /// `server/discover` probe falls back on, and some clients treat any HTTP error status as fatal.
    #[error(
        "method not found: server/discover (this server speaks the session-based revisions; send initialize)"
    )]
    DiscoverUnsupported { id: Option<Box<RawValue>> },
    #[error(
        "protocol version {requested} (stateless era) is not served yet; send initialize with a supported version"
    )]
    ModernUnsupported {
        id: Option<Box<RawValue>>,
        requested: String,
    },
}

impl HttpError {
    /// The one mapping from error to response. No `_` arm: a new variant must be placed here.
    pub fn into_response(self) -> Response<ResponseBody> {
        use HttpError as E;
        use StatusCode as S;
        let retry = Some((RETRY_AFTER, RETRY_AFTER_SECS));
        let versions =
            |requested: &str| json!({ "supported": version::LEGACY, "requested": requested });
        let (status, code, data, id, header) = match &self {
            E::Parse(_) => (S::BAD_REQUEST, jsonrpc::PARSE_ERROR, None, None, None),
            E::InvalidMessage(_)
            | E::MissingSession
            | E::BatchNotAllowed
            | E::VersionMismatch { .. }
            | E::Body(BodyError::Read) => {
                (S::BAD_REQUEST, jsonrpc::INVALID_REQUEST, None, None, None)
            }
            E::UnsupportedVersion(requested) => {
                let data = Some(versions(requested));
                (
                    S::BAD_REQUEST,
                    jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
                    data,
                    None,
                    None,
                )
            }
            E::ModernUnsupported { id, requested } => {
                let data = Some(versions(requested));
                let id = id.as_deref();
                (
                    S::BAD_REQUEST,
                    jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
                    data,
                    id,
                    None,
                )
            }
            E::SessionNotFound => (S::NOT_FOUND, jsonrpc::SESSION_NOT_FOUND, None, None, None),
            E::NotFound => (S::NOT_FOUND, jsonrpc::INVALID_REQUEST, None, None, None),
            E::NotAcceptable(_) => (
                S::NOT_ACCEPTABLE,
                jsonrpc::INVALID_REQUEST,
                None,
                None,
                None,
            ),
            E::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                jsonrpc::INVALID_REQUEST,
                None,
                None,
                None,
            ),
            E::Body(BodyError::TooLarge { .. }) => (
                S::PAYLOAD_TOO_LARGE,
                jsonrpc::INVALID_REQUEST,
                None,
                None,
                None,
            ),
            E::MethodNotAllowed { allow } => {
                let allow = Some((ALLOW, *allow));
                (
                    S::METHOD_NOT_ALLOWED,
                    jsonrpc::INVALID_REQUEST,
                    None,
                    None,
                    allow,
                )
            }
            E::ForbiddenOrigin | E::ForbiddenHost => {
                (S::FORBIDDEN, jsonrpc::INVALID_REQUEST, None, None, None)
            }
            E::StreamConflict => (S::CONFLICT, jsonrpc::INVALID_REQUEST, None, None, None),
            E::TooManySessions | E::ShuttingDown => (
                S::SERVICE_UNAVAILABLE,
                jsonrpc::OVERLOADED,
                None,
                None,
                retry,
            ),
            E::TooManyUserSessions => {
                (S::TOO_MANY_REQUESTS, jsonrpc::OVERLOADED, None, None, retry)
            }
            E::SpawnFailed => (S::BAD_GATEWAY, jsonrpc::INTERNAL_ERROR, None, None, None),
            E::DiscoverUnsupported { id } => {
                let data = Some(json!({ "supported": version::LEGACY }));
                (S::OK, jsonrpc::METHOD_NOT_FOUND, data, id.as_deref(), None)
            }
        };
        let error = RpcError {
            code,
            message: self.to_string().into(),
            data,
        };
        let body = error.response(id);
        let mut response = json_response(status, body);
        if let Some((name, value)) = header {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}
