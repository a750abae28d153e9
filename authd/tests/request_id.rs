//! `X-Request-Id` (docs/guides/operations.md#logs): authd takes the incoming id (or makes one),
//! puts it in every log line of the request, and returns it on every answer, `/verify`'s included,
//! so the edge can copy it to the MCP request with the identity headers and the sidecar logs the
//! same id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::{Browser, End, Pkce, authorize_params};
use common::{ALICE, Stack, header};
use serde_json::Value;

/// authd's JSON log lines whose request span carries `id`.
fn lines_of(stack: &Stack, id: &str) -> Vec<Value> {
    stack
        .authd
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["request.id"] == id)
        .collect()
}

fn messages(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|v| v["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn verify_returns_the_incoming_id_and_logs_every_line_with_it() {
    let stack = Stack::start().await;
    let token = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    let ok = stack
        .forwarded(
            reqwest::Method::GET,
            "http",
            &stack.own_host(),
            "/memory/mcp",
        )
        .header("X-Request-Id", "edge-id-200")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "x-request-id"), "edge-id-200");
    let refused = stack
        .forwarded(
            reqwest::Method::GET,
            "http",
            &stack.own_host(),
            "/memory/mcp",
        )
        .header("X-Request-Id", "edge-id-401")
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused, "x-request-id"), "edge-id-401");
    // Both log lines of the refused request (the refusal and the access line) carry the id.
    let lines = lines_of(&stack, "edge-id-401");
    let text = messages(&lines);
    assert!(text.contains(&"verify refused".to_owned()), "{text:?}");
    assert!(text.contains(&"request".to_owned()), "{text:?}");
    let all_refusals = stack.authd.log().matches("verify refused").count();
    assert_eq!(all_refusals, 1, "a refusal logged outside its request span");
}

#[tokio::test]
async fn a_missing_or_unusable_id_is_replaced_by_a_fresh_one() {
    let stack = Stack::start().await;
    let mut seen = Vec::new();
    for incoming in [None, Some("has space"), Some(&*"x".repeat(200))] {
        let mut req = stack.forwarded(
            reqwest::Method::GET,
            "http",
            &stack.own_host(),
            "/memory/mcp",
        );
        if let Some(id) = incoming {
            req = req.header("X-Request-Id", id);
        }
        let resp = req.send().await.unwrap();
        let id = header(&resp, "x-request-id");
        assert_eq!(id.len(), 22, "{id}");
        assert!(Some(id.as_str()) != incoming);
        assert!(!lines_of(&stack, &id).is_empty(), "{id} not in the log");
        seen.push(id);
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "ids are not fresh: {seen:?}");
}

/// Lines logged deep inside a handler (here: the authorization code issued) carry the id too.
#[tokio::test]
async fn lines_logged_by_handlers_carry_the_id() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let params = authorize_params(&stack, &client, &Pkce::new());
    let url = Browser::new()
        .authorize(&stack, &params, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    assert!(End::param(&url, "code").is_some());
    let issued: Vec<Value> = stack
        .authd
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "authorization code issued")
        .collect();
    assert_eq!(issued.len(), 1);
    let id = issued[0]["span"]["request.id"].as_str().unwrap();
    assert_eq!(id.len(), 22, "{}", issued[0]);
    let text = messages(&lines_of(&stack, id));
    assert!(text.contains(&"request".to_owned()), "{text:?}");
}
