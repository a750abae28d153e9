//! The JSON-RPC envelope (MCP spec "Base Protocol" > "Messages"), differential against serde_json's
//! own parse into `Value`: a body splits into messages exactly when it is JSON; every message the
//! envelope accepts is a JSON object whose `id`, `method`, `params`, `result` and `error` are the
//! very same values (the raw parts byte-identical slices of the body, so numbers and strings keep
//! their spelling); the objects it refuses are the ones JSON-RPC forbids. Also the helpers that
//! read inside `params` (`progressToken`, `requestId`), the member scanner and the stateless
//! result shaping, each checked against `Value`.
//!
//! Input: a POST body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use serde_json::value::RawValue;
use sidecar::protocol::bridge;
use sidecar::protocol::jsonrpc::{self, Envelope, Kind};
use sidecar::protocol::members::Members;

/// `raw` is a slice of `body` (borrowed, not re-encoded).
fn is_slice_of(raw: &RawValue, body: &str) -> bool {
    let (start, end) = (body.as_ptr() as usize, body.as_ptr() as usize + body.len());
    let at = raw.get().as_ptr() as usize;
    at >= start && at + raw.get().len() <= end
}

fn value_of(raw: &RawValue) -> Value {
    match serde_json::from_str(raw.get()) {
        Ok(v) => v,
        Err(e) => panic!("a raw part is JSON: {e}: {}", raw.get()),
    }
}

fn member<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn check_message(raw: &RawValue, expected: &Value, body: &str) {
    let members = Members::parse(raw.get());
    assert_eq!(members.is_ok(), expected.is_object(), "{}", raw.get());
    let Ok(env) = Envelope::parse(raw.get()) else {
        // Refused: not an object, a known member repeated, or `method` not a string.
        if let (Ok(members), Some(object)) = (&members, expected.as_object()) {
            let known = ["id", "method", "params", "result", "error"];
            let repeated = known
                .iter()
                .any(|k| members.0.iter().filter(|(m, _)| m == k).count() > 1);
            let bad_method = object
                .get("method")
                .is_some_and(|m| !m.is_string() && !m.is_null());
            assert!(
                repeated || bad_method,
                "refused a valid envelope: {}",
                raw.get()
            );
        }
        return;
    };
    let object = expected
        .as_object()
        .unwrap_or_else(|| panic!("accepted a non-object"));
    for (name, part) in [
        ("id", env.id),
        ("params", env.params),
        ("result", env.result),
        ("error", env.error),
    ] {
        match part {
            Some(p) => {
                assert!(is_slice_of(p, body), "{name} is copied verbatim");
                assert_eq!(Some(&value_of(p)), object.get(name), "{name}");
            }
            None => assert!(member(expected, name).is_none(), "{name} lost"),
        }
    }
    assert_eq!(
        env.method.as_deref(),
        object.get("method").and_then(Value::as_str),
        "method"
    );
    let kind = env.kind();
    let has = |k: &str| object.get(k).is_some_and(|v| !v.is_null());
    // Only a string or a number identifies a request (JSON-RPC 2.0 §4).
    let request_id = object
        .get("id")
        .is_some_and(|v| v.is_string() || v.is_number());
    let expected_kind = match (has("method"), has("id"), has("result") || has("error")) {
        (true, true, false) if request_id => Kind::Request,
        (true, false, false) => Kind::Notification,
        (false, true, true) => Kind::Response,
        _ => Kind::Invalid,
    };
    assert_eq!(kind, expected_kind);

    let params = env.params.map(value_of);
    if let Some(token) = jsonrpc::progress_token(env.params) {
        let token: Value = serde_json::from_str(&token).unwrap_or(Value::Null);
        let p = params.as_ref();
        let announced = p
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("progressToken"));
        let top = p.and_then(|p| p.get("progressToken"));
        assert!(
            announced == Some(&token) || top == Some(&token),
            "progress token {token} not in params"
        );
    }
    if let Some(id) = jsonrpc::cancelled_request_id(env.params) {
        let id: Value = serde_json::from_str(&id).unwrap_or(Value::Null);
        assert_eq!(params.as_ref().and_then(|p| p.get("requestId")), Some(&id));
    }
    if let Some(result) = env.result {
        for method in ["tools/call", "tools/list"] {
            let Some(shaped) = bridge::stateless_result(method, result) else {
                assert!(
                    !result.get().trim_start().starts_with('{'),
                    "object not shaped"
                );
                continue;
            };
            let shaped_members = match Members::parse(&shaped) {
                Ok(m) => m,
                Err(e) => panic!("shaped result is not an object: {e}: {shaped}"),
            };
            let count = |m: &Members<'_>| m.0.iter().filter(|(k, _)| k == "resultType").count();
            let original = Members::parse(result.get()).map(|m| count(&m)).unwrap_or(0);
            assert_eq!(
                count(&shaped_members),
                original.max(1),
                "resultType exactly once: {shaped}"
            );
            let before = value_of(result);
            // Written without a second parse in the sidecar: it must be valid JSON by construction.
            let after: Value = match serde_json::from_str(&shaped) {
                Ok(v) => v,
                Err(e) => panic!("shaped result is not JSON: {e}: {shaped}"),
            };
            for (k, v) in before.as_object().into_iter().flatten() {
                assert_eq!(
                    after.get(k),
                    Some(v),
                    "member {k} of the child's result kept"
                );
            }
        }
    }
}

fuzz_target!(|body: &[u8]| {
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    // The grammar (RFC 8259) as serde_json reads it; `Value` also refuses numbers beyond f64,
    // which the sidecar passes on verbatim, so it is compared only where it parses.
    let grammar = serde_json::from_str::<serde::de::IgnoredAny>(text);
    let split = jsonrpc::split_body(text);
    assert_eq!(
        split.is_ok(),
        grammar.is_ok(),
        "split_body agrees with serde_json"
    );
    let (Ok((messages, batch)), Ok(value)) = (split, serde_json::from_str::<Value>(text)) else {
        return;
    };
    let values = match (&value, batch) {
        (Value::Array(items), true) => items.clone(),
        (other, false) => vec![other.clone()],
        (other, true) => panic!("a batch that is not an array: {other}"),
    };
    assert_eq!(messages.len(), values.len());
    for (raw, expected) in messages.iter().zip(&values) {
        assert!(is_slice_of(raw, text));
        assert_eq!(&value_of(raw), expected);
        check_message(raw, expected, text);
        if let Ok(members) = Members::parse(raw.get()) {
            let written = members.write(|_| Some(None));
            match written {
                Ok(Some(out)) => assert_eq!(
                    &serde_json::from_str::<Value>(&out).ok(),
                    &Some(expected.clone())
                ),
                Ok(None) => assert_eq!(expected.as_object().map(|o| o.len()), Some(0)),
                Err(e) => panic!("members written back: {e}"),
            }
        }
    }
});
