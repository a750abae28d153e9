//! `sidecar`: serves one stdio MCP server as a Streamable HTTP endpoint behind an edge that does
//! OAuth, for clients of every revision on one URL: the session-based ones (MCP 2025-03-26,
//! 2025-06-18, 2025-11-25; one child per session) and the stateless one (2026-07-28).
//!
//! Modules by protocol layer: `http` (server, router, bodies), `protocol` (the wire format, pure),
//! `child` (one stdio server process), `pool` (where children come from), `legacy` (the
//! session-based revisions), `modern` (the stateless revision); `app` wires them together. `connect` is the client side:
//! a stdio MCP client bridged to a gateway URL, with OAuth.

pub mod app;
pub mod child;
pub mod clock;
pub mod config;
pub mod connect;
pub mod error;
pub mod health;
pub mod http;
pub mod legacy;
pub mod metrics;
pub mod modern;
pub mod pool;
pub mod protocol;
pub mod shutdown;
pub mod trace;
