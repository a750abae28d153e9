//! Requests and results across the eras.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_owned()).unwrap()
}

#[test]
fn results_gain_result_type_and_cache_hints_once() {
    let r = |method: &str, text: &str| {
        let out = stateless_result(method, &raw(text));
        out.map(|o| serde_json::from_str::<serde_json::Value>(&o).unwrap())
    };
    assert_eq!(
        r("tools/call", r#"{"content":[]}"#).unwrap(),
        json!({"resultType": "complete", "content": []})
    );
    assert_eq!(
        r("tools/list", "{ }").unwrap(),
        json!({"resultType": "complete", "ttlMs": 0, "cacheScope": "private"})
    );
    // Members the child set stay as they are; a mention inside content is not a member.
    assert_eq!(
        r(
            "resources/read",
            r#"{"ttlMs":5,"contents":[{"text":"\"resultType\""}]}"#
        )
        .unwrap(),
        json!({"resultType": "complete", "cacheScope": "private", "ttlMs": 5,
               "contents": [{"text": "\"resultType\""}]})
    );
    assert_eq!(
        r("tools/call", r#"{"resultType":"input_required"}"#).unwrap(),
        json!({"resultType": "input_required"})
    );
    assert_eq!(r("tools/call", "null"), None);
}

#[test]
fn children_get_params_without_the_stateless_envelope() {
    let child = |text: &str| {
        let params = Members::parse(text).unwrap();
        let meta = params
            .get("_meta")
            .map(|m| Members::parse(m.get()).unwrap())
            .unwrap_or_default();
        for_child(&params, &meta).map(|p| serde_json::from_str::<serde_json::Value>(&p).unwrap())
    };
    let out = child(
        r#"{"name":"echo","arguments":{"message":"hi"},"requestState":"s","inputResponses":{},
            "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
                     "io.modelcontextprotocol/clientCapabilities":{},"progressToken":7}}"#,
    );
    assert_eq!(
        out.unwrap(),
        json!({"name": "echo", "arguments": {"message": "hi"}, "_meta": {"progressToken": 7}})
    );
    assert_eq!(
        child(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"x"}}"#),
        None
    );
    assert_eq!(
        child(r#"{"name":"n","_meta":{"io.modelcontextprotocol/protocolVersion":"x"}}"#).unwrap(),
        json!({"name": "n"})
    );
}
