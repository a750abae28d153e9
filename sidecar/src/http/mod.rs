//! The HTTP side: server loop, router, bodies, SSE bodies and responses.

use hyper::Request;

use crate::error::HttpError;
use crate::protocol::headers::Accepts;

pub mod body;
pub mod listener;
pub mod message;
pub mod response;
pub mod route;
pub mod server;
pub mod sse;

/// The `Accept` rule for a POST that carries requests: an answer must be possible in JSON or SSE
/// (MCP spec "Transports" > "Sending Messages to the Server"; otherwise 406).
pub fn answerable(accepts: Accepts) -> Result<Accepts, HttpError> {
    if accepts.any() {
        Ok(accepts)
    } else {
        Err(HttpError::NotAcceptable(
            "Accept must allow application/json or text/event-stream",
        ))
    }
}

/// A request header as text (absent, or not visible ASCII: `None`).
pub fn header<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
