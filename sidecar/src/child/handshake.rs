//! The sidecar's own `initialize` handshake with a child (MCP spec "Lifecycle" >
//! "Initialization"), for the children it serves itself: the health probe's (no client
//! capabilities: it never sends server-to-client requests) and the pools' (the capabilities the
//! pool's clients may have).

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::child::{Child, ChildSpec};
use crate::protocol::jsonrpc::{self, Envelope};
use crate::protocol::version;

/// Spawns a child and initializes it on the sidecar's own behalf without client capabilities
/// (the health probe): returns the child and its `initialize` result.
pub async fn spawn_initialized(
    spec: &Arc<ChildSpec>,
    timeout: Duration,
) -> Result<(Arc<Child>, Box<RawValue>), String> {
    let child = Child::spawn_off_runtime(spec.clone())
        .await
        .map_err(|e| format!("spawn failed: {e}"))?;
    let result = initialize(&child, &serde_json::json!({}), timeout).await?;
    Ok((child, result))
}

/// Initializes a spawned child on the sidecar's own behalf, declaring `capabilities` as the
/// client's; returns its `initialize` result once `notifications/initialized` is sent.
pub async fn initialize(
    child: &Child,
    capabilities: &serde_json::Value,
    timeout: Duration,
) -> Result<Box<RawValue>, String> {
    let params = serde_json::json!({
        "protocolVersion": version::LEGACY[2],
        "capabilities": capabilities,
        "clientInfo": { "name": "sidecar", "version": env!("CARGO_PKG_VERSION") },
    });
    let params = RawValue::from_string(params.to_string()).map_err(|e| e.to_string())?;
    let answer = child
        .call(RawValue::NULL, "initialize", Some(&params), 1, timeout)
        .await;
    let result = result_of(&answer)?;
    child
        .send(jsonrpc::notification_line(
            "notifications/initialized",
            None,
        ))
        .await;
    Ok(result)
}

/// The `result` of a response, or the error as text.
pub fn result_of(response: &[u8]) -> Result<Box<RawValue>, String> {
    let text = std::str::from_utf8(response).map_err(|e| e.to_string())?;
    let env = Envelope::parse(text).map_err(|e| e.to_string())?;
    match (env.result, env.error) {
        (Some(result), _) => Ok(result.to_owned()),
        (None, Some(error)) => Err(error.get().to_owned()),
        (None, None) => Err("empty response".to_owned()),
    }
}
