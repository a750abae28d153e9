//! Mixed load (issue 10 "Proof"): legacy sessions and stateless requests at the same time on one
//! sidecar, with the same JSON-RPC ids everywhere; every response is counted and must reach the
//! request that asked (its id and its own echoed text), in both session modes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

const CLIENTS: usize = 6;
const REQUESTS: usize = 20;

async fn mixed_load(mode: &str) {
    let sc = sidecar(everything())
        .env("SIDECAR_SESSION_MODE", mode)
        .env("SIDECAR_MAX_SESSIONS_PER_USER", 64)
        .start()
        .await;
    let mut sessions = Vec::new();
    for _ in 0..CLIENTS {
        sessions.push(sc.initialize(V_2025_11_25).await);
    }
    let stateless: Vec<Stateless> = (0..CLIENTS)
        .map(|i| Stateless::new(&sc).for_user(&format!("user-{}", i % 2)))
        .collect();
    let accepts = [
        "application/json",
        "text/event-stream",
        "application/json, text/event-stream",
    ];
    let legacy = sessions.iter().enumerate().map(|(c, session)| async move {
        let mut answered = 0;
        for r in 0..REQUESTS {
            let message = format!("legacy {c} {r}");
            let body = request_body(
                json!(r),
                "tools/call",
                json!({"name": "echo", "arguments": {"message": message}}),
            );
            let answer = session.answer_with(&body, accepts[(c + r) % 3]).await;
            assert_eq!(answer["id"], r);
            assert_eq!(
                answer["result"]["content"][0]["text"],
                format!("Echo: {message}")
            );
            answered += 1;
        }
        answered
    });
    let modern = stateless.iter().enumerate().map(|(c, client)| async move {
        let mut answered = 0;
        for r in 0..REQUESTS {
            let message = format!("stateless {c} {r}");
            let body = client.body(
                json!(r),
                "tools/call",
                json!({"name": "echo", "arguments": {"message": message}}),
            );
            let answer = client
                .send(client.post(&body).set("accept", accepts[(c + r) % 3]))
                .await;
            let response = answer.response();
            assert_eq!(response["id"], r, "{:?}", answer.messages);
            let text = &response["result"]["content"][0]["text"];
            assert_eq!(text, &format!("Echo: {message}"), "{:?}", answer.messages);
            assert_eq!(response["result"]["resultType"], "complete");
            answered += 1;
        }
        answered
    });
    let (legacy, modern) = within(
        ANSWER_WITHIN * 4,
        "mixed load",
        futures::future::join(
            futures::future::join_all(legacy),
            futures::future::join_all(modern),
        ),
    )
    .await;
    assert_eq!(
        legacy.iter().sum::<usize>(),
        CLIENTS * REQUESTS,
        "legacy answers"
    );
    assert_eq!(
        modern.iter().sum::<usize>(),
        CLIENTS * REQUESTS,
        "stateless answers"
    );
    for session in &sessions {
        assert_eq!(session.delete().await, reqwest::StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn mixed_load_isolated() {
    mixed_load("isolated").await;
}

#[tokio::test]
async fn mixed_load_shared() {
    mixed_load("shared").await;
}
