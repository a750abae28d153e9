//! The HTTP side: server loop, router, bodies, header rules and error responses.

pub mod body;
pub mod headers;
pub mod listener;
pub mod response;
pub mod route;
pub mod server;
