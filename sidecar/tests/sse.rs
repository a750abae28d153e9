//! SSE behaviour of the MCP endpoint (MCP 2025-11-25 "Streamable HTTP": sending messages, listening
//! for messages, resumability; docs/architecture/overview.md#protocol-eras): priming event,
//! progress routed by `progressToken`, sampling and elicitation round trips answered by POSTing the
//! response, the standalone GET stream with its queue, `Last-Event-ID` resumption and keep-alive
//! comments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn progress_notifications_reach_the_request_stream_only() {
    let sc = sidecar(everything()).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    let a = session.post_sse(&long_call(1, "token-a", 1, 3)).await;
    let b = session.post_sse(&long_call(1, "token-b", 1, 2)).await;
    let ((pa, ra), (pb, rb)) = futures::join!(
        a.progress_and_response("token-a", 1),
        b.progress_and_response("token-b", 1)
    );
    assert_eq!(pa, vec![1.0, 2.0, 3.0], "progress of a");
    assert_eq!(pb, vec![1.0, 2.0], "progress of b");
    assert!(
        ra["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Steps: 3"),
        "{ra}"
    );
    assert!(
        rb["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Steps: 2"),
        "{rb}"
    );
}

/// Run a tool whose child asks the client something mid-call: answer it by POSTing `answer`
/// and return the tool's final response.
async fn server_request_round_trip(
    session: &Session,
    tool: &str,
    args: Value,
    method: &str,
    answer: Value,
) -> Value {
    let id = session.next_id();
    let mut stream = session
        .post_sse(&request_body(
            json!(id),
            "tools/call",
            json!({"name": tool, "arguments": args}),
        ))
        .await;
    let mut answered = false;
    while let Some(event) = stream.next_within(EVENT_WITHIN, tool).await {
        if event.data.is_empty() {
            continue;
        }
        let message = event.json();
        if message["method"] == method {
            assert!(!answered, "{method} asked twice");
            let server_id = message["id"].clone();
            assert!(
                !server_id.is_null(),
                "a server-to-client request has an id: {message}"
            );
            let resp = session
                .post(&json!({"jsonrpc": "2.0", "id": server_id, "result": answer}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::ACCEPTED,
                "the client's response is accepted"
            );
            answered = true;
        } else if message["id"] == id && message.get("method").is_none() {
            assert!(
                answered,
                "{tool} finished without asking {method}: {message}"
            );
            return message;
        }
    }
    panic!("{tool}: stream ended without a response");
}

#[tokio::test]
async fn sampling_round_trip() {
    let sc = sidecar(everything()).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    let answer = json!({"role": "assistant", "content": {"type": "text", "text": "SAMPLED-BY-THE-TEST"},
                        "model": "test-model", "stopReason": "endTurn"});
    let result = server_request_round_trip(
        &session,
        "trigger-sampling-request",
        json!({"prompt": "say hi"}),
        "sampling/createMessage",
        answer,
    )
    .await;
    let text = result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("SAMPLED-BY-THE-TEST"), "{result}");
}

