//! Bad input and refused requests on the MCP endpoint (docs/architecture/overview.md#protocol-eras,
//! docs/architecture/security.md#who-trusts-whom; MCP 2025-11-25, Transports: "Streamable HTTP",
//! "Session Management", "Protocol Version Header"; client requirements M3, M4
//! (docs/architecture/client-requirements.md)):
//! missing or foreign sessions, version header, malformed JSON, ids that are no string or number,
//! content type, Origin/Host, methods.
//! After each, the sidecar still serves and no child beyond the idle pools is left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The JSON-RPC error code in an error body, if any.
async fn error_code(resp: reqwest::Response) -> Option<i64> {
    let body: Value = resp.json().await.ok()?;
    body["error"]["code"].as_i64()
}

#[tokio::test]
async fn request_without_session_is_400() {
    let sc = sidecar(fixture("echo")).start().await;
    let resp = sc
        .post_raw(&request_body(json!(1), "tools/list", json!({})))
        .header("mcp-protocol-version", V_2025_11_25)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_session_is_404() {
    let sc = sidecar(fixture("echo")).start().await;
    let idle = sc.steady_children().await;
    let mut session = sc.initialize(V_2025_11_25).await;
    let real = std::mem::replace(
        &mut session.id,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    );
    let resp = session
        .post(&request_body(json!(1), "ping", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        session.get().send().await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "GET"
    );
    assert_eq!(session.delete().await, StatusCode::NOT_FOUND, "DELETE");
    session.id = real;
    sc.assert_clean(&[&session], idle).await;
}

#[tokio::test]
async fn another_users_session_is_404() {
    let sc = sidecar(fixture("echo")).start().await;
    let idle = sc.steady_children().await;
    let alice = sc.initialize_as(V_2025_11_25, Some("alice")).await;
    let mut mallory = sc.initialize_as(V_2025_11_25, Some("mallory")).await;
    let own = std::mem::replace(&mut mallory.id, alice.id.clone());
    for method in ["ping", "tools/list"] {
        assert_eq!(
            mallory.status_of(method).await,
            StatusCode::NOT_FOUND,
            "{method} in alice's session as mallory"
        );
    }
    assert_eq!(
        mallory.get().send().await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "GET as mallory"
    );
    assert_eq!(
        mallory.delete().await,
        StatusCode::NOT_FOUND,
        "DELETE as mallory"
    );
    // Still alive for its owner.
    assert_eq!(alice.request("ping", json!({})).await["result"], json!({}));
    mallory.id = own;
    sc.assert_clean(&[&alice, &mallory], idle).await;
}

#[tokio::test]
async fn protocol_version_header_rules() {
    let sc = sidecar(fixture("echo")).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    let ping = request_body(json!(5), "ping", json!({}));
    // Absent: accepted (VS Code sends none after initialize, client requirement M3).
    let absent = sc
        .post_raw(&ping)
        .header("mcp-session-id", &session.id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        absent.status(),
        StatusCode::OK,
        "absent MCP-Protocol-Version"
    );
    // Unsupported: 400.
    let unsupported = session
        .post(&ping)
        .set("mcp-protocol-version", "1999-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(
        unsupported.status(),
        StatusCode::BAD_REQUEST,
        "unsupported version"
    );
    // Supported but not the negotiated one: 400.
    let mismatched = session
        .post(&ping)
        .set("mcp-protocol-version", V_2025_06_18)
        .send()
        .await
        .unwrap();
    assert_eq!(
        mismatched.status(),
        StatusCode::BAD_REQUEST,
        "mismatched version"
    );
}

#[tokio::test]
async fn malformed_json_is_400_parse_error() {
    let sc = sidecar(fixture("echo")).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    for bad in [
        &b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": "[..],
        b"not json at all",
        b"\xff\xfe\x00",
    ] {
        let resp = session.post_bytes(bad.to_vec()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "body {bad:?}");
        assert_eq!(
            error_code(resp).await,
            Some(-32700),
            "JSON-RPC parse error for {bad:?}"
        );
    }
    // Without a session too (the initialize path).
    let resp = sc
        .client
        .post(sc.mcp())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(resp).await, Some(-32700));
    assert_eq!(
        session.request("ping", json!({})).await["result"],
        json!({})
    );
    sc.assert_clean(&[&session], idle).await;
}

#[tokio::test]
async fn a_request_id_that_is_no_string_or_number_is_400_invalid_request() {
    // JSON-RPC 2.0 §4: an id is a string or a number; MCP's base protocol forbids anything else.
    // Such a message is refused whole, never forwarded to the child.
    let sc = sidecar(fixture("echo")).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    for id in [json!({"a": 1}), json!([1]), json!(true)] {
        let resp = session
            .post(&request_body(id.clone(), "ping", json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "id {id}");
        assert_eq!(error_code(resp).await, Some(-32600), "id {id}");
    }
    assert_eq!(
        session.request("ping", json!({})).await["result"],
        json!({})
    );
    sc.assert_clean(&[&session], idle).await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let sc = sidecar(fixture("echo")).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    let resp = session
        .post(&request_body(json!(1), "ping", json!({})))
        .set("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    sc.assert_clean(&[&session], idle).await;
}

#[tokio::test]
async fn origin_and_host_are_validated() {
    let sc = sidecar(fixture("echo")).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    let ping = request_body(json!(1), "ping", json!({}));
    let evil = session
        .post(&ping)
        .header("origin", "http://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), StatusCode::FORBIDDEN, "foreign Origin");
    let good = session
        .post(&ping)
        .header("origin", format!("http://127.0.0.1:{}", sc.port))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::OK, "allowed Origin");
    let rebinding = session
        .post(&ping)
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebinding.status(),
        StatusCode::FORBIDDEN,
        "foreign Host (DNS rebinding)"
    );
    // An initialize from a foreign origin must not create a session.
    let resp = sc
        .post_raw(&initialize_body(1, V_2025_11_25))
        .header("origin", "http://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("mcp-session-id").is_none());
    sc.assert_clean(&[&session], idle).await;
}

#[tokio::test]
async fn wrong_method_is_405_and_unknown_path_404() {
    let sc = sidecar(fixture("echo")).start().await;
    let put = sc.client.put(sc.mcp()).body("{}").send().await.unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        put.headers().get("allow").is_some(),
        "405 names the allowed methods"
    );
    let post_health = sc.client.post(sc.url("/health")).send().await.unwrap();
    assert_eq!(post_health.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(sc.get_status("/nope").await, StatusCode::NOT_FOUND);
    // GET and DELETE without a legacy session: 405 (modern era,
    // docs/api/endpoints.md#the-mcp-endpoint).
    let get = sc
        .client
        .get(sc.mcp())
        .set("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(
        get.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "GET without session"
    );
    let delete = sc.client.delete(sc.mcp()).send().await.unwrap();
    assert_eq!(
        delete.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "DELETE without session"
    );
}
