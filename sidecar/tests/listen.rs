//! `subscriptions/listen` (issue 10 item 3; MCP 2026-07-28 "Subscriptions"): the acknowledgement
//! comes first and names what the server honours, then only the notification types the client
//! asked for, each tagged with the subscription id; resource subscriptions reach the children; at
//! shutdown the stream ends with the listen result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SUBSCRIPTION: &str = "io.modelcontextprotocol/subscriptionId";

/// Opens a listen stream with `filter` under request id `id`; returns the stream after checking
/// the acknowledgement, and the acknowledged filter.
async fn listen(client: &Stateless, id: &str, filter: Value) -> (SseStream, Value) {
    let body = client.body(
        json!(id),
        "subscriptions/listen",
        json!({"notifications": filter}),
    );
    let resp = within(ANSWER_WITHIN, "listen", client.post(&body).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(content_type(&resp).starts_with("text/event-stream"));
    let mut stream = SseStream::new(resp);
    let ack = stream
        .next_within(ANSWER_WITHIN, "acknowledgement")
        .await
        .unwrap()
        .json();
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert_eq!(ack["params"]["_meta"][SUBSCRIPTION], id, "{ack}");
    (stream, ack["params"]["notifications"].clone())
}

/// The next notification on `stream` (events only; keep-alives are comments).
async fn next(stream: &mut SseStream, what: &str) -> Value {
    stream
        .next_within(ANSWER_WITHIN, what)
        .await
        .expect(what)
        .json()
}

#[tokio::test]
async fn listeners_get_what_they_asked_for_and_only_that() {
    let sc = sidecar(conformance_server()).start().await;
    let client = Stateless::new(&sc);
    let (mut tools, honoured) = listen(
        &client,
        "L-tools",
        json!({"toolsListChanged": true, "resourcesListChanged": true, "somethingElse": true}),
    )
    .await;
    assert_eq!(
        honoured,
        json!({"toolsListChanged": true, "resourcesListChanged": true})
    );
    let (mut prompts, _) = listen(&client, "L-prompts", json!({"promptsListChanged": true})).await;
    client
        .call_tool("test_trigger_tool_change", json!({}))
        .await;
    let changed = next(&mut tools, "tools list_changed").await;
    assert_eq!(changed["method"], "notifications/tools/list_changed");
    assert_eq!(changed["params"]["_meta"][SUBSCRIPTION], "L-tools");
    // The tools change went to the tools listener only: the prompts listener's next event is the
    // prompts change that follows it.
    client
        .call_tool("test_trigger_prompt_change", json!({}))
        .await;
    let changed = next(&mut prompts, "prompts list_changed").await;
    assert_eq!(
        changed["method"], "notifications/prompts/list_changed",
        "{changed}"
    );
    assert_eq!(changed["params"]["_meta"][SUBSCRIPTION], "L-prompts");
    // A listen answer is a stream: a client that takes only JSON is told so.
    let body = client.body(
        json!(9),
        "subscriptions/listen",
        json!({"notifications": {}}),
    );
    let refused = client
        .send(client.post(&body).set("accept", "application/json"))
        .await;
    assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE);
    let bad = client.body(
        json!(10),
        "subscriptions/listen",
        json!({"notifications": 3}),
    );
    let answer = client.send(client.post(&bad)).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (StatusCode::BAD_REQUEST, Some(-32602))
    );
}

/// `resourceSubscriptions`: the sidecar subscribes the children (`resources/subscribe`) and the
/// official everything server's updates of that resource reach the listener.
#[tokio::test]
async fn resource_updates_reach_the_listener_that_subscribed() {
    let sc = sidecar(everything()).start().await;
    resource_updates(Stateless::new(&sc)).await;
}

/// The same over HTTP/2 without TLS, with prior knowledge (RFC 9113 §3.3): how Traefik reaches a
/// sidecar (scripts/traefik.py says why).
#[tokio::test]
async fn resource_updates_reach_a_listener_over_cleartext_http2() {
    let sc = sidecar(everything()).start().await;
    let mut client = Stateless::new(&sc);
    client.client = cleartext_http2_client();
    let discover = client.body(json!(1), "server/discover", json!({}));
    let resp = client.post(&discover).send().await.unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (StatusCode::OK, reqwest::Version::HTTP_2)
    );
    resource_updates(client).await;
}

async fn resource_updates(client: Stateless) {
    let uri = "demo://resource/static/document/architecture.md";
    let (mut stream, honoured) =
        listen(&client, "L-res", json!({"resourceSubscriptions": [uri]})).await;
    assert_eq!(honoured["resourceSubscriptions"], json!([uri]));
    // The everything server then sends updates of its subscribed resources every 5 s.
    client
        .call_tool("toggle-subscriber-updates", json!({}))
        .await;
    let update = next(&mut stream, "resources/updated").await;
    assert_eq!(update["method"], "notifications/resources/updated");
    assert_eq!(update["params"]["uri"], uri);
    assert_eq!(update["params"]["_meta"][SUBSCRIPTION], "L-res");
}

/// At shutdown a listen stream ends gracefully with its `SubscriptionsListenResult`.
#[tokio::test]
async fn shutdown_ends_a_listen_stream_with_its_result() {
    let sc = sidecar(conformance_server()).start().await;
    let client = Stateless::new(&sc);
    let (mut stream, _) = listen(&client, "L-end", json!({"toolsListChanged": true})).await;
    signal(sc.pid(), "TERM");
    let end = next(&mut stream, "listen result").await;
    assert_eq!(end["id"], "L-end", "{end}");
    assert_eq!(end["result"]["resultType"], "complete");
    assert_eq!(end["result"]["_meta"][SUBSCRIPTION], "L-end");
    assert!(
        stream
            .next_within(ANSWER_WITHIN, "end of stream")
            .await
            .is_none()
    );
    assert!(sc.terminate().await.success());
}
