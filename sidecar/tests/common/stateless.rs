//! MCP 2026-07-28 from the client side: stateless requests (version and capabilities in `_meta`,
//! the routing headers `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`), answered as JSON or SSE.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::session::{content_type, messages};
use super::{ANSWER_WITHIN, Sidecar, within};

pub const V_2026_07_28: &str = "2026-07-28";

/// A stateless client of one sidecar.
pub struct Stateless {
    pub client: reqwest::Client,
    pub url: String,
    pub user: Option<String>,
    /// `io.modelcontextprotocol/clientCapabilities` of every request.
    pub caps: Value,
    next_id: AtomicU64,
}

/// The name a request's `Mcp-Name` repeats (MCP 2026-07-28 "Standard headers").
pub fn routed_name(method: &str, params: &Value) -> Option<String> {
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return None,
    };
    params[key].as_str().map(str::to_owned)
}

/// One answer: the HTTP status and every JSON-RPC message of the body (one for JSON, each event
/// for SSE); `last` is the response.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub messages: Vec<Value>,
}

impl Answer {
    /// The JSON-RPC response (the last message).
    pub fn response(&self) -> &Value {
        self.messages.last().unwrap_or(&Value::Null)
    }

    pub fn result(&self) -> &Value {
        &self.response()["result"]
    }

    pub fn error_code(&self) -> Option<i64> {
        self.response()["error"]["code"].as_i64()
    }
}

impl Stateless {
    pub fn new(sc: &Sidecar) -> Self {
        Self {
            client: sc.client.clone(),
            url: sc.mcp(),
            user: None,
            caps: json!({"sampling": {}, "elicitation": {}, "roots": {}}),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn for_user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    pub fn with_caps(mut self, caps: Value) -> Self {
        self.caps = caps;
        self
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A request body with `_meta` (version, capabilities, client info) merged into `params`.
    pub fn body(&self, id: Value, method: &str, params: Value) -> Value {
        let mut params = if params.is_object() {
            params
        } else {
            json!({})
        };
        let meta = params["_meta"].as_object().cloned().unwrap_or_default();
        let mut full = json!({
            "io.modelcontextprotocol/protocolVersion": V_2026_07_28,
            "io.modelcontextprotocol/clientCapabilities": self.caps,
            "io.modelcontextprotocol/clientInfo": {"name": "sidecar-tests", "version": "1.0.0"},
        });
        for (k, v) in meta {
            full[k] = v;
        }
        params["_meta"] = full;
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
    }

    /// A POST of `body` with the routing headers it calls for.
    pub fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.post_accepting(body, "application/json, text/event-stream")
    }

    /// `post` with `accept` as the Accept header.
    pub fn post_accepting(&self, body: &Value, accept: &str) -> reqwest::RequestBuilder {
        let method = body["method"].as_str().unwrap_or_default();
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-protocol-version", V_2026_07_28)
            .body(body.to_string());
        if !method.is_empty() {
            req = req.header("mcp-method", method);
        }
        if let Some(name) = routed_name(method, &body["params"]) {
            req = req.header("mcp-name", name);
        }
        if let Some(user) = &self.user {
            req = req.header("x-user-id", user);
        }
        req
    }

    /// Sends `req` and reads the whole answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = within(ANSWER_WITHIN, "stateless request", req.send())
            .await
            .unwrap();
        let status = resp.status();
        let content_type = content_type(&resp);
        let messages = if content_type.is_empty() {
            Vec::new()
        } else {
            within(ANSWER_WITHIN, "stateless answer", messages(resp)).await
        };
        Answer {
            status,
            content_type,
            messages,
        }
    }

    /// `method` with `params` (plus `_meta`), headers as a client sends them.
    pub async fn request(&self, method: &str, params: Value) -> Answer {
        let body = self.body(json!(self.next_id()), method, params);
        self.send(self.post(&body)).await
    }

    /// `tools/call` of `name` and the result (panics on a JSON-RPC error).
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Value {
        let answer = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{name}: {:?}",
            answer.messages
        );
        assert!(
            answer.response().get("result").is_some(),
            "{name}: {:?}",
            answer.messages
        );
        answer.result().clone()
    }
}
