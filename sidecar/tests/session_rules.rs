//! The life of a legacy-era session on the MCP endpoint
//! (docs/architecture/overview.md#protocol-eras; MCP 2025-11-25 "Lifecycle", Transports:
//! "Streamable HTTP", "Session Management"; client requirement M3
//! (docs/architecture/client-requirements.md)): initialize for every revision, 202 for
//! notifications and responses, JSON or SSE by `Accept`, batches only in 2025-03-26, DELETE, and
//! what a modern (2026-07-28) client gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn initialize_creates_a_session_for_every_legacy_revision() {
    let sc = sidecar(fixture("echo")).start().await;
    let mut ids = Vec::new();
    for version in [V_2025_03_26, V_2025_06_18, V_2025_11_25] {
        let session = sc.initialize(version).await;
        // >= 128 bits from a CSPRNG, URL-safe (docs/api/endpoints.md#the-mcp-endpoint; spec:
        // visible ASCII only).
        assert!(
            session.id.len() >= 22,
            "session id too short: {}",
            session.id
        );
        assert!(
            session
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "session id not URL-safe: {}",
            session.id
        );
        assert_eq!(
            session.request("ping", json!({})).await["result"],
            json!({})
        );
        ids.push(session.id.clone());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "session ids must be unique");
}

#[tokio::test]
async fn notifications_and_responses_only_get_202_without_body() {
    let sc = sidecar(fixture("echo")).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    let status = session
        .notify(
            "notifications/cancelled",
            Some(json!({"requestId": 12345, "reason": "test"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // A response-only POST (to a server request that does not exist) is accepted too.
    let resp = session
        .post(&json!({"jsonrpc": "2.0", "id": 777, "result": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(resp.bytes().await.unwrap().is_empty(), "202 has no body");
    assert_eq!(
        session.request("ping", json!({})).await["result"],
        json!({})
    );
}

#[tokio::test]
async fn answer_format_follows_accept() {
    let sc = sidecar(fixture("echo")).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    let body = request_body(json!("json-1"), "tools/list", json!({}));
    let resp = session
        .post(&body)
        .set("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        content_type(&resp).starts_with("application/json"),
        "{}",
        content_type(&resp)
    );
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["id"], "json-1");
    assert_eq!(answer["result"]["tools"][0]["name"], "misbehave");

    let body = request_body(json!("sse-1"), "tools/list", json!({}));
    // Priming event first (checked by post_sse): an id and empty data (MCP 2025-11-25, SEP-1699).
    let mut stream = session.post_sse(&body).await;
    let answer = stream
        .next_within(ANSWER_WITHIN, "response event")
        .await
        .expect("response event");
    assert!(answer.id.is_some(), "every event carries an id: {answer:?}");
    assert_eq!(answer.json()["id"], "sse-1");
    assert!(
        stream
            .next_within(ANSWER_WITHIN, "end of stream")
            .await
            .is_none(),
        "stream closes after the response"
    );
}

#[tokio::test]
async fn batches_only_for_2025_03_26() {
    let sc = sidecar(fixture("echo")).start().await;
    let batch = json!([
        request_body(json!(1), "ping", json!({})),
        request_body(json!(2), "tools/list", json!({})),
    ]);
    let old = sc.initialize(V_2025_03_26).await;
    let resp = old.post(&batch).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answers = messages(resp).await;
    let mut ids: Vec<i64> = answers.iter().filter_map(|m| m["id"].as_i64()).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2], "both batch entries answered: {answers:?}");

    let new = sc.initialize(V_2025_11_25).await;
    let resp = new.post(&batch).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "batch in a 2025-11-25 session"
    );
    assert_eq!(new.request("ping", json!({})).await["result"], json!({}));
}

#[tokio::test]
async fn delete_ends_the_session_and_kills_its_child() {
    let sc = sidecar(fixture("echo")).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
    let resp = session
        .post(&request_body(json!(1), "ping", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "deleted session");
    assert_eq!(
        session.delete().await,
        StatusCode::NOT_FOUND,
        "second DELETE"
    );
    sc.assert_children_at_most(idle, "after DELETE").await;
    assert!(
        sc.descendants().iter().all(|p| p.state != 'Z'),
        "no zombies: {:?}",
        sc.descendants()
    );
}

/// `server/discover` exists only in the stateless revision (2026-07-28), which the sidecar serves:
/// without the per-request `_meta` it is an invalid request of that revision (-32602, 400), never a
/// session error; with it, the discovery result (tests/stateless.rs).
#[tokio::test]
async fn server_discover_without_session_is_a_stateless_request() {
    let sc = sidecar(fixture("echo")).start().await;
    let resp = sc
        .post_raw(&request_body(json!(1), "server/discover", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let answer = response_for(resp, &json!(1)).await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
}

#[tokio::test]
async fn modern_request_gets_an_honest_answer() {
    // A 2026-07-28 client sends no initialize; the sidecar may serve it or refuse it, but with a
    // spec-shaped JSON-RPC message and never a hang or a 5xx (issue 2, item 4).
    let sc = sidecar(fixture("echo")).start().await;
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/list",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "modern", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}
        }}
    });
    let resp = within(
        ANSWER_WITHIN,
        "modern request",
        sc.post_raw(&body)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list")
            .send(),
    )
    .await
    .unwrap();
    assert!(resp.status().as_u16() < 500, "status {}", resp.status());
    let answer = response_for(resp, &json!(1)).await;
    assert!(
        answer.get("result").is_some() || answer["error"]["code"].is_i64(),
        "{answer}"
    );
}
