//! Named limits and concurrency (docs/architecture/overview.md#children: every limit is named,
//! configured and documented): sessions (503 + Retry-After), sessions per user, body size (413),
//! line size, concurrent requests per session, and id remapping under 200 concurrent requests that
//! reuse the same client ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn too_many_sessions_is_503_with_retry_after() {
    let sc = sidecar(fixture("echo"))
        .env("SIDECAR_MAX_SESSIONS", 2)
        .start()
        .await;
    let idle = sc.steady_children().await;
    let a = sc.initialize(V_2025_11_25).await;
    let b = sc.initialize(V_2025_11_25).await;
    let resp = sc
        .post_raw(&initialize_body(1, V_2025_11_25))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = resp
        .headers()
        .get("retry-after")
        .expect("Retry-After on 503");
    assert!(
        retry_after.to_str().unwrap().parse::<u64>().is_ok(),
        "Retry-After in seconds: {retry_after:?}"
    );
    assert!(resp.headers().get("mcp-session-id").is_none());
    // A freed slot is usable again.
    assert_eq!(a.delete().await, StatusCode::NO_CONTENT);
    let c = sc.initialize(V_2025_11_25).await;
    assert_eq!(c.request("ping", json!({})).await["result"], json!({}));
    sc.assert_clean(&[&b, &c], idle).await;
}

#[tokio::test]
async fn sessions_per_user_are_limited() {
    let sc = sidecar(fixture("echo"))
        .env("SIDECAR_MAX_SESSIONS_PER_USER", 1)
        .start()
        .await;
    let idle = sc.steady_children().await;
    let alice = sc.initialize_as(V_2025_11_25, Some("alice")).await;
    let resp = sc
        .post_raw(&initialize_body(1, V_2025_11_25))
        .header("x-user-id", "alice")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(
        status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "second session of alice: {status}"
    );
    assert!(resp.headers().get("mcp-session-id").is_none());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(
        body["error"]["message"].is_string(),
        "a clear JSON-RPC error: {body}"
    );
    // Another user is not affected.
    let bob = sc.initialize_as(V_2025_11_25, Some("bob")).await;
    assert_eq!(bob.request("ping", json!({})).await["result"], json!({}));
    sc.assert_clean(&[&alice, &bob], idle).await;
}

/// A proxy in front (Traefik) sends a body in full before it reads the answer: a refused body is
/// read to its end (within bounds) so that the 413 reaches it instead of a reset connection, which
/// it would report as 502. Sent over a raw socket, the way such a proxy writes.
#[tokio::test]
async fn a_refused_body_is_read_to_its_end_before_the_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sc = sidecar(fixture("echo"))
        .env("SIDECAR_MAX_BODY_BYTES", 4096)
        .start()
        .await;
    let session = sc.initialize(V_2025_11_25).await;
    // Far more than the socket buffers hold: without the discard the write fails on the reset.
    let body = vec![b'x'; 16 << 20];
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMcp-Session-Id: {}\r\n\
         MCP-Protocol-Version: {V_2025_11_25}\r\nContent-Length: {}\r\n\r\n",
        sc.port,
        session.id,
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", sc.port))
        .await
        .unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
        .write_all(&body)
        .await
        .expect("the whole refused body is taken");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = within(ANSWER_WITHIN, "413 head", socket.read(&mut buf))
            .await
            .unwrap();
        assert!(n > 0, "closed before an answer: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    sc.assert_still_serves().await;
}

#[tokio::test]
async fn oversize_body_is_413() {
    let sc = sidecar(fixture("echo"))
        .env("SIDECAR_MAX_BODY_BYTES", 4096)
        .start()
        .await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    let big = json!({"name": "misbehave", "arguments": {"blob": "x".repeat(8192)}});
    let resp = session
        .post(&request_body(json!(1), "tools/call", big))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit still works.
    let small = json!({"name": "misbehave", "arguments": {"blob": "x".repeat(1024)}});
    let answer = session.request("tools/call", small).await;
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("xxxx"),
        "{answer}"
    );
    sc.assert_clean(&[&session], idle).await;
}

#[tokio::test]
async fn line_longer_than_the_limit_is_an_error_not_a_hang() {
    let sc = sidecar(fixture("huge-line"))
        .env("SIDECAR_MAX_LINE_BYTES", 1024 * 1024)
        .env("FAULT_HUGE_BYTES", 4 * 1024 * 1024)
        .start()
        .await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    let body = misbehave_call(1);
    let resp = within(ANSWER_WITHIN, "oversize line", session.post(&body).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answer = within(
        ANSWER_WITHIN,
        "oversize line answer",
        response_for(resp, &json!(1)),
    )
    .await;
    assert!(
        answer["error"]["code"].is_i64(),
        "a line over the limit is a JSON-RPC error: {answer}"
    );
    // The session's child broke the framing: its session is gone, or (if kept) it is ended here.
    let resp = session
        .post(&request_body(json!(2), "ping", json!({})))
        .send()
        .await
        .unwrap();
    if resp.status() == StatusCode::OK {
        assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
    } else {
        assert_eq!(
            resp.status(),
            StatusCode::NOT_FOUND,
            "after an oversize line"
        );
    }
    sc.assert_clean(&[], idle).await;
}

#[tokio::test]
async fn concurrent_requests_per_session_are_limited() {
    let sc = sidecar(everything())
        .env("SIDECAR_MAX_CONCURRENT_REQUESTS", 2)
        .start()
        .await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    let calls = (0..4).map(|_| {
        session.request(
            "tools/call",
            json!({"name": "trigger-long-running-operation", "arguments": {"duration": 2, "steps": 2}}),
        )
    });
    let answers = within(ANSWER_WITHIN, "4 concurrent long calls", join_all(calls)).await;
    let ok = answers.iter().filter(|a| a.get("result").is_some()).count();
    let refused = answers
        .iter()
        .filter(|a| a["error"]["code"].is_i64())
        .count();
    assert!(ok >= 2, "the first two run: {answers:?}");
    assert!(
        refused >= 1,
        "beyond the limit: a JSON-RPC error: {answers:?}"
    );
    assert_eq!(
        session.request("ping", json!({})).await["result"],
        json!({})
    );
    sc.assert_clean(&[&session], idle).await;
}

#[tokio::test]
async fn two_hundred_concurrent_requests_with_duplicate_ids_are_matched() {
    let sc = sidecar(everything())
        .env("SIDECAR_MAX_CONCURRENT_REQUESTS", 256)
        .start()
        .await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    // Ten distinct ids, each used by twenty requests at once; each echo carries its own message.
    let posts = (0..200u32).map(|n| {
        let id = json!(n % 10);
        let message = format!("message-{n}");
        let body = request_body(
            id.clone(),
            "tools/call",
            json!({"name": "echo", "arguments": {"message": message}}),
        );
        // Half the answers as JSON, half as SSE streams.
        let accept = if n % 2 == 0 {
            "application/json"
        } else {
            "text/event-stream"
        };
        let req = session.post(&body).set("accept", accept);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "request {n}");
            let answer = response_for(resp, &id).await;
            (message, answer)
        }
    });
    let results = within(ANSWER_WITHIN, "200 concurrent echoes", join_all(posts)).await;
    for (message, answer) in &results {
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(
            text.ends_with(&format!(" {message}")),
            "answer {text:?} belongs to another request than {message}"
        );
    }
    assert_eq!(results.len(), 200);
    sc.assert_clean(&[&session], idle).await;
}
