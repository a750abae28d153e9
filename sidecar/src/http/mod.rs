//! The HTTP side: server loop, router, bodies, SSE bodies and responses.

use hyper::Request;

pub mod body;
pub mod listener;
pub mod response;
pub mod route;
pub mod server;
pub mod sse;

/// A request header as text (absent, or not visible ASCII: `None`).
pub fn header<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
