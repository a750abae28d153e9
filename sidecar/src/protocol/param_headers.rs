//! `Mcp-Param-*` headers (MCP 2026-07-28 "Transports" > "Standard headers" > "Custom headers"): a
//! tool's input schema may mark a primitive argument with `x-mcp-header: <Token>`; a `tools/call`
//! then mirrors that argument's value in `Mcp-Param-<Token>` (base64 sentinel for values that are
//! not plain header text) so intermediaries can route on it, and the server MUST reject a call
//! whose header and argument disagree (-32020). Headers no schema declares are not checked: they
//! pass on like any other header. Pure: schema, arguments and headers in, verdict out.

use serde_json::Value;

use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::modern::decode_header_value;

/// The annotation keyword of the tool input schema.
const KEYWORD: &str = "x-mcp-header";
/// The header prefix, lowercase (header names compare case-insensitively).
pub const PREFIX: &str = "mcp-param-";

/// One annotated argument: where it sits (a chain of `properties` keys), its header token, and
/// its JSON Schema type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub path: Vec<String>,
    pub token: String,
    pub integer: bool,
}

/// The annotations of an input schema. `None` when an annotation is invalid (not on a primitive
/// property reachable through `properties` only, not an RFC 9110 token, or a duplicate): clients
/// then send no headers for the tool, and nothing is checked.
pub fn annotations(schema: &Value) -> Option<Vec<Annotation>> {
    let mut found = Vec::new();
    let mut stack: Vec<(Option<Vec<String>>, &Value)> = vec![(Some(Vec::new()), schema)];
    while let Some((path, node)) = stack.pop() {
        let Some(object) = node.as_object() else {
            continue;
        };
        if let Some(token) = object.get(KEYWORD) {
            let path = path.clone().filter(|p| !p.is_empty())?;
            let token = token.as_str().filter(|t| is_token(t))?;
            let kind = object.get("type").and_then(Value::as_str)?;
            if !matches!(kind, "string" | "integer" | "boolean") {
                return None;
            }
            found.push(Annotation {
                path,
                token: token.to_owned(),
                integer: kind == "integer",
            });
        }
        for (keyword, value) in object {
            match (keyword.as_str(), value) {
                ("properties", Value::Object(properties)) => {
                    for (name, sub) in properties {
                        let chained = path.as_ref().map(|p| {
                            let mut p = p.clone();
                            p.push(name.clone());
                            p
                        });
                        stack.push((chained, sub));
                    }
                }
                // Other applicators are schema positions off the `properties` chain.
                (
                    "items"
                    | "contains"
                    | "additionalProperties"
                    | "not"
                    | "if"
                    | "then"
                    | "else"
                    | "unevaluatedItems"
                    | "unevaluatedProperties"
                    | "propertyNames",
                    sub,
                ) => stack.push((None, sub)),
                ("allOf" | "anyOf" | "oneOf" | "prefixItems", Value::Array(subs)) => {
                    stack.extend(subs.iter().map(|s| (None, s)));
                }
                (
                    "$defs" | "definitions" | "patternProperties" | "dependentSchemas",
                    Value::Object(subs),
                ) => {
                    stack.extend(subs.values().map(|s| (None, s)));
                }
                _ => {}
            }
        }
    }
    let mut tokens: Vec<String> = found.iter().map(|a| a.token.to_ascii_lowercase()).collect();
    tokens.sort();
    tokens.dedup();
    (tokens.len() == found.len()).then_some(found)
}

/// RFC 9110 §5.6.2 `token`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// How a client writes an argument into its header: booleans as `true`/`false`, strings as they
/// are, numbers in their JSON form; anything else has no header form.
fn rendered(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(b.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a decoded header value agrees with the argument: the argument's own JSON form always
/// does (a large integer's is written with an exponent, `5.5e+79`); besides, integers compare as
/// numbers (`42` equals `42.0`, the revision's SHOULD), everything else as text.
fn agrees(annotation: &Annotation, value: &Value, text: &str, decoded: &str) -> bool {
    if decoded == text {
        return true;
    }
    let Some(n) = value
        .as_f64()
        .filter(|n| annotation.integer && n.fract() == 0.0)
    else {
        return false;
    };
    let (whole, fraction) = decoded.split_once('.').unwrap_or((decoded, ""));
    let canonical = !whole.is_empty()
        && whole
            .trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b == b'0');
    canonical && whole.parse::<f64>().ok() == Some(n)
}

/// Checks a call's `Mcp-Param-*` headers (`headers`: lowercase name and trimmed value, each
/// occurrence) against its `arguments` for the tool's `annotations`: present together and equal,
/// or absent together (`null` counts as absent); a repeated declared header is a mismatch.
pub fn check(
    annotations: &[Annotation],
    arguments: &Value,
    headers: &[(String, String)],
) -> Result<(), RpcError> {
    let mismatch =
        |what: String| RpcError::new(jsonrpc::HEADER_MISMATCH, format!("header mismatch: {what}"));
    for annotation in annotations {
        let name = format!("{PREFIX}{}", annotation.token.to_ascii_lowercase());
        let shown = format!("Mcp-Param-{}", annotation.token);
        let sent: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if sent.len() > 1 {
            return Err(mismatch(format!("{shown} appears more than once")));
        }
        let header = sent.first().copied();
        let argument = annotation.path.join(".");
        let value = annotation
            .path
            .iter()
            .try_fold(arguments, |node, key| node.get(key))
            .filter(|v| !v.is_null());
        match (value.and_then(rendered), value, header) {
            (_, None, None) | (None, Some(_), None) => {}
            (_, None, Some(_)) => {
                return Err(mismatch(format!(
                    "{shown} is sent but argument {argument:?} is absent"
                )));
            }
            (None, Some(_), Some(_)) => {
                return Err(mismatch(format!(
                    "{shown} cannot carry argument {argument:?}"
                )));
            }
            (Some(_), Some(_), None) => {
                return Err(mismatch(format!(
                    "{shown} is missing but argument {argument:?} is present"
                )));
            }
            (Some(text), Some(value), Some(header)) => {
                let decoded = decode_header_value(header)
                    .ok_or_else(|| mismatch(format!("{shown} carries a malformed base64 value")))?;
                if !agrees(annotation, value, &text, &decoded) {
                    return Err(mismatch(format!(
                        "{shown} does not equal argument {argument:?}"
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "param_headers_tests.rs"]
mod tests;
