//! The MCP wire protocol as pure functions (no I/O): JSON-RPC envelopes and id remapping, stdio
//! framing, SSE events and `Last-Event-ID`, the header rules and the protocol revisions. Callable
//! from fuzz targets as they are.

pub mod bridge;
pub mod framing;
pub mod headers;
pub mod jsonrpc;
pub mod members;
pub mod modern;
pub mod param_headers;
pub mod request_state;
pub mod sse;
pub mod version;
