//! JSON-RPC 2.0 envelopes as MCP uses them (MCP spec "Base Protocol" > "Messages").
//!
//! Only the envelope is parsed: `params`, `result` and `error` stay raw JSON text
//! (`serde_json::value::RawValue`) borrowed from the input, so large payloads (fetched pages,
//! screenshots) are copied once and never re-serialised. Ids are rewritten on the way to and from
//! the child, so the few writers here build the outgoing message around the raw parts.

use std::borrow::Cow;
use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Invalid JSON was received (JSON-RPC 2.0 §5.1).
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object, or the HTTP request breaks a transport rule.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist / is not available.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameter(s); in the stateless revision also a `_meta` without the required
/// per-request fields (MCP 2026-07-28 "Per-request protocol fields").
pub const INVALID_PARAMS: i64 = -32602;
/// Internal JSON-RPC error.
pub const INTERNAL_ERROR: i64 = -32603;
/// The MCP server process exited or broke the protocol while the request was pending
/// (same code as the TypeScript SDK's `ConnectionClosed`).
pub const SERVER_GONE: i64 = -32000;
/// The MCP server did not answer within `SIDECAR_REQUEST_TIMEOUT_SECS`
/// (same code as the TypeScript SDK's `RequestTimeout`).
pub const REQUEST_TIMEOUT: i64 = -32001;
/// The session does not exist (unknown, expired, deleted or owned by another user).
pub const SESSION_NOT_FOUND: i64 = -32004;
/// Too many requests in flight in this session, or too many sessions.
pub const OVERLOADED: i64 = -32005;
/// The client cancelled the request (`notifications/cancelled`).
pub const REQUEST_CANCELLED: i64 = -32800;
/// A routing header disagrees with the body (MCP 2026-07-28 `HeaderMismatchError`).
pub const HEADER_MISMATCH: i64 = -32020;
/// Processing needs a client capability the request did not declare (MCP 2026-07-28
/// `MissingRequiredClientCapabilityError`).
pub const MISSING_CAPABILITY: i64 = -32021;
/// Protocol version not supported (MCP 2026-07-28 "Versioning"; `data.supported` lists ours).
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// The envelope of any JSON-RPC message, borrowing from the input.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

/// What a message is (JSON-RPC 2.0 §4, §4.1, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Notification,
    Response,
    Invalid,
}

impl<'a> Envelope<'a> {
    /// Parses one message; it must be a JSON object (serde would also accept an array for a
    /// struct, which JSON-RPC does not allow).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        if !text.trim_start().starts_with('{') {
            return Err(serde::de::Error::custom(
                "a JSON-RPC message must be an object",
            ));
        }
        serde_json::from_str(text)
    }

    pub fn kind(&self) -> Kind {
        match (
            &self.method,
            self.id,
            self.result.is_some() || self.error.is_some(),
        ) {
            (Some(_), Some(id), false) if is_request_id(id) => Kind::Request,
            (Some(_), None, false) => Kind::Notification,
            (None, Some(_), true) => Kind::Response,
            _ => Kind::Invalid,
        }
    }

    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("")
    }
}

/// Whether `id` may identify a request: a string or a number (JSON-RPC 2.0 §4; MCP's base
/// protocol narrows it to a string or an integer and forbids null, which serde reads as no id).
/// An object, array or boolean id makes the message invalid (-32600), so it is never forwarded.
fn is_request_id(id: &RawValue) -> bool {
    let t = id.get();
    t.starts_with('"') || t.starts_with('-') || t.starts_with(|c: char| c.is_ascii_digit())
}

/// Splits a POST body into its messages: one object, or the elements of a batch.
/// Returns `(messages, is_batch)`.
pub fn split_body(text: &str) -> Result<(Vec<&RawValue>, bool), serde_json::Error> {
    if text.trim_start().starts_with('[') {
        Ok((serde_json::from_str::<Vec<&RawValue>>(text)?, true))
    } else {
        Ok((vec![serde_json::from_str::<&RawValue>(text)?], false))
    }
}

/// Extracts `params._meta.progressToken` (MCP spec "Utilities" > "Progress") as raw JSON text.
/// Cheap substring test first: most requests carry no token.
pub fn progress_token(params: Option<&RawValue>) -> Option<String> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(rename = "_meta", borrow)]
        meta: Option<Meta<'a>>,
        #[serde(rename = "progressToken", borrow)]
        token: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(rename = "progressToken", borrow)]
        token: Option<&'a RawValue>,
    }
    let raw = params?.get();
    if !raw.contains("progressToken") {
        return None;
    }
    let parsed: Params = serde_json::from_str(raw).ok()?;
    // Requests carry it in `_meta`; `notifications/progress` carries it at the top level.
    parsed
        .meta
        .and_then(|m| m.token)
        .or(parsed.token)
        .map(|t| t.get().to_owned())
}

