//! The requests the load generator sends and the checks every answer must pass.
//!
//! Each `tools/call` carries a process-wide unique JSON-RPC id (MCP 2025-06-18 basic/index "Requests":
//! ids must not be reused within a session; we go further and never reuse one at all), so an answer
//! routed to the wrong caller is caught by the id check and, for `echo`, by the echoed text.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::error::Error;

/// JSON-RPC ids, unique across every session and worker of this process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The tool exercised on the wrapped server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// `echo` of `@modelcontextprotocol/server-everything`.
    Echo,
    /// `get_current_time` of `mcp-server-time`.
    Time,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Echo => "echo",
            Tool::Time => "time",
        }
    }

    /// The MCP name of the tool called (`Mcp-Name` of a stateless call).
    pub fn tool_name(self) -> &'static str {
        match self {
            Tool::Echo => "echo",
            Tool::Time => "get_current_time",
        }
    }

    /// A `tools/call` request with id `id`.
    pub fn call(self, id: u64) -> Value {
        let arguments = match self {
            Tool::Echo => json!({"message": echo_text(id)}),
            Tool::Time => json!({"timezone": "UTC"}),
        };
        let params = json!({"name": self.tool_name(), "arguments": arguments});
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
    }

    /// Checks an answer to [`Tool::call`] with id `id`: same id, a result (no error, no `isError`)
    /// whose first text content is the echo of our message or a UTC time.
    pub fn check(self, id: u64, answer: &Value) -> Result<(), Error> {
        let result = check_response(id, answer)?;
        if result.get("isError") == Some(&Value::Bool(true)) {
            return Err(Error::WrongResult(format!("isError: {}", short(result))));
        }
        let text = result
            .pointer("/content/0/text")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::WrongResult(format!("no text content: {}", short(result))))?;
        match self {
            Tool::Echo => {
                let want = format!("Echo: {}", echo_text(id));
                if text == want {
                    Ok(())
                } else {
                    Err(Error::WrongResult(format!("echo {text:?}, want {want:?}")))
                }
            }
            Tool::Time => check_time(text),
        }
    }
}

fn echo_text(id: u64) -> String {
    format!("loadgen-{id}")
}

/// `get_current_time` answers with a JSON text `{"timezone","datetime","is_dst",...}`.
fn check_time(text: &str) -> Result<(), Error> {
    let time: Value = serde_json::from_str(text)
        .map_err(|_| Error::WrongResult(format!("time text is not JSON: {text:?}")))?;
    let zone = time.get("timezone").and_then(Value::as_str);
    let datetime = time.get("datetime").and_then(Value::as_str).unwrap_or("");
    // ISO 8601 with a date part and a time part, e.g. 2026-11-24T19:45:31+00:00.
    let iso = datetime.len() >= 19
        && datetime.as_bytes().get(4) == Some(&b'-')
        && datetime.as_bytes().get(10) == Some(&b'T');
    if zone == Some("UTC") && iso {
        Ok(())
    } else {
        Err(Error::WrongResult(format!("not a UTC time: {text:?}")))
    }
}

/// The `initialize` request (MCP 2025-06-18 basic/lifecycle "Initialization").
pub fn initialize(id: u64, protocol_version: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version,
            "capabilities": {},
            "clientInfo": {"name": "loadgen", "version": env!("CARGO_PKG_VERSION")}
        }
    })
}

/// `request` as a stateless (MCP 2026-07-28) request: the protocol version and the client
/// capabilities in `params._meta` ("Per-request protocol fields").
pub fn stateless(mut request: Value) -> Value {
    request["params"]["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "loadgen", "version": env!("CARGO_PKG_VERSION")},
    });
    request
}

/// The stateless revision.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// The notification that ends the initialization phase.
pub fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// Checks that `answer` is the success response to request `id` and returns its `result`.
pub fn check_response(id: u64, answer: &Value) -> Result<&Value, Error> {
    let got = answer.get("id");
    if got.and_then(Value::as_u64) != Some(id) {
        return Err(Error::IdMismatch {
            sent: id.to_string(),
            got: got.map_or_else(|| "none".into(), Value::to_string),
        });
    }
    if let Some(error) = answer.get("error") {
        return Err(Error::JsonRpc(short(error)));
    }
    answer
        .get("result")
        .ok_or_else(|| Error::Malformed(format!("no result: {}", short(answer))))
}

/// A value cut to a length fit for an error sample.
pub fn short(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 200 {
        let mut end = 200;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_answer_must_match_id_and_text() {
        let ok = json!({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Echo: loadgen-7"}]}});
        assert!(Tool::Echo.check(7, &ok).is_ok());
        assert!(matches!(
            Tool::Echo.check(8, &ok),
            Err(Error::IdMismatch { .. })
        ));
        let swapped = json!({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Echo: loadgen-9"}]}});
        assert!(matches!(
            Tool::Echo.check(7, &swapped),
            Err(Error::WrongResult(_))
        ));
    }

    #[test]
    fn stateless_requests_carry_their_meta() {
        let request = stateless(Tool::Echo.call(3));
        let meta = &request["params"]["_meta"];
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object());
        assert_eq!(request["params"]["name"], "echo");
    }

    #[test]
    fn time_answer_must_be_utc_iso() {
        let text = r#"{"timezone":"UTC","datetime":"2026-11-24T19:45:31+00:00","is_dst":false}"#;
        let ok = json!({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":text}]}});
        assert!(Tool::Time.check(1, &ok).is_ok());
        let bad =
            json!({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"noon"}]}});
        assert!(Tool::Time.check(1, &bad).is_err());
        let err = json!({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}});
        assert!(matches!(Tool::Time.check(1, &err), Err(Error::JsonRpc(_))));
    }
}
