//! MCP 2026-07-28 on the sidecar's one endpoint (issue 10 items 1 and 5): stateless requests next
//! to legacy sessions, every header rule and error of the revision with its HTTP status, results as
//! the revision has them, the loopback Origin rule, and which child serves whom.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn both_eras_are_served_on_one_url() {
    let key = "k3y-0f-the-request-state-never-shown-to-children";
    let sc = sidecar(everything())
        .env("SIDECAR_REQUEST_STATE_KEY", key)
        .start()
        .await;
    let client = Stateless::new(&sc);
    // The requestState key is a secret of the sidecar: the MCP server never sees it.
    let env = client.call_tool("get-env", json!({})).await;
    assert!(
        !env.to_string().contains(key),
        "the child's environment shows the key"
    );
    // server/discover: the children's initialize result, every revision served (MCP 2026-07-28
    // "Discovery"), caching hints and the server's identity in _meta.
    let discover = client.request("server/discover", json!({})).await;
    assert_eq!(discover.status, StatusCode::OK);
    let result = discover.result();
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["supportedVersions"],
        json!(["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"])
    );
    assert!(result["capabilities"]["tools"].is_object(), "{result}");
    assert!(
        result["capabilities"].get("logging").is_none(),
        "no log messages are bridged"
    );
    assert!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"].is_string());
    assert!(result["ttlMs"].is_u64() && result["cacheScope"] == "public");
    // Every result carries resultType; cacheable ones the caching hints (MCP 2026-07-28 "Caching").
    let tools = client.request("tools/list", json!({})).await;
    assert_eq!(tools.result()["resultType"], "complete");
    assert_eq!(tools.result()["ttlMs"], 0);
    assert_eq!(tools.result()["cacheScope"], "private");
    let echo = client
        .call_tool("echo", json!({"message": "stateless"}))
        .await;
    assert_eq!(echo["resultType"], "complete");
    assert_eq!(echo["content"][0]["text"], "Echo: stateless");
    // A client that takes SSE only gets even a quick answer as a stream.
    let args = json!({"name": "echo", "arguments": {"message": "sse"}});
    let body = client.body(json!(9), "tools/call", args);
    let streamed = client
        .send(client.post_accepting(&body, "text/event-stream"))
        .await;
    assert!(streamed.content_type.starts_with("text/event-stream"));
    assert_eq!(streamed.result()["content"][0]["text"], "Echo: sse");
    // A legacy session on the same URL at the same time, exactly as before.
    let session = sc.initialize(V_2025_11_25).await;
    assert_eq!(
        session
            .call_tool_text("echo", json!({"message": "legacy"}))
            .await,
        "Echo: legacy"
    );
    // GET and DELETE without a session: 405 (the stateless revision has no GET stream).
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let resp = sc
            .client
            .request(method.clone(), sc.mcp())
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", V_2026_07_28)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
}

/// The error of a stateless request: its status, code, and the request's id echoed.
async fn refused(
    client: &Stateless,
    req: reqwest::RequestBuilder,
    id: &Value,
) -> (StatusCode, i64) {
    let answer = client.send(req).await;
    let response = answer.response();
    assert_eq!(
        &response["id"], id,
        "the error names the request: {response}"
    );
    (answer.status, answer.error_code().unwrap_or(0))
}

