//! MCP over Streamable HTTP from the client side: a legacy-era session (headers, requests,
//! notifications, DELETE), and reading answers that come as JSON or as SSE streams.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{ANSWER_WITHIN, SseStream, within};

pub fn initialize_body(id: u64, version: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {"sampling": {}, "elicitation": {}},
            "clientInfo": {"name": "sidecar-tests", "version": "1.0.0"}
        }
    })
}

/// A legacy-era MCP session on one sidecar.
pub struct Session {
    pub client: reqwest::Client,
    pub url: String,
    pub id: String,
    pub version: String,
    pub user: Option<String>,
    next_id: AtomicU64,
}

impl Session {
    /// A session not initialized yet (empty id: no session headers are sent).
    pub fn new(client: reqwest::Client, url: String, version: &str, user: Option<&str>) -> Self {
        Self {
            client,
            url,
            id: String::new(),
            version: version.to_string(),
            user: user.map(str::to_string),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A POST carrying this session's headers and `Accept: application/json, text/event-stream`.
    pub fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.post_bytes(serde_json::to_vec(body).unwrap())
    }

    pub fn post_bytes(&self, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if !self.id.is_empty() {
            req = req
                .header("mcp-session-id", &self.id)
                .header("mcp-protocol-version", &self.version);
        }
        if let Some(user) = &self.user {
            req = req.header("x-user-id", user);
        }
        req
    }

    /// POST a request asking for an SSE answer; returns the stream after checking the priming
    /// event, which 2025-11-25 introduced (SEP-1699; older revisions' clients do not expect one).
    pub async fn post_sse(&self, body: &Value) -> SseStream {
        let resp = self
            .post(body)
            .set("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            content_type(&resp).starts_with("text/event-stream"),
            "{}",
            content_type(&resp)
        );
        let mut stream = SseStream::new(resp);
        if self.version != super::V_2025_11_25 {
            return stream;
        }
        let priming = stream
            .next_within(ANSWER_WITHIN, "priming event")
            .await
            .expect("priming event");
        assert!(
            priming.id.as_deref().is_some_and(|id| !id.is_empty()) && priming.data.is_empty(),
            "priming event: an id and empty data: {priming:?}"
        );
        // The reconnection delay for resumption (WHATWG "Server-sent events" `retry`;
        // `SIDECAR_SSE_RETRY_MS` in docs/api/configuration.md).
        assert!(
            priming.retry.is_some(),
            "priming event carries retry: {priming:?}"
        );
        stream
    }

    /// A GET on the endpoint with this session's headers (the standalone SSE stream).
    pub fn get(&self) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", &self.version);
        if let Some(user) = &self.user {
            req = req.header("x-user-id", user);
        }
        req
    }

    /// Send a request and return the JSON-RPC response message for it (JSON or SSE answer).
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let id = json!(self.next_id());
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = within(ANSWER_WITHIN, method, self.post(&body).send())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{method}: status");
        within(ANSWER_WITHIN, method, response_for(resp, &id)).await
    }

    /// POST the request `body` with `Accept: accept`; the JSON-RPC response to it (JSON or SSE).
    pub async fn answer_with(&self, body: &Value, accept: &str) -> Value {
        let resp = within(
            ANSWER_WITHIN,
            "POST",
            self.post(body).set("accept", accept).send(),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "POST with Accept {accept}");
        within(ANSWER_WITHIN, "answer", response_for(resp, &body["id"])).await
    }

    /// The HTTP status of a `method` request in this session (for refused requests).
    pub async fn status_of(&self, method: &str) -> StatusCode {
        let body = request_body(json!(self.next_id()), method, json!({}));
        within(ANSWER_WITHIN, method, self.post(&body).send())
            .await
            .unwrap()
            .status()
    }

    /// `tools/call` and the result's first text block (panics on a JSON-RPC error).
    pub async fn call_tool_text(&self, name: &str, arguments: Value) -> String {
        let answer = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no text content in {answer}"))
            .to_string()
    }

    pub async fn notify(&self, method: &str, params: Option<Value>) -> StatusCode {
        let mut body = json!({"jsonrpc": "2.0", "method": method});
        if let Some(params) = params {
            body["params"] = params;
        }
        let resp = within(ANSWER_WITHIN, method, self.post(&body).send())
            .await
            .unwrap();
        let status = resp.status();
        let rest = resp.bytes().await.unwrap();
        if status == StatusCode::ACCEPTED {
            assert!(rest.is_empty(), "202 must have no body, got {rest:?}");
        }
        status
    }

    pub async fn delete(&self) -> StatusCode {
        let mut req = self
            .client
            .delete(&self.url)
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", &self.version);
        if let Some(user) = &self.user {
            req = req.header("x-user-id", user);
        }
        within(ANSWER_WITHIN, "DELETE", req.send())
            .await
            .unwrap()
            .status()
    }
}

