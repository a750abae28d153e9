//! What crosses between the eras on its way through the sidecar (the children speak the
//! session-based revisions, the clients may speak the stateless one): a stateless request's params
//! as a child takes them, and a child's result as the stateless revision has it. Pure.

use serde_json::value::RawValue;

use crate::protocol::members::Members;

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
/// business). Everything else, `_meta.progressToken` included, is copied as it is. `None`:
/// nothing is left. `meta`: the members of `params._meta`. JSON text: it is written from members
/// of parsed JSON, so it needs no second parse (`jsonrpc::request_line_text`).
pub fn for_child(params: &Members<'_>, meta: &Members<'_>) -> Option<String> {
    let child_meta = meta
        .write(|key| (!key.starts_with(ENVELOPE_PREFIX)).then_some(None))
        .ok()?;
    params
        .write(|key| match key {
            "inputResponses" | "requestState" => None,
            "_meta" => child_meta.as_deref().map(Some),
            _ => Some(None),
        })
        .ok()?
}

/// The reserved prefix of the per-request envelope's `_meta` keys.
const ENVELOPE_PREFIX: &str = "io.modelcontextprotocol/";

/// A child's result as a stateless result: `resultType` (MCP 2026-07-28: servers MUST include
/// it) and, for cacheable methods, the caching hints (`ttlMs` 0: immediately stale; `cacheScope`
/// private: never shared across users). Members the child set itself are kept. The text is only
/// parsed when it mentions a member we would add; results that are not objects pass unchanged.
/// JSON text: the members added in front of a valid object's own, so it needs no second parse
/// (`jsonrpc::response_text`).
pub fn stateless_result(method: &str, result: &RawValue) -> Option<String> {
    const RESULT_TYPE: (&str, &str) = ("\"resultType\"", "\"complete\"");
    const HINTS: [(&str, &str); 2] = [("\"ttlMs\"", "0"), ("\"cacheScope\"", "\"private\"")];
    let text = result.get().trim();
    let body = text.strip_prefix('{')?;
    let mut members = vec![RESULT_TYPE];
    if CACHEABLE.contains(&method) {
        members.extend(HINTS);
    }
    if members.iter().any(|(key, _)| text.contains(key)) {
        let present = Members::parse(text).ok()?;
        members.retain(|(key, _)| present.get(&key[1..key.len() - 1]).is_none());
    }
    let mut out = String::with_capacity(text.len() + 64);
    out.push('{');
    for (key, value) in &members {
        out.push_str(key);
        out.push(':');
        out.push_str(value);
        out.push(',');
    }
    let rest = body.trim_start();
    if rest.starts_with('}') && !members.is_empty() {
        out.pop();
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
#[path = "bridge_tests.rs"]
mod tests;
