//! `/verify`, the forward-auth hot path (docs/api/endpoints.md#verify-in-detail, client
//! requirements M1, M2 of docs/architecture/client-requirements.md): challenges, audience,
//! signature and time checks, forgeries, revocation and user removal. Every token a test forges is
//! matched by a positive control signed the same way that passes, so a pass is never an accident.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::jwt::{self, now};
use common::{ALICE, BOB, Stack, header};
use reqwest::Method;
use serde_json::{Value, json};

async fn status(stack: &Stack, token: &str) -> u16 {
    stack.verify("memory", Some(token)).await.status().as_u16()
}

#[tokio::test]
async fn no_token_is_401_with_resource_metadata() {
    let stack = Stack::start().await;
    let resp = stack.verify("memory", None).await;
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}\"",
            stack.prm_url("memory")
        )),
        "{challenge}"
    );
    // RFC 6750 §3.1: no error code when the request carried no credentials.
    assert!(!challenge.contains("error="), "{challenge}");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn valid_token_passes_and_sets_every_copied_header() {
    let stack = Stack::start().await;
    let (token, claims, _) = stack.real_token();
    let resp = stack.verify("memory", Some(&token)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-user-id"), "oidc:alice");
    assert_eq!(header(&resp, "x-user-name"), "alice");
    assert_eq!(
        header(&resp, "x-client-id"),
        claims["client_id"].as_str().unwrap()
    );
    assert!(header(&resp, "x-scopes").split(' ').any(|s| s == "mcp"));
    // The raw token is never handed on to the MCP service.
    for (name, value) in resp.headers() {
        assert!(
            !value.to_str().unwrap_or("").contains(&token),
            "token leaked in {name}"
        );
    }
}

#[tokio::test]
async fn post_verify_works_like_get() {
    let stack = Stack::start().await;
    let (token, _, _) = stack.real_token();
    let resp = stack
        .forwarded(Method::POST, "http", &stack.own_host(), "/memory/mcp")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn token_of_another_audience_is_401_invalid_token() {
    let stack = Stack::start().await;
    let token = stack.mint("oidc:alice", "fetch", &["--email", ALICE.email]);
    assert_eq!(
        stack.verify("fetch", Some(&token)).await.status(),
        200,
        "control"
    );
    let resp = stack.verify("memory", Some(&token)).await;
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains(&stack.prm_url("memory")), "{challenge}");
}

#[tokio::test]
async fn resource_comes_from_forwarded_headers_not_host() {
    let stack = Stack::start().await;
    let (token, _, _) = stack.real_token();
    // Same token, but the edge says the request was for another host: not this audience.
    let resp = stack
        .forwarded(Method::GET, "http", "evil.example", "/memory/mcp")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 200);
    assert_ne!(resp.status(), 500);
}

#[tokio::test]
async fn unknown_service_is_404() {
    let stack = Stack::start().await;
    let (token, _, _) = stack.real_token();
    assert_eq!(stack.verify("nope", Some(&token)).await.status(), 404);
}

