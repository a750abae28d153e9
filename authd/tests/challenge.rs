//! The challenges of `/verify` under the MCP authorization rules of 2026-07-28 (RFC 6750 §3,
//! RFC 9728 §5.1): every 401 and 403 names the scopes the request needs, all in one challenge
//! (SEP-2350), never `offline_access`, with the protected-resource metadata URL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Stack;
use common::jwt;
use serde_json::json;

#[tokio::test]
async fn token_without_mcp_scope_is_403_insufficient_scope() {
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let narrow = jwt::with(&claims, &[("scope", json!("offline_access"))]);
    let resp = stack
        .verify(
            "memory",
            Some(&jwt::sign_rs256(&stack.key_pem, &kid, &narrow)),
        )
        .await;
    assert_eq!(resp.status(), 403);
    let challenge = only_challenge(&resp);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    // MCP authorization 2026-07-28 "Runtime Insufficient Scope Errors": every scope the request
    // needs in this one challenge (not only what is missing, not the token's other scopes), and
    // the metadata URL as on a 401.
    assert_eq!(challenge_scopes(&challenge), ["mcp"], "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}\"",
            stack.prm_url("memory")
        )),
        "{challenge}"
    );
}

/// The one `WWW-Authenticate` header of a response (SEP-2350: all scopes in one challenge).
fn only_challenge(resp: &reqwest::Response) -> String {
    let all: Vec<&str> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].matches("Bearer").count(), 1, "{all:?}");
    all[0].to_owned()
}

/// The scopes of a challenge's `scope` parameter.
fn challenge_scopes(challenge: &str) -> Vec<String> {
    let rest = challenge
        .split("scope=\"")
        .nth(1)
        .expect("a scope parameter");
    rest.split('"')
        .next()
        .unwrap()
        .split(' ')
        .map(str::to_owned)
        .collect()
}

/// MCP authorization 2026-07-28: the 401 names the scopes the request needs and never
/// `offline_access` (refresh tokens are not a resource requirement), with or without a token.
#[tokio::test]
async fn every_401_names_the_needed_scopes_without_offline_access() {
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let expired = jwt::with(&claims, &[("exp", json!(1)), ("nbf", json!(0))]);
    for token in [None, Some(jwt::sign_rs256(&stack.key_pem, &kid, &expired))] {
        let resp = stack.verify("memory", token.as_deref()).await;
        assert_eq!(resp.status(), 401);
        let challenge = only_challenge(&resp);
        assert_eq!(challenge_scopes(&challenge), ["mcp"], "{challenge}");
        assert!(!challenge.contains("offline_access"), "{challenge}");
    }
}

/// MCP authorization "Token Requirements": access tokens MUST NOT be in the query string, and
/// authd reads only the `Authorization` header (`bearer_methods_supported: ["header"]`): a valid
/// token in the forwarded URI's query is no token at all.
#[tokio::test]
async fn a_token_in_the_query_string_is_not_accepted() {
    let stack = Stack::start().await;
    let (token, _, _) = stack.real_token();
    let uri = format!("/memory/mcp?access_token={token}");
    let resp = stack
        .forwarded(reqwest::Method::GET, "http", &stack.own_host(), &uri)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        !only_challenge(&resp).contains("error="),
        "treated as a token"
    );
    // Control: the same token in the header passes.
    assert_eq!(stack.verify("memory", Some(&token)).await.status(), 200);
}
