//! `server/discover` (MCP 2026-07-28 "Lifecycle" > "Discovery"): what the server is and can do,
//! answered by the sidecar from its children's `initialize` result, with every revision the
//! sidecar serves.

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::modern::META_SERVER_INFO;
use crate::protocol::version;

/// Server capabilities a stateless client does not get through the sidecar: log messages (a
/// child's are not tied to a request on stdio, so none can honour a request's `logLevel`) and
/// tasks (not bridged).
const WITHHELD: [&str; 2] = ["logging", "tasks"];

/// The `DiscoverResult` for request `id` from a child's `initialize` result.
pub fn answer(id: &RawValue, init: &RawValue) -> Bytes {
    let init: Value = serde_json::from_str(init.get()).unwrap_or(Value::Null);
    let mut capabilities = init.get("capabilities").cloned().unwrap_or(json!({}));
    if let Some(map) = capabilities.as_object_mut() {
        for name in WITHHELD {
            map.remove(name);
        }
    }
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": version::ALL,
        "capabilities": capabilities,
        // The same for every user and request: any cache may keep it, and re-ask at will.
        "ttlMs": 0,
        "cacheScope": "public",
    });
    if let Some(info) = init.get("serverInfo") {
        result["_meta"] = json!({ META_SERVER_INFO: info });
    }
    if let Some(instructions) = init.get("instructions").filter(|i| i.is_string()) {
        result["instructions"] = instructions.clone();
    }
    match RawValue::from_string(result.to_string()) {
        Ok(result) => jsonrpc::response(id, Some(&result), None),
        Err(e) => RpcError::new(jsonrpc::INTERNAL_ERROR, e.to_string()).response(Some(id)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn discovery_lists_every_revision_and_the_bridged_capabilities() {
        let init = RawValue::from_string(
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {"listChanged": true}, "logging": {}, "tasks": {}},
                "serverInfo": {"name": "srv", "version": "1"},
                "instructions": "be nice"
            })
            .to_string(),
        )
        .unwrap();
        let id = RawValue::from_string("3".into()).unwrap();
        let out: Value = serde_json::from_slice(&answer(&id, &init)).unwrap();
        let result = &out["result"];
        assert_eq!(out["id"], 3);
        assert_eq!(result["resultType"], "complete");
        assert_eq!(
            result["supportedVersions"],
            json!(["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"])
        );
        assert_eq!(
            result["capabilities"],
            json!({"tools": {"listChanged": true}})
        );
        assert_eq!(result["_meta"][META_SERVER_INFO]["name"], "srv");
        assert_eq!(result["instructions"], "be nice");
        assert_eq!(result["ttlMs"], 0);
        assert_eq!(result["cacheScope"], "public");
    }
}