/// MCP 2026-07-28 "Standard headers" and "Per-request protocol fields": each rule, its status and
/// JSON-RPC code. After all of them the sidecar still serves.
#[tokio::test]
async fn every_header_rule_and_error_has_its_status_and_code() {
    let sc = sidecar(everything()).start().await;
    let client = Stateless::new(&sc);
    let id = json!("r1");
    let call = client.body(
        id.clone(),
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "x"}}),
    );
    let without_version = sc
        .client
        .post(sc.mcp())
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(call.to_string());
    let header_cases = [
        ("no MCP-Protocol-Version", without_version),
        (
            "MCP-Protocol-Version differs from _meta",
            client.post(&call).set("mcp-protocol-version", V_2025_11_25),
        ),
        (
            "Mcp-Method differs",
            client.post(&call).set("mcp-method", "tools/list"),
        ),
        (
            "Mcp-Method case differs",
            client.post(&call).set("mcp-method", "Tools/Call"),
        ),
        (
            "Mcp-Method twice",
            client.post(&call).header("mcp-method", "tools/call"),
        ),
        (
            "Mcp-Name differs",
            client.post(&call).set("mcp-name", "other"),
        ),
    ];
    for (what, req) in header_cases {
        let (status, code) = refused(&client, req, &id).await;
        assert_eq!((status, code), (StatusCode::BAD_REQUEST, -32020), "{what}");
    }
    // Whitespace around header values is not part of them (RFC 9110 §5.5); a non-ASCII name
    // travels in the base64 sentinel; unknown Mcp-Param-* headers pass on.
    let tolerant = client
        .post(&call)
        .set("mcp-method", " tools/call ")
        .set("mcp-name", "=?base64?ZWNobw==?=")
        .header("mcp-param-unknown", "anything");
    let answer = client.send(tolerant).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.messages);
    // The revision must be one served: -32022 naming the supported ones and echoing the request.
    let future = json!({"jsonrpc": "2.0", "id": "v", "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2099-01-01",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let answer = client
        .send(
            client
                .post(&future)
                .set("mcp-protocol-version", "2099-01-01"),
        )
        .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (StatusCode::BAD_REQUEST, Some(-32022))
    );
    let data = &answer.response()["error"]["data"];
    assert_eq!(data["requested"], "2099-01-01");
    assert!(
        data["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(V_2026_07_28)),
        "{data}"
    );
    // _meta must carry the version and the capabilities: -32602.
    for meta in [
        json!(null),
        json!({"io.modelcontextprotocol/protocolVersion": V_2026_07_28}),
    ] {
        let body =
            json!({"jsonrpc": "2.0", "id": "m", "method": "tools/list", "params": {"_meta": meta}});
        let (status, code) = refused(&client, client.post(&body), &json!("m")).await;
        assert_eq!(
            (status, code),
            (StatusCode::BAD_REQUEST, -32602),
            "_meta {meta}"
        );
    }
    // Unknown methods and those the revision removed: 404 with -32601.
    for method in [
        "no/such",
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ] {
        let body = client.body(json!(method), method, json!({}));
        let (status, code) = refused(&client, client.post(&body), &json!(method)).await;
        assert_eq!((status, code), (StatusCode::NOT_FOUND, -32601), "{method}");
    }
    // One request per POST; a client posts no responses; a notification is taken and dropped.
    let batch = json!([client.body(json!(1), "tools/list", json!({}))]);
    let answer = client
        .send(client.post(&batch).header("mcp-method", "tools/list"))
        .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (StatusCode::BAD_REQUEST, Some(-32600))
    );
    let posted_response = json!({"jsonrpc": "2.0", "id": 5, "result": {}});
    let answer = client.send(client.post(&posted_response)).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (StatusCode::BAD_REQUEST, Some(-32600))
    );
    let note =
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}});
    assert_eq!(
        client.send(client.post(&note)).await.status,
        StatusCode::ACCEPTED
    );
    // A tool's own invalid arguments come back from the child with -32602: 400 as well.
    let answer = client
        .request("tools/call", json!({"name": "echo", "arguments": {}}))
        .await;
    if answer.error_code() == Some(-32602) {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    } else {
        assert_eq!(answer.result()["isError"], true, "{:?}", answer.messages);
    }
    assert_eq!(
        client.call_tool("echo", json!({"message": "still"})).await["content"][0]["text"],
        "Echo: still"
    );
}

/// Issue 10 item 5: an Origin equal to the sidecar's own loopback origin needs no listing; any
/// other unlisted Origin stays 403, in both eras.
#[tokio::test]
async fn the_own_loopback_origin_is_accepted_without_listing() {
    let sc = sidecar(fixture("echo"))
        .env("SIDECAR_ALLOWED_ORIGINS", "https://listed.example")
        .start()
        .await;
    let client = Stateless::new(&sc);
    let body = client.body(json!(1), "tools/list", json!({}));
    let port = sc.port;
    for origin in [
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
        "https://listed.example".into(),
    ] {
        let answer = client
            .send(client.post(&body).header("origin", &origin))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{origin}");
        let legacy = sc
            .post_raw(&initialize_body(1, V_2025_11_25))
            .header("origin", &origin)
            .send()
            .await
            .unwrap();
        assert_eq!(legacy.status(), StatusCode::OK, "initialize from {origin}");
    }
    for origin in [
        format!("http://localhost:{}", port.wrapping_add(1)),
        format!("https://localhost:{port}"),
        "http://evil.example".into(),
    ] {
        let answer = client
            .send(client.post(&body).header("origin", &origin))
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{origin}");
    }
}

