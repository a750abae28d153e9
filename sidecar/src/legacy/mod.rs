//! The session-based revisions (2025-03-26, 2025-06-18, 2025-11-25; "legacy era"): `initialize`
//! starts a session with a child of its own (or a virtual one over the shared pool), later requests
//! carry `Mcp-Session-Id`, answers come as JSON or resumable SSE streams (MCP spec "Transports" >
//! "Streamable HTTP").

pub mod delete;
pub mod exchange;
pub mod initialize;
pub mod post;
pub mod resumable;
pub mod session;
pub mod sessions;
pub mod stream;
