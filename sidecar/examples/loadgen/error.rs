//! Errors of the load generator. A request that fails is counted by its [`Error::class`] and the
//! run goes on; only set-up failures (bad arguments, a target that never answers) end the program.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("usage: {0}")]
    Usage(String),
    #[error("invalid url {0}")]
    Url(String),
    #[error("connect: {0}")]
    Connect(String),
    #[error("http status {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected content type {0:?}")]
    ContentType(String),
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("answer for id {got} to request {sent}")]
    IdMismatch { sent: String, got: String },
    #[error("json-rpc error: {0}")]
    JsonRpc(String),
    #[error("wrong result: {0}")]
    WrongResult(String),
    #[error("event stream ended without our response (last event id {0:?})")]
    StreamCut(Option<String>),
    #[error("request {0} answered twice")]
    Duplicate(u64),
    #[error("a response on the standalone stream: {0}")]
    Stray(String),
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("the server exited before it answered")]
    Exited,
    #[error("stdio child: {0}")]
    Child(String),
    #[error("pass criteria not met: {0}")]
    Failed(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Stable short name used to count errors by kind in the report.
    pub fn class(&self) -> String {
        match self {
            Error::Usage(_) => "usage".into(),
            Error::Url(_) => "url".into(),
            Error::Connect(_) => "connect".into(),
            Error::Status { status, .. } => format!("http_{status}"),
            Error::ContentType(_) => "content_type".into(),
            Error::Malformed(_) => "malformed".into(),
            Error::IdMismatch { .. } => "id_mismatch".into(),
            Error::JsonRpc(_) => "jsonrpc_error".into(),
            Error::WrongResult(_) => "wrong_result".into(),
            Error::StreamCut(_) => "stream_cut".into(),
            Error::Duplicate(_) => "duplicate".into(),
            Error::Stray(_) => "stray_response".into(),
            Error::Timeout(_) => "timeout".into(),
            Error::Exited => "exited".into(),
            Error::Child(_) => "child".into(),
            Error::Failed(_) => "failed".into(),
            Error::Io(_) => "io".into(),
            Error::Json(_) => "json".into(),
        }
    }
}
