//! `SIDECAR_SESSION_MODE=shared` (docs/architecture/overview.md#children): legacy sessions are
//! virtual over a shared pool of children the sidecar initialized itself; plus the answer framing
//! rules that differ by revision.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn shared_mode_serves_virtual_sessions() {
    let sc = sidecar(everything())
        .env("SIDECAR_SESSION_MODE", "shared")
        .env("SIDECAR_SHARED_POOL", "2")
        .start()
        .await;
    // Each session gets the revision it asked for, from the cached initialize result.
    let a = sc.initialize(V_2025_06_18).await;
    let b = sc.initialize(V_2025_11_25).await;
    assert_ne!(a.id, b.id);
    // Two shared children and the probe child; sessions add none.
    let children = sc.steady_children().await;
    assert_eq!(children, 3, "{:?}", sc.descendants());
    // Concurrent calls with the same ids in both sessions are each answered to their sender.
    let calls = (0..20).map(|i| {
        let (s, who) = if i % 2 == 0 { (&a, "a") } else { (&b, "b") };
        async move {
            let message = format!("{who}{i}");
            let body = request_body(
                json!(i / 2),
                "tools/call",
                json!({"name": "echo", "arguments": {"message": message}}),
            );
            let answer = s.answer_with(&body, "application/json").await;
            assert_eq!(answer["id"], i / 2);
            assert_eq!(
                answer["result"]["content"][0]["text"],
                format!("Echo: {message}")
            );
        }
    });
    futures::future::join_all(calls).await;
    assert_eq!(
        b.call_tool_text("echo", json!({"message": "x"})).await,
        "Echo: x"
    );
    // Ending a session leaves the shared children running and the other session working.
    assert_eq!(a.delete().await, StatusCode::NO_CONTENT);
    assert_eq!(sc.descendants().len(), children);
    assert_eq!(b.status_of("ping").await, StatusCode::OK);
    assert_eq!(a.status_of("ping").await, StatusCode::NOT_FOUND);
}

/// Priming events came with 2025-11-25 (SEP-1699): an older session's SSE answer starts with the
/// response itself, since its clients may not parse an event with empty data.
#[tokio::test]
async fn sse_answers_before_2025_11_25_carry_no_priming_event() {
    let sc = sidecar(time_server()).start().await;
    let session = sc.initialize(V_2025_06_18).await;
    let body = request_body(
        json!("t"),
        "tools/call",
        json!({"name": "get_current_time", "arguments": {"timezone": "UTC"}}),
    );
    let mut stream = session.post_sse(&body).await;
    let first = stream
        .next_within(ANSWER_WITHIN, "the response")
        .await
        .expect("an event");
    let answer = first.json();
    assert_eq!(answer["id"], "t", "first event is the response: {first:?}");
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("UTC")
    );
}