/// Every JSON-RPC message of an answer: one JSON body (object or batch array) or all SSE events.
pub async fn messages(resp: reqwest::Response) -> Vec<Value> {
    let content_type = content_type(&resp);
    if content_type.starts_with("text/event-stream") {
        let mut stream = SseStream::new(resp);
        let mut out = Vec::new();
        while let Some(event) = stream.next().await {
            if !event.data.is_empty() {
                out.push(serde_json::from_str(&event.data).unwrap());
            }
        }
        out
    } else {
        match resp.json::<Value>().await.unwrap() {
            Value::Array(items) => items,
            other => vec![other],
        }
    }
}

/// The response to request `id` among an answer's messages.
pub async fn response_for(resp: reqwest::Response, id: &Value) -> Value {
    let all = messages(resp).await;
    all.iter()
        .find(|m| &m["id"] == id && (m.get("result").is_some() || m.get("error").is_some()))
        .cloned()
        .unwrap_or_else(|| panic!("no response with id {id} among {all:?}"))
}

pub fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// `tools/call` of the fault fixture's only tool (`tests/fixtures/faulty_server.py`).
pub fn misbehave_call(id: u64) -> Value {
    request_body(
        json!(id),
        "tools/call",
        json!({"name": "misbehave", "arguments": {}}),
    )
}

/// A JSON-RPC request body.
pub fn request_body(id: Value, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A call of the everything server's long-running tool: `steps` progress notifications over
/// `duration` seconds, sent with `token` (MCP "Progress", `_meta.progressToken`).
pub fn long_call(id: u64, token: &str, duration: u64, steps: u64) -> Value {
    request_body(
        json!(id),
        "tools/call",
        json!({"name": "trigger-long-running-operation",
               "arguments": {"duration": duration, "steps": steps},
               "_meta": {"progressToken": token}}),
    )
}

/// Replace (not append) a header on a request builder: `RequestBuilder::header` appends a second
/// value, which would test duplicate headers instead of the override we mean.
pub trait SetHeader {
    fn set(self, name: &'static str, value: impl AsRef<str>) -> Self;
}

impl SetHeader for reqwest::RequestBuilder {
    fn set(self, name: &'static str, value: impl AsRef<str>) -> Self {
        let mut map = reqwest::header::HeaderMap::new();
        map.insert(
            reqwest::header::HeaderName::from_static(name),
            reqwest::header::HeaderValue::from_str(value.as_ref()).unwrap(),
        );
        self.headers(map)
    }
}

/// Read an SSE stream to its end where the request it carried was ended by the sidecar (DELETE,
/// shutdown): only a JSON-RPC error may still arrive, and the stream must close, never hang.
pub async fn drain_expecting_only_errors(mut stream: SseStream, what: &str) {
    while let Some(event) = stream.next_within(ANSWER_WITHIN, what).await {
        if !event.data.is_empty() {
            let message = event.json();
            assert!(
                message["error"]["code"].is_i64(),
                "{what}: only an error may follow: {message}"
            );
        }
    }
}
