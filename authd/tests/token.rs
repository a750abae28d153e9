//! `/token` (OAuth 2.1 §3.2, §4.1.3, §4.3; RFC 6749 §5.2; client requirements T1-T3 of
//! docs/architecture/client-requirements.md): PKCE, code binding and single use, replay, refresh
//! rotation with family revocation and grace window, client authentication and error format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::browser::{Client, Pkce};
use common::{ALICE, Stack, header};
use serde_json::Value;

/// Asserts an RFC 6749 §5.2 error: status, code, JSON, `Cache-Control: no-store`.
async fn assert_error(resp: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(resp.status(), status, "expected {error}");
    assert!(header(&resp, "cache-control").contains("no-store"));
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], error, "{e}");
    e
}

async fn redeem_with(
    stack: &Stack,
    client: &Client,
    code: &str,
    changes: &[(&str, &str)],
) -> reqwest::Response {
    let resource = stack.resource("memory");
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &client.redirect_uri),
        ("resource", &resource),
    ];
    for (k, v) in changes {
        form.retain(|(name, _)| name != k);
        form.push((k, v));
    }
    stack.token(client, &form).await
}

#[tokio::test]
async fn wrong_pkce_verifier_is_invalid_grant() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let (code, _) = stack.code_for(&client, &ALICE).await;
    let wrong = Pkce::new();
    assert_error(
        redeem_with(
            &stack,
            &client,
            &code,
            &[("code_verifier", &wrong.verifier)],
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn missing_pkce_verifier_is_rejected() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let (code, _) = stack.code_for(&client, &ALICE).await;
    let resp = redeem_with(&stack, &client, &code, &[]).await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert!(
        matches!(
            e["error"].as_str(),
            Some("invalid_request" | "invalid_grant")
        ),
        "{e}"
    );
}

#[tokio::test]
async fn code_replay_is_rejected_and_revokes_what_it_issued() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    let resp = stack.redeem(&client, &code, &pkce).await;
    assert_eq!(resp.status(), 200);
    let t: Value = resp.json().await.unwrap();
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);
    // OAuth 2.1 §4.1.3: a second use fails, and the tokens of the first use should be revoked.
    assert_error(
        stack.redeem(&client, &code, &pkce).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        stack.verify("memory", Some(access)).await.status(),
        401,
        "access token survived replay"
    );
    assert_error(
        stack
            .refresh(&client, t["refresh_token"].as_str().unwrap())
            .await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn code_of_another_client_is_invalid_grant() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let thief = stack.register("none").await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    assert_error(
        stack.redeem(&thief, &code, &pkce).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn redirect_uri_mismatch_at_token_is_invalid_grant() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    let resp = redeem_with(
        &stack,
        &client,
        &code,
        &[
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ],
    )
    .await;
    assert_error(resp, 400, "invalid_grant").await;
}

#[tokio::test]
async fn another_resource_at_token_is_invalid_target() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    let fetch = stack.resource("fetch");
    let resp = redeem_with(
        &stack,
        &client,
        &code,
        &[("code_verifier", &pkce.verifier), ("resource", &fetch)],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert!(
        matches!(
            e["error"].as_str(),
            Some("invalid_target" | "invalid_grant")
        ),
        "{e}"
    );
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let stack = Stack::with(&[("AUTH_CODE_TTL_SECS", "1")]).await;
    let client = stack.register("none").await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    // Wait for Redis to expire the code (polling the real store, bounded).
    let start = Instant::now();
    while stack
        .redis_keys()
        .iter()
        .any(|k| k.contains("code:") && !k.contains("code_used"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "code never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_error(
        stack.redeem(&client, &code, &pkce).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn refresh_retry_within_the_grace_window_gets_the_same_pair() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let t = stack.login(&client, &ALICE).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let first: Value = stack.refresh(&client, r1).await.json().await.unwrap();
    let resp = stack.refresh(&client, r1).await;
    assert_eq!(resp.status(), 200, "retry within the grace window");
    let retry: Value = resp.json().await.unwrap();
    assert_eq!(retry["refresh_token"], first["refresh_token"]);
    assert_eq!(retry["access_token"], first["access_token"]);
}

#[tokio::test]
async fn refresh_replay_after_rotation_revokes_the_family() {
    let stack = Stack::with(&[("REFRESH_GRACE_SECS", "0")]).await;
    let client = stack.register("none").await;
    let t = stack.login(&client, &ALICE).await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let resp = stack.refresh(&client, r1).await;
    assert_eq!(resp.status(), 200);
    let t2: Value = resp.json().await.unwrap();
    let (a2, r2) = (
        t2["access_token"].as_str().unwrap(),
        t2["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(stack.verify("memory", Some(a2)).await.status(), 200);
    // The old token comes back: theft is assumed, the whole family dies.
    assert_error(stack.refresh(&client, r1).await, 400, "invalid_grant").await;
    assert_error(stack.refresh(&client, r2).await, 400, "invalid_grant").await;
    assert_eq!(
        stack.verify("memory", Some(a2)).await.status(),
        401,
        "family access token survived"
    );
}

#[tokio::test]
async fn unknown_grant_type_and_missing_parameters() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    assert_error(
        stack.token(&client, &[("grant_type", "password")]).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    assert_error(
        stack
            .token(&client, &[("grant_type", "authorization_code")])
            .await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(stack.token(&client, &[]).await, 400, "invalid_request").await;
    assert_error(
        stack.refresh(&client, "no-such-refresh-token").await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn wrong_client_secret_is_401_invalid_client_with_challenge() {
    let stack = Stack::start().await;
    let mut client = stack.register("client_secret_basic").await;
    client.secret = Some("wrong-secret".into());
    let resp = stack
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(resp.status(), 401);
    assert!(
        header(&resp, "www-authenticate")
            .to_ascii_lowercase()
            .starts_with("basic")
    );
    assert_error(resp, 401, "invalid_client").await;
}

#[tokio::test]
async fn confidential_client_without_secret_is_invalid_client() {
    let stack = Stack::start().await;
    let mut client = stack.register("client_secret_post").await;
    client.secret = None;
    let resp = stack
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_error(resp, 401, "invalid_client").await;
}

#[tokio::test]
async fn unknown_client_is_invalid_client() {
    let stack = Stack::start().await;
    let resp = stack
        .http
        .post(stack.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "invalid_client").await;
}

#[tokio::test]
async fn json_body_at_token_is_rejected() {
    let stack = Stack::start().await;
    let resp = stack
        .http
        .post(stack.url("/token"))
        .json(&serde_json::json!({"grant_type": "refresh_token", "refresh_token": "x", "client_id": "c"}))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(resp.status().as_u16(), 400 | 401 | 415),
        "{}",
        resp.status()
    );
    assert_ne!(resp.status(), 200);
}

/// RFC 9110 §11.1: the Basic scheme of client authentication is case-insensitive too.
#[tokio::test]
async fn basic_scheme_in_any_case_authenticates_the_client() {
    use base64::Engine;
    let stack = Stack::start().await;
    let client = stack.register("client_secret_basic").await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        client.id,
        client.secret.as_deref().unwrap()
    ));
    let resource = stack.resource("memory");
    let resp = stack
        .http
        .post(stack.url("/token"))
        .header("Authorization", format!("BASIC {credentials}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", &pkce.verifier),
            ("resource", &resource),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// RFC 6749 §3.2: parameters must not be included more than once.
#[tokio::test]
async fn repeated_parameters_are_invalid_request() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let body = format!(
        "grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id={}",
        client.id
    );
    let resp = stack
        .http
        .post(stack.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let e = assert_error(resp, 400, "invalid_request").await;
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("refresh_token"),
        "{e}"
    );
}