/// Servers with per-process state must not let one user's stateless requests share a child with
/// another user's: each user gets a child of their own, kept while they are active and ended once
/// idle.
#[tokio::test]
async fn each_user_gets_children_of_their_own_ended_when_idle() {
    let sc = sidecar(fixture("echo"))
        .env("SIDECAR_IDLE_TIMEOUT_SECS", "2")
        .start()
        .await;
    let idle = sc.steady_children().await;
    let alice = Stateless::new(&sc).for_user("alice");
    let bob = Stateless::new(&sc).for_user("bob");
    alice.call_tool("misbehave", json!({"n": 1})).await;
    sc.wait_descendants("alice's child", |p| p.len() == idle + 1)
        .await;
    alice.call_tool("misbehave", json!({"n": 2})).await;
    bob.call_tool("misbehave", json!({"n": 3})).await;
    sc.wait_descendants("one child per user", |p| p.len() == idle + 2)
        .await;
    assert_eq!(
        sc.descendants().len(),
        idle + 2,
        "alice's second request reused her child"
    );
    // Idle for SIDECAR_IDLE_TIMEOUT_SECS: both children end (bounded poll, no fixed sleep).
    sc.wait_descendants("idle users' children ended", |p| p.len() == idle)
        .await;
    assert_eq!(
        alice.call_tool("misbehave", json!({"n": 4})).await["content"][0]["text"],
        r#"{"n": 4}"#
    );
}

/// Shared mode: every user's stateless requests go to the shared pool; children ask no client for
/// input there (docs/architecture/overview.md#children), so such a request is refused to the child,
/// never sent to a client.
#[tokio::test]
async fn shared_mode_serves_stateless_requests_from_the_shared_pool() {
    let sc = sidecar(conformance_server())
        .env("SIDECAR_SESSION_MODE", "shared")
        .env("SIDECAR_SHARED_POOL", "2")
        .start()
        .await;
    let children = sc.steady_children().await;
    for user in ["alice", "bob", "carol"] {
        let client = Stateless::new(&sc).for_user(user);
        let text = client.call_tool("test_simple_text", json!({})).await;
        assert_eq!(text["resultType"], "complete");
    }
    assert_eq!(
        sc.descendants().len(),
        children,
        "users share the pool's children"
    );
    let asking = Stateless::new(&sc)
        .call_tool("test_input_required_result_elicitation", json!({}))
        .await;
    assert_ne!(asking["resultType"], "input_required", "{asking}");
    assert_eq!(
        asking["isError"], true,
        "the child learns nobody can answer: {asking}"
    );
}

/// Closing the response stream cancels the child's request (`notifications/cancelled`).
#[tokio::test]
async fn closing_the_stream_cancels_the_childs_request() {
    let marker = std::env::temp_dir().join(unique("sidecar-stateless-cancel"));
    let sc = sidecar(fixture("hang"))
        .env("FAULT_CANCEL_MARKER", marker.display())
        .env("SIDECAR_KEEPALIVE_SECS", "1")
        .start()
        .await;
    let client = Stateless::new(&sc);
    let body = client.body(
        json!("slow"),
        "tools/call",
        json!({"name": "misbehave", "arguments": {}}),
    );
    // Quiet for a keep-alive interval, the answer becomes a stream: the request is at the child.
    let resp = within(ANSWER_WITHIN, "stream head", client.post(&body).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(content_type(&resp).starts_with("text/event-stream"));
    drop(resp);
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < ANSWER_WITHIN,
            "the child never got notifications/cancelled"
        );
        tokio::time::sleep(POLL).await;
    }
    let cancelled: Value =
        serde_json::from_str(&std::fs::read_to_string(&marker).unwrap()).unwrap();
    assert!(
        cancelled["requestId"].is_u64(),
        "names the child's request: {cancelled}"
    );
    let _ = std::fs::remove_file(&marker);
    sc.assert_still_serves().await;
}
