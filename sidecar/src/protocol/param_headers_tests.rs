//! `Mcp-Param-*` rules: which annotations count, and how headers and arguments must agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "dry": {"type": "boolean", "x-mcp-header": "Dry"},
            "nested": {"type": "object", "properties": {
                "id": {"type": "string", "x-mcp-header": "Nested-Id"}
            }},
            "plain": {"type": "string"}
        }
    })
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned()))
        .collect()
}

#[test]
fn annotations_on_primitive_properties_count() {
    let found = annotations(&schema()).unwrap();
    let mut tokens: Vec<&str> = found.iter().map(|a| a.token.as_str()).collect();
    tokens.sort();
    assert_eq!(tokens, ["Count", "Dry", "Nested-Id", "Region"]);
    let nested = found.iter().find(|a| a.token == "Nested-Id").unwrap();
    assert_eq!(nested.path, ["nested", "id"]);
    assert!(annotations(&json!({"type": "object"})).unwrap().is_empty());
    for invalid in [
        json!({"x-mcp-header": "Root", "type": "string"}),
        json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
        json!({"properties": {"a": {"type": "string", "x-mcp-header": "not a token"}}}),
        json!({"properties": {"a": {"type": "string", "x-mcp-header": "A"},
                              "b": {"type": "string", "x-mcp-header": "a"}}}),
        json!({"anyOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]}),
    ] {
        assert_eq!(annotations(&invalid), None, "{invalid}");
    }
}

#[test]
fn headers_must_mirror_their_arguments() {
    let a = annotations(&schema()).unwrap();
    let args =
        json!({"region": "eu-west", "count": 42, "dry": true, "nested": {"id": "ünï"}, "plain": 1});
    let good = headers(&[
        ("Mcp-Param-Region", "eu-west"),
        ("MCP-PARAM-COUNT", "42.0"),
        ("mcp-param-dry", "true"),
        ("Mcp-Param-Nested-Id", "=?base64?w7xuw68=?="),
        ("Mcp-Param-Unknown", "anything"),
    ]);
    assert!(check(&a, &args, &good).is_ok());
    // No argument and no header: nothing to compare; `null` is absent.
    assert!(check(&a, &json!({"count": null}), &headers(&[])).is_ok());
    // A value without the sentinel is literal text, even when it looks like base64.
    let literal = json!({"region": "=?base64?SGVsbG8="});
    assert!(
        check(
            &a,
            &literal,
            &headers(&[("Mcp-Param-Region", "=?base64?SGVsbG8=")])
        )
        .is_ok()
    );
    let region_only = json!({"region": "Hello"});
    for (bad, what) in [
        (headers(&[]), "missing header"),
        (headers(&[("Mcp-Param-Region", "hello")]), "case differs"),
        (
            headers(&[("Mcp-Param-Region", "=?base64?SGVsbG8?=")]),
            "bad padding",
        ),
        (
            headers(&[("Mcp-Param-Region", "=?base64?SGVs!!!bG8=?=")]),
            "bad alphabet",
        ),
        (
            headers(&[("Mcp-Param-Region", "Hello"), ("mcp-param-region", "Hello")]),
            "repeated",
        ),
        (
            headers(&[("Mcp-Param-Region", "Hello"), ("Mcp-Param-Count", "1")]),
            "header without argument",
        ),
    ] {
        let error = check(&a, &region_only, &bad).unwrap_err();
        assert_eq!(error.code, jsonrpc::HEADER_MISMATCH, "{what}");
    }
    assert!(
        check(
            &a,
            &region_only,
            &headers(&[("Mcp-Param-Region", "=?base64?SGVsbG8=?=")])
        )
        .is_ok()
    );
    let counted = json!({"count": 7});
    assert!(check(&a, &counted, &headers(&[("Mcp-Param-Count", "7.5")])).is_err());
    assert!(check(&a, &counted, &headers(&[("Mcp-Param-Count", "1e1")])).is_err());
    // An integer too large for 64 bits is a float to serde_json, and its JSON form has an exponent:
    // a client that writes either that form or every digit agrees (found by fuzzing).
    let digits = "5".repeat(79) + "42";
    let huge: Value = serde_json::from_str(&format!(r#"{{"count": {digits}}}"#)).unwrap();
    let exponent = huge["count"].to_string();
    assert!(exponent.contains('e'), "{exponent}");
    for written in [exponent.as_str(), digits.as_str()] {
        assert!(
            check(&a, &huge, &headers(&[("Mcp-Param-Count", written)])).is_ok(),
            "{written}"
        );
    }
    assert!(check(&a, &huge, &headers(&[("Mcp-Param-Count", "5e80")])).is_err());
}