#[tokio::test]
async fn elicitation_round_trip() {
    let sc = sidecar(everything()).start().await;
    let session = sc.initialize(V_2025_06_18).await;
    let answer = json!({"action": "accept", "content": {"name": "Ada Lovelace", "check": true}});
    let result = server_request_round_trip(
        &session,
        "trigger-elicitation-request",
        json!({}),
        "elicitation/create",
        answer,
    )
    .await;
    let texts: String = result["result"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(texts.contains("Ada Lovelace"), "{result}");
}

/// `logging/setLevel` on the conformance fixture (JSON answer), which then logs the new level
/// without a related request: an unsolicited message for the standalone stream.
async fn set_level(session: &Session, id: Value, level: &str) {
    let body = request_body(id, "logging/setLevel", json!({"level": level}));
    let answer = session.answer_with(&body, "application/json").await;
    assert_eq!(answer["result"], json!({}), "{answer}");
}

/// Wait on a GET stream for a `notifications/message` log entry.
async fn next_log(stream: &mut SseStream) -> Value {
    loop {
        let event = stream
            .next_within(EVENT_WITHIN, "log message on the GET stream")
            .await
            .expect("GET stream open");
        if event.data.is_empty() {
            continue;
        }
        let message = event.json();
        if message["method"] == "notifications/message" {
            assert!(
                event.id.is_some(),
                "standalone events carry ids too: {event:?}"
            );
            return message;
        }
    }
}

#[tokio::test]
async fn standalone_get_stream_with_queue() {
    // The conformance fixture answers logging/setLevel and then logs without a related request:
    // an unsolicited message for the standalone stream
    // (docs/architecture/overview.md#protocol-eras).
    let sc = sidecar(conformance_server()).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    // Before any GET: the message is queued until a stream opens.
    set_level(&session, json!(1), "info").await;
    let resp = session.get().send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(content_type(&resp).starts_with("text/event-stream"));
    let mut stream = SseStream::new(resp);
    let queued = next_log(&mut stream).await;
    assert!(
        queued["params"]["data"]
            .as_str()
            .unwrap_or_default()
            .contains("info"),
        "{queued}"
    );
    // With the stream open: delivered live.
    set_level(&session, json!(2), "debug").await;
    let live = next_log(&mut stream).await;
    assert!(
        live["params"]["data"]
            .as_str()
            .unwrap_or_default()
            .contains("debug"),
        "{live}"
    );
}

#[tokio::test]
async fn keep_alive_comments_on_idle_streams() {
    let sc = sidecar(fixture("echo"))
        .env("SIDECAR_KEEPALIVE_SECS", 1)
        .start()
        .await;
    let session = sc.initialize(V_2025_11_25).await;
    let resp = session.get().send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = SseStream::new(resp);
    stream.wait_comments(2, Duration::from_secs(15)).await;
}

#[tokio::test]
async fn last_event_id_resumes_a_broken_request_stream() {
    let sc = sidecar(everything()).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    let mut stream = session.post_sse(&long_call(42, "resume", 2, 4)).await;
    let first = stream.next_progress().await;
    assert_eq!(first.json()["params"]["progress"], 1);
    drop(stream); // the connection breaks mid-call
    let resp = session
        .get()
        .header("last-event-id", first.id.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET with Last-Event-ID");
    let (progress, response) = SseStream::new(resp)
        .progress_and_response("resume", 42)
        .await;
    assert_eq!(
        progress,
        vec![2.0, 3.0, 4.0],
        "replayed and live events after the last one seen"
    );
    assert!(
        response["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Steps: 4"),
        "{response}"
    );
}

#[tokio::test]
async fn a_quick_answer_is_resumed_from_its_priming_event() {
    // The whole stream (priming event and answer) goes out in one write; a client whose connection
    // broke after the priming event resumes from it and still gets the answer (found by the soak
    // test: the stream was forgotten once written, and the GET opened the standalone stream).
    let sc = sidecar(everything()).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    let echo = request_body(
        json!(7),
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "resumed"}}),
    );
    let mut stream = session.post_sse(&echo).await;
    let answer = stream
        .next_within(EVENT_WITHIN, "the answer")
        .await
        .expect("the answer");
    drop(stream);
    // The priming event before it is `<stream>-0` (the test client skips events without data).
    let id = answer.id.clone().unwrap();
    let (stream_id, seq) = id.split_once('-').unwrap();
    assert_eq!(seq, "1", "{answer:?}");
    let resp = session
        .get()
        .header("last-event-id", format!("{stream_id}-0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET with Last-Event-ID");
    let mut resumed = SseStream::new(resp);
    let answer = loop {
        let event = resumed
            .next_within(EVENT_WITHIN, "replayed answer")
            .await
            .expect("the replayed answer");
        if !event.data.is_empty() {
            break event.json();
        }
    };
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(answer["result"]["content"][0]["text"], "Echo: resumed");
}

#[tokio::test]
async fn last_event_id_of_a_stream_the_session_does_not_hold_is_refused() {
    // Not the standalone stream instead: the client would wait there for an answer that never comes.
    let sc = sidecar(everything()).start().await;
    let session = sc.initialize(V_2025_11_25).await;
    let resp = session
        .get()
        .header("last-event-id", "999-0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600, "{body}");
    // The session still serves, and its standalone stream is free.
    let resp = session.get().send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn standalone_queue_is_bounded() {
    // Five unsolicited messages before any GET, with room for two
    // (`SIDECAR_STANDALONE_QUEUE`, docs/api/configuration.md: a bounded queue).
    let sc = sidecar(conformance_server())
        .env("SIDECAR_STANDALONE_QUEUE", 2)
        .start()
        .await;
    let session = sc.initialize(V_2025_11_25).await;
    for (n, level) in ["debug", "info", "notice", "warning", "error"]
        .iter()
        .enumerate()
    {
        set_level(&session, json!(n), level).await;
    }
    let resp = session.get().send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = SseStream::new(resp);
    // A marker sent after the stream opened tells where the queued part ends.
    set_level(&session, json!(9), "critical").await;
    let mut queued = Vec::new();
    loop {
        let log = next_log(&mut stream).await;
        let data = log["params"]["data"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if data.contains("critical") {
            break;
        }
        queued.push(data);
    }
    assert!(
        !queued.is_empty() && queued.len() <= 2,
        "at most 2 queued messages delivered: {queued:?}"
    );
    assert_eq!(
        session.request("ping", json!({})).await["result"],
        json!({})
    );
}
