//! Children that misbehave (docs/architecture/overview.md#children): real processes from
//! `tests/fixtures/faulty_server.py` that crash mid-request, flood stderr, print one 10 MiB line,
//! never answer or print garbage.
//! After each: the pending request got a JSON-RPC answer, the sidecar still serves, and no child
//! process is left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Call the fixture's only tool and return the JSON-RPC response message for it.
async fn call_misbehave(session: &Session, id: u64) -> Value {
    let body = misbehave_call(id);
    let resp = within(ANSWER_WITHIN, "tools/call", session.post(&body).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    within(
        ANSWER_WITHIN,
        "tools/call answer",
        response_for(resp, &json!(id)),
    )
    .await
}

/// Call the fixture's tool and expect a JSON-RPC error for it within `limit`.
async fn error_within(session: &Session, id: u64, limit: Duration, what: &str) -> Value {
    let started = Instant::now();
    let answer = call_misbehave(session, id).await;
    assert_eq!(answer["id"], id, "{what}: {answer}");
    assert!(
        answer["error"]["code"].is_i64(),
        "{what} is a JSON-RPC error: {answer}"
    );
    assert!(
        started.elapsed() < limit,
        "{what}: answered after {:?}",
        started.elapsed()
    );
    answer
}

/// The session is gone (404) and its child with it; the sidecar still serves.
async fn assert_session_gone(sc: &Sidecar, session: &Session, idle: usize) {
    assert_eq!(
        session.status_of("ping").await,
        StatusCode::NOT_FOUND,
        "the broken child's session is gone"
    );
    sc.assert_children_at_most(idle, "after the child broke")
        .await;
    sc.assert_still_serves().await;
    sc.assert_children_at_most(idle, "after a fresh session came and went")
        .await;
}

#[tokio::test]
async fn child_crash_mid_request_fails_the_request_and_ends_the_session() {
    let sc = sidecar(fixture("crash")).start().await;
    let idle = sc.steady_children().await;
    // Once with a JSON answer, once with an SSE answer (the error arrives as the stream's event).
    for accept in ["application/json", "text/event-stream"] {
        let session = sc.initialize(V_2025_11_25).await;
        let answer = session.answer_with(&misbehave_call(7), accept).await;
        assert!(
            answer["error"]["code"].is_i64(),
            "{accept}: child death is a JSON-RPC error: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "{accept}: the error says what happened: {answer}"
        );
        assert_session_gone(&sc, &session, idle).await;
    }
}

#[tokio::test]
async fn delete_with_a_request_in_flight_ends_it_and_kills_the_child() {
    let sc = sidecar(fixture("hang")).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    let stream = session.post_sse(&misbehave_call(8)).await;
    assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
    // The in-flight call ends: an error event for it, or the stream simply closes; never a hang.
    drain_expecting_only_errors(stream, "stream after DELETE").await;
    sc.assert_clean(&[], idle).await;
}

#[tokio::test]
async fn twenty_mib_of_stderr_is_drained() {
    let sc = sidecar(fixture("stderr-flood")).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    let answer = call_misbehave(&session, 1).await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "flooded 20 MiB of stderr",
        "{answer}"
    );
    // The session survives a noisy child.
    assert_eq!(
        session.request("ping", json!({})).await["result"],
        json!({})
    );
    assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
    sc.assert_children_at_most(idle, "after DELETE").await;
    sc.assert_still_serves().await;
}

#[tokio::test]
async fn ten_mib_single_line_result_arrives_intact() {
    const SIZE: usize = 10 * 1024 * 1024;
    let sc = sidecar(fixture("huge-line"))
        .env("FAULT_HUGE_BYTES", SIZE)
        .start()
        .await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    for accept in ["application/json", "text/event-stream"] {
        let id = session.next_id();
        let answer = session.answer_with(&misbehave_call(id), accept).await;
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .expect("text result");
        assert_eq!(text.len(), SIZE, "{accept}: length");
        let pattern = "0123456789abcdef".repeat(SIZE / 16);
        assert!(
            text == pattern,
            "{accept}: content differs from the pattern"
        );
    }
    assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
    sc.assert_children_at_most(idle, "after DELETE").await;
    sc.assert_still_serves().await;
}

#[tokio::test]
async fn child_that_never_answers_times_out_and_is_cancelled() {
    let marker = std::env::temp_dir().join(unique("sidecar-cancel"));
    let sc = sidecar(fixture("hang"))
        .env("SIDECAR_REQUEST_TIMEOUT_SECS", 2)
        .env("FAULT_CANCEL_MARKER", marker.display())
        .start()
        .await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    error_within(&session, 3, Duration::from_secs(30), "timeout").await;
    // On expiry the child gets notifications/cancelled for the request
    // (docs/architecture/overview.md#children; MCP "Cancellation"): the fixture records it in the
    // marker file.
    let start = Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the child never got notifications/cancelled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cancelled: Value = serde_json::from_str(
        std::fs::read_to_string(&marker)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(
        cancelled.get("requestId").is_some(),
        "cancelled names the request: {cancelled}"
    );
    let _ = std::fs::remove_file(&marker);
    // The session either survives (the child still answers ping) or is gone (404); never a hang.
    let resp = within(
        ANSWER_WITHIN,
        "ping after timeout",
        session
            .post(&request_body(json!(4), "ping", json!({})))
            .send(),
    )
    .await
    .unwrap();
    match resp.status() {
        StatusCode::OK => {
            assert_eq!(response_for(resp, &json!(4)).await["result"], json!({}));
            assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
        }
        StatusCode::NOT_FOUND => {}
        other => panic!("after a timeout: {other}"),
    }
    sc.assert_children_at_most(idle, "after the timed-out session ended")
        .await;
    sc.assert_still_serves().await;
}

#[tokio::test]
async fn garbage_on_stdout_fails_the_request_and_ends_the_session() {
    // MCP 2025-11-25 "Transports" > stdio: the server MUST NOT write anything to stdout that is not
    // a valid MCP message; docs/architecture/overview.md#children: a child that breaks the protocol
    // fails its pending requests at once and its session ends. The timeout is long so that a
    // timeout answer cannot pass.
    let sc = sidecar(fixture("garbage"))
        .env("SIDECAR_REQUEST_TIMEOUT_SECS", 20)
        .start()
        .await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    // Failed at once: the 20 s timeout cannot be what answered.
    error_within(&session, 5, Duration::from_secs(10), "protocol break").await;
    assert_session_gone(&sc, &session, idle).await;
}