#[tokio::test]
async fn garbage_token_is_401_invalid_token() {
    let stack = Stack::start().await;
    for bad in ["garbage", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", ""] {
        let resp = stack.verify("memory", Some(bad)).await;
        assert_eq!(resp.status(), 401, "{bad:?}");
    }
    let resp = stack.verify("memory", Some("a.b.c")).await;
    assert!(header(&resp, "www-authenticate").contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn resigned_copy_of_a_real_token_passes() {
    // The positive control of every forgery below: same claims, authd's key, RS256.
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let copy = jwt::sign_rs256(&stack.key_pem, &kid, &claims);
    assert_eq!(status(&stack, &copy).await, 200);
}

#[tokio::test]
async fn alg_none_forgery_is_rejected() {
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let forged = jwt::alg_none(&kid, &claims);
    assert_eq!(status(&stack, &forged).await, 401);
    // Also with the original signature left on.
    let real = jwt::sign_rs256(&stack.key_pem, &kid, &claims);
    let sig = real.rsplit('.').next().unwrap();
    assert_eq!(status(&stack, &format!("{forged}{sig}")).await, 401);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let jwks = stack
        .http
        .get(stack.url("/jwks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut secrets = jwt::public_pems(&stack.key_pem);
    secrets.push(jwks.into_bytes());
    for secret in secrets {
        let forged = jwt::hs256(&kid, &secret, &claims);
        assert_eq!(status(&stack, &forged).await, 401);
    }
}

#[tokio::test]
async fn token_signed_by_another_key_is_rejected() {
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let other = stack.cli(&["keygen"]);
    let other_pem = {
        use base64::Engine;
        let b64 = other.trim().strip_prefix("JWT_PRIVATE_KEY=").unwrap();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        status(&stack, &jwt::sign_rs256(&other_pem, &kid, &claims)).await,
        401
    );
    assert_eq!(
        status(&stack, &jwt::sign_rs256(&other_pem, "unknown-kid", &claims)).await,
        401
    );
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let t = now();
    let expired = jwt::with(
        &claims,
        &[
            ("iat", json!(t - 7200)),
            ("nbf", json!(t - 7200)),
            ("exp", json!(t - 3600)),
        ],
    );
    let resp = stack
        .verify(
            "memory",
            Some(&jwt::sign_rs256(&stack.key_pem, &kid, &expired)),
        )
        .await;
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").contains("invalid_token"));
}

#[tokio::test]
async fn not_yet_valid_token_is_rejected() {
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let t = now();
    let future = jwt::with(
        &claims,
        &[
            ("iat", json!(t + 3600)),
            ("nbf", json!(t + 3600)),
            ("exp", json!(t + 7200)),
        ],
    );
    assert_eq!(
        status(&stack, &jwt::sign_rs256(&stack.key_pem, &kid, &future)).await,
        401
    );
}

#[tokio::test]
async fn token_of_another_issuer_is_rejected() {
    let stack = Stack::start().await;
    let (_, claims, kid) = stack.real_token();
    let other = jwt::with(&claims, &[("iss", json!("https://evil.example"))]);
    assert_eq!(
        status(&stack, &jwt::sign_rs256(&stack.key_pem, &kid, &other)).await,
        401
    );
}

#[tokio::test]
async fn revoked_token_is_rejected_at_once() {
    let stack = Stack::start().await;
    let (token, claims, _) = stack.real_token();
    assert_eq!(status(&stack, &token).await, 200);
    stack.cli(&["tokens", "revoke", claims["jti"].as_str().unwrap()]);
    assert_eq!(status(&stack, &token).await, 401);
}

#[tokio::test]
async fn disabled_user_is_rejected_at_once_and_enabled_again() {
    let stack = Stack::start().await;
    let (token, _, _) = stack.real_token();
    stack.cli(&["users", "disable", "oidc:alice"]);
    assert_eq!(status(&stack, &token).await, 401);
    stack.cli(&["users", "enable", "oidc:alice"]);
    assert_eq!(status(&stack, &token).await, 200);
}

#[tokio::test]
async fn user_removed_from_the_allow_list_is_rejected() {
    let mut stack = Stack::start().await;
    let token = stack.mint("oidc:bob", "memory", &["--email", BOB.email]);
    assert_eq!(status(&stack, &token).await, 200);
    stack.restart_authd(&[("ALLOWED_EMAILS", ALICE.email)]);
    let resp = stack.verify("memory", Some(&token)).await;
    assert!(
        matches!(resp.status().as_u16(), 401 | 403),
        "{}",
        resp.status()
    );
}

#[tokio::test]
async fn per_service_allow_list_applies_to_that_service_only() {
    let stack = Stack::with(&[("ALLOWED_EMAILS_FETCH", ALICE.email)]).await;
    let memory = stack.mint("oidc:bob", "memory", &["--email", BOB.email]);
    let fetch = stack.mint("oidc:bob", "fetch", &["--email", BOB.email]);
    assert_eq!(stack.verify("memory", Some(&memory)).await.status(), 200);
    let resp = stack.verify("fetch", Some(&fetch)).await;
    assert!(
        matches!(resp.status().as_u16(), 401 | 403),
        "{}",
        resp.status()
    );
}

#[tokio::test]
async fn forwarded_preflight_passes_without_token() {
    let stack = Stack::start().await;
    let resp = stack
        .forwarded(Method::GET, "http", &stack.own_host(), "/memory/mcp")
        .header("X-Forwarded-Method", "OPTIONS")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test]
async fn wrong_scheme_in_authorization_is_401_with_challenge() {
    let stack = Stack::start().await;
    let resp = stack
        .forwarded(Method::GET, "http", &stack.own_host(), "/memory/mcp")
        .header("Authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").contains("resource_metadata="));
}

/// RFC 9110 §11.1: the authentication scheme is case-insensitive; spaces separate it.
#[tokio::test]
async fn bearer_scheme_in_any_case_is_accepted() {
    let stack = Stack::start().await;
    let token = stack.mint("oidc:alice", "memory", &["--email", common::ALICE.email]);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let resp = stack
            .forwarded(Method::GET, "http", &stack.own_host(), "/memory/mcp")
            .header("Authorization", format!("{scheme}  {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
}