/// `params.requestId` of `notifications/cancelled` (MCP spec "Utilities" > "Cancellation").
pub fn cancelled_request_id(params: Option<&RawValue>) -> Option<String> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(rename = "requestId", borrow)]
        request_id: &'a RawValue,
    }
    let parsed: Params = serde_json::from_str(params?.get()).ok()?;
    Some(parsed.request_id.get().to_owned())
}

/// `result.protocolVersion` of an `initialize` result.
pub fn negotiated_version(result: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Init {
        #[serde(rename = "protocolVersion")]
        version: String,
    }
    serde_json::from_str::<Init>(result.get())
        .ok()
        .map(|i| i.version)
}

/// `error.code` of an error object.
pub fn error_code(error: &RawValue) -> Option<i64> {
    #[derive(Deserialize)]
    struct Code {
        code: i64,
    }
    serde_json::from_str::<Code>(error.get())
        .ok()
        .map(|c| c.code)
}

/// Id of a request the sidecar sends to a child: always a number it allocated itself.
pub fn own_id(id: &RawValue) -> Option<u64> {
    id.get().parse().ok()
}

fn line(value: &impl Serialize) -> Bytes {
    // Serialising these small structs around raw values cannot fail (no maps with non-string keys).
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// A request towards a child, under the sidecar's own id; newline-terminated (stdio framing).
pub fn request_line(id: u64, method: &str, params: Option<&RawValue>) -> Bytes {
    request_line_text(id, method, params.map(RawValue::get))
}

/// `request_line` with params given as JSON text built from valid JSON (a stateless request's
/// params as a child takes them, `bridge::for_child`): copied as they are, never parsed again.
pub fn request_line_text(id: u64, method: &str, params: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(64 + method.len() + params.map_or(0, str::len));
    let _ = write!(out, r#"{{"jsonrpc":"2.0","id":{id},"method":"#);
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, method);
    member(&mut out, "params", params);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// `,"key":value` when there is a value (JSON text, copied as it is).
fn member(out: &mut Vec<u8>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        let _ = write!(out, r#","{key}":"#);
        out.extend_from_slice(value.as_bytes());
    }
}

/// A notification towards a child; newline-terminated.
pub fn notification_line(method: &str, params: Option<&RawValue>) -> Bytes {
    #[derive(Serialize)]
    struct Out<'a> {
        jsonrpc: &'static str,
        method: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        params: Option<&'a RawValue>,
    }
    line(&Out {
        jsonrpc: "2.0",
        method,
        params,
    })
}

/// `notifications/cancelled` for one of the sidecar's own request ids.
pub fn cancelled_line(id: u64, reason: &str) -> Bytes {
    let params = serde_json::json!({ "requestId": id, "reason": reason }).to_string();
    let raw = RawValue::from_string(params).ok();
    notification_line("notifications/cancelled", raw.as_deref())
}

/// A response towards a child (answer to a server-to-client request); newline-terminated.
pub fn response_line(id: &RawValue, result: Option<&RawValue>, error: Option<&RawValue>) -> Bytes {
    response_bytes(id, result.map(RawValue::get), error, true)
}

/// A response towards the client, carrying the client's own id (no trailing newline).
pub fn response(id: &RawValue, result: Option<&RawValue>, error: Option<&RawValue>) -> Bytes {
    response_bytes(id, result.map(RawValue::get), error, false)
}

/// `response` with a result given as JSON text built from valid JSON (a child's result shaped for
/// the stateless revision, `bridge::stateless_result`): copied as it is, never parsed again.
pub fn response_text(id: &RawValue, result: Option<&str>, error: Option<&RawValue>) -> Bytes {
    response_bytes(id, result, error, false)
}

fn response_bytes(
    id: &RawValue,
    result: Option<&str>,
    error: Option<&RawValue>,
    line: bool,
) -> Bytes {
    let (result_len, error_len) = (
        result.map_or(0, str::len),
        error.map_or(0, |e| e.get().len()),
    );
    let mut out = Vec::with_capacity(48 + id.get().len() + result_len + error_len);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.get().as_bytes());
    member(&mut out, "result", result);
    member(&mut out, "error", error.map(RawValue::get));
    out.push(b'}');
    if line {
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// A JSON-RPC error (JSON-RPC 2.0 §5.1): every error the sidecar answers with, whatever its cause
/// (a transport rule, a refused or timed-out request, a child that died), is one of these.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: Cow<'static, str>,
    pub data: Option<serde_json::Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The child is gone; `reason` says how (same code as the TypeScript SDK's `ConnectionClosed`).
    pub fn server_gone(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(SERVER_GONE, reason)
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The error response to a request of a child, newline-terminated (stdio framing).
    pub fn response_line(&self, id: &RawValue) -> Bytes {
        let mut out = BytesMut::from(&self.response(Some(id))[..]);
        out.put_u8(b'\n');
        out.freeze()
    }

    /// The error response to request `id`; `null` when the id is unknown (JSON-RPC 2.0 §5).
    pub fn response(&self, id: Option<&RawValue>) -> Bytes {
        #[derive(Serialize)]
        struct Object<'a> {
            code: i64,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a serde_json::Value>,
        }
        let object = serde_json::to_string(&Object {
            code: self.code,
            message: &self.message,
            data: self.data.as_ref(),
        })
        .ok()
        .and_then(|text| RawValue::from_string(text).ok());
        response(id.unwrap_or(RawValue::NULL), None, object.as_deref())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn kinds() {
        let k = |s: &str| Envelope::parse(s).unwrap().kind();
        assert_eq!(
            k(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Kind::Request
        );
        assert_eq!(k(r#"{"jsonrpc":"2.0","method":"x"}"#), Kind::Notification);
        assert_eq!(
            k(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Kind::Response
        );
        assert_eq!(k(r#"{"jsonrpc":"2.0","id":3,"error":{}}"#), Kind::Response);
        assert_eq!(
            k(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#),
            Kind::Notification
        );
        assert_eq!(k(r#"{"jsonrpc":"2.0"}"#), Kind::Invalid);
        assert!(Envelope::parse("[1]").is_err());
        // Only strings and numbers identify a request (JSON-RPC 2.0 §4).
        for id in [r#"{"a":1}"#, "[1]", "true", "false"] {
            let message = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(k(&message), Kind::Invalid, "{message}");
        }
        assert_eq!(
            k(r#"{"jsonrpc":"2.0","id":-1.5,"method":"ping"}"#),
            Kind::Request
        );
    }

    #[test]
    fn ids_are_rewritten_and_params_kept_verbatim() {
        let env = Envelope::parse(
            r#"{"jsonrpc":"2.0","id":"client-7","method":"tools/call","params":{"a": [1, 2]}}"#,
        )
        .unwrap();
        let out = request_line(42, env.method(), env.params);
        assert_eq!(
            &out[..],
            br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"a": [1, 2]}}
"#
        );
        let back = Envelope::parse(r#"{"jsonrpc":"2.0","id":42,"result":{"ok":true}}"#).unwrap();
        assert_eq!(own_id(back.id.unwrap()), Some(42));
        let client = env.id.unwrap();
        assert_eq!(
            &response(client, back.result, back.error)[..],
            br#"{"jsonrpc":"2.0","id":"client-7","result":{"ok":true}}"#
        );
        assert_eq!(own_id(client), None);
    }

    #[test]
    fn batches_and_single_messages() {
        let (msgs, batch) = split_body(r#" [{"a":1},{"b":2}]"#).unwrap();
        assert!(batch);
        assert_eq!(msgs.len(), 2);
        let (msgs, batch) = split_body(r#"{"a":1}"#).unwrap();
        assert!(!batch);
        assert_eq!(msgs.len(), 1);
        assert!(split_body("{nope").is_err());
    }

    #[test]
    fn progress_tokens_and_cancellations() {
        let p = RawValue::from_string(r#"{"_meta":{"progressToken":"t1"},"x":1}"#.into()).unwrap();
        assert_eq!(progress_token(Some(&p)).as_deref(), Some(r#""t1""#));
        let n = RawValue::from_string(r#"{"progressToken":5,"progress":1}"#.into()).unwrap();
        assert_eq!(progress_token(Some(&n)).as_deref(), Some("5"));
        let none = RawValue::from_string(r#"{"name":"echo"}"#.into()).unwrap();
        assert_eq!(progress_token(Some(&none)), None);
        let c = RawValue::from_string(r#"{"requestId":"r1","reason":"x"}"#.into()).unwrap();
        assert_eq!(cancelled_request_id(Some(&c)).as_deref(), Some(r#""r1""#));
        assert_eq!(
            &cancelled_line(9, "timeout")[..],
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"reason\":\"timeout\",\"requestId\":9}}\n"
        );
    }

    #[test]
    fn error_responses() {
        let e = RpcError::new(PARSE_ERROR, "parse error").response(None);
        let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(v["id"], serde_json::Value::Null);
        assert_eq!(v["error"]["code"], PARSE_ERROR);
        assert!(v["error"].get("data").is_none());
        let id = RawValue::from_string("7".into()).unwrap();
        let e = RpcError::new(INVALID_REQUEST, "bad")
            .with_data(serde_json::json!({"x": 1}))
            .response(Some(&id));
        assert_eq!(
            &e[..],
            br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"bad","data":{"x":1}}}"#
        );
        let init = RawValue::from_string(r#"{"protocolVersion":"2025-06-18"}"#.into()).unwrap();
        assert_eq!(negotiated_version(&init).as_deref(), Some("2025-06-18"));
    }
}
