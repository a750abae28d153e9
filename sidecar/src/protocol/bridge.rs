//! What crosses between the eras on its way through the sidecar (the children speak the
//! session-based revisions, the clients may speak the stateless one): a stateless request's params
//! as a child takes them, and a child's result as the stateless revision has it. Pure.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::protocol::jsonrpc::{self, RpcError};

/// Methods whose results carry caching hints (MCP 2026-07-28 "Caching": `ttlMs`, `cacheScope`).
const CACHEABLE: [&str; 6] = [
    "server/discover",
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

/// The params of a stateless request as a child of the session-based revisions takes them:
/// without the per-request envelope in `_meta` (its protocol version marks a request of the
/// stateless revision, which such a child may refuse: the Python SDK's servers do) and without the
/// members of multi-round-trip requests (`inputResponses`, `requestState`: the sidecar's own
/// business). Everything else, `_meta.progressToken` included, is kept. `None`: nothing is left.
pub fn for_child(params: &RawValue) -> Result<Option<Box<RawValue>>, RpcError> {
    type Members<'a> = std::collections::BTreeMap<Cow<'a, str>, &'a RawValue>;
    let invalid =
        |e: serde_json::Error| RpcError::new(jsonrpc::INVALID_PARAMS, format!("params: {e}"));
    let mut members: Members<'_> = serde_json::from_str(params.get()).map_err(invalid)?;
    members.remove("inputResponses");
    members.remove("requestState");
    let meta = match members.remove("_meta") {
        Some(raw) => {
            let mut meta: Members<'_> = serde_json::from_str(raw.get()).map_err(invalid)?;
            meta.retain(|key, _| !key.starts_with("io.modelcontextprotocol/"));
            (!meta.is_empty())
                .then(|| serde_json::to_string(&meta))
                .transpose()
                .map_err(invalid)?
        }
        None => None,
    };
    let meta = meta
        .map(RawValue::from_string)
        .transpose()
        .map_err(invalid)?;
    if let Some(meta) = &meta {
        members.insert(Cow::Borrowed("_meta"), meta);
    }
    if members.is_empty() {
        return Ok(None);
    }
    let text = serde_json::to_string(&members).map_err(invalid)?;
    RawValue::from_string(text).map(Some).map_err(invalid)
}

/// A child's result as a stateless result: `resultType` (MCP 2026-07-28: servers MUST include
/// it) and, for cacheable methods, the caching hints (`ttlMs` 0: immediately stale; `cacheScope`
/// private: never shared across users). Members the child set itself are kept. The text is only
/// parsed when it mentions a member we would add; results that are not objects pass unchanged.
pub fn stateless_result(method: &str, result: &RawValue) -> Option<Box<RawValue>> {
    let text = result.get().trim();
    let body = text.strip_prefix('{')?;
    let cacheable = CACHEABLE.contains(&method);
    let mut members = vec![("resultType", "\"complete\"")];
    if cacheable {
        members.extend([("ttlMs", "0"), ("cacheScope", "\"private\"")]);
    }
    let mentioned = members
        .iter()
        .any(|(key, _)| text.contains(&format!("\"{key}\"")));
    if mentioned {
        let present: std::collections::HashMap<Cow<'_, str>, &RawValue> =
            serde_json::from_str(text).ok()?;
        members.retain(|(key, _)| !present.contains_key(*key));
    }
    let mut out = String::with_capacity(text.len() + 64);
    out.push('{');
    for (key, value) in &members {
        out.push_str(&format!("\"{key}\":{value},"));
    }
    let rest = body.trim_start();
    if rest.starts_with('}') && !members.is_empty() {
        out.pop();
    }
    out.push_str(rest);
    RawValue::from_string(out).ok()
}

#[cfg(test)]
#[path = "bridge_tests.rs"]
mod tests;
