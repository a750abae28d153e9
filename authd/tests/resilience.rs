//! Faults and bad input: Redis killed mid-test (503, never a pass and never a 500, then recovery when
//! it returns), oversize and malformed bodies, wrong methods and content types. After each, the
//! process keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{ALICE, Stack};
use serde_json::Value;

async fn health(stack: &Stack) -> u16 {
    stack
        .http
        .get(stack.url("/health"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn redis_killed_gives_503_then_recovers() {
    let mut stack = Stack::start().await;
    let token = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    assert_eq!(stack.verify("memory", Some(&token)).await.status(), 200);

    stack.redis.kill();
    for _ in 0..5 {
        let resp = stack.verify("memory", Some(&token)).await;
        assert_eq!(resp.status(), 503, "with Redis down /verify must be 503");
    }
    assert_eq!(health(&stack).await, 503);
    // The OAuth endpoints fail cleanly too (no 500, no pass).
    let resp = stack
        .register_raw(&serde_json::json!({"redirect_uris": ["http://127.0.0.1:9/cb"]}))
        .await;
    assert_eq!(resp.status(), 503);

    // Redis returns (empty: no persistence). authd reconnects by itself.
    stack.redis.restart();
    let start = Instant::now();
    while health(&stack).await != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "authd did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The old token's record is gone with the data: it is revoked, not passed.
    assert_eq!(stack.verify("memory", Some(&token)).await.status(), 401);
    let fresh = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    assert_eq!(stack.verify("memory", Some(&fresh)).await.status(), 200);
}

/// A restart of a standalone Redis that keeps its data: while it is down `/verify` answers 503
/// with `Retry-After` for a live and a revoked token alike (never 200 for the revoked one, never
/// 401 for the live one), and once it is back authd answers right again without a restart.
#[tokio::test]
async fn redis_restart_gives_503_and_never_a_wrong_answer() {
    let mut stack = Stack::start().await;
    let live = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    let revoked = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    let jti = common::jwt::claims(&revoked)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.cli(&["tokens", "revoke", &jti]);
    // The restarted server loads this snapshot (dump.rdb in its directory).
    let _: () = redis::cmd("SAVE").query(&mut stack.redis.conn()).unwrap();
    assert_eq!(common::verify_or_unavailable(&stack, &live, 200).await, 200);
    assert_eq!(
        common::verify_or_unavailable(&stack, &revoked, 401).await,
        401
    );

    stack.redis.kill();
    for _ in 0..3 {
        assert_eq!(common::verify_or_unavailable(&stack, &live, 200).await, 503);
        assert_eq!(
            common::verify_or_unavailable(&stack, &revoked, 401).await,
            503
        );
    }
    stack.redis.restart();
    let start = Instant::now();
    while common::verify_or_unavailable(&stack, &live, 200).await != 200 {
        common::verify_or_unavailable(&stack, &revoked, 401).await;
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "authd did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        common::verify_or_unavailable(&stack, &revoked, 401).await,
        401
    );
    assert_eq!(health(&stack).await, 200);
}

#[tokio::test]
async fn redis_down_at_token_is_an_error_not_a_grant() {
    let mut stack = Stack::start().await;
    let client = stack.register("none").await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    stack.redis.kill();
    let resp = stack.redeem(&client, &code, &pkce).await;
    assert_eq!(resp.status(), 503);
}

#[tokio::test]
async fn oversize_bodies_are_413() {
    let stack = Stack::with(&[("AUTHD_MAX_BODY_BYTES", "16384")]).await;
    let big = "x".repeat(64 * 1024);
    let resp = stack
        .http
        .post(stack.url("/register"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"client_name\":\"{big}\",\"redirect_uris\":[\"http://127.0.0.1:9/cb\"]}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    for path in ["/token", "/revoke", "/introspect", "/consent"] {
        let resp = stack
            .http
            .post(stack.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=refresh_token&refresh_token={big}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413, "{path}");
    }
    assert_eq!(health(&stack).await, 200);
}

#[tokio::test]
async fn malformed_bodies_are_400_with_json_errors() {
    let stack = Stack::start().await;
    for (path, ctype, body) in [
        ("/register", "application/json", "{not json"),
        ("/register", "application/json", "[1,2,3]"),
        (
            "/register",
            "application/json",
            "{\"redirect_uris\": \"not-a-list\"}",
        ),
        ("/register", "application/json", "\u{0}\u{1}\u{2}"),
        ("/token", "application/x-www-form-urlencoded", "%%%&&&==="),
    ] {
        let resp = stack
            .http
            .post(stack.url(path))
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!(matches!(status, 400 | 401), "{path} {body:?}: {status}");
        let e: Value = resp
            .json()
            .await
            .unwrap_or_else(|_| panic!("{path} {body:?}: not JSON"));
        assert!(e["error"].is_string(), "{path}: {e}");
    }
    assert_eq!(health(&stack).await, 200);
}

#[tokio::test]
async fn wrong_content_type_at_register_is_rejected() {
    let stack = Stack::start().await;
    let resp = stack
        .http
        .post(stack.url("/register"))
        .form(&[("redirect_uris", "http://127.0.0.1:9/cb")])
        .send()
        .await
        .unwrap();
    assert!(
        matches!(resp.status().as_u16(), 400 | 415),
        "{}",
        resp.status()
    );
}

#[tokio::test]
async fn wrong_methods_are_405_and_unknown_paths_404() {
    let stack = Stack::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/token"),
        (reqwest::Method::PUT, "/token"),
        (reqwest::Method::GET, "/revoke"),
        (reqwest::Method::DELETE, "/register"),
        (reqwest::Method::POST, "/jwks"),
    ] {
        let resp = stack
            .http
            .request(method.clone(), stack.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
    }
    let resp = stack
        .http
        .get(stack.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn headers_and_query_abuse_do_not_break_the_server() {
    let stack = Stack::start().await;
    let long = "a".repeat(16 * 1024);
    let resp = stack.verify("memory", Some(&long)).await;
    assert!(
        matches!(resp.status().as_u16(), 401 | 431),
        "{}",
        resp.status()
    );
    let resp = stack
        .http
        .get(stack.url(&format!("/authorize?client_id={long}")))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let resp = stack
        .http
        .get(stack.url("/authorize?client_id=%ff%fe&redirect_uri=%c0"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(health(&stack).await, 200);
}

#[tokio::test]
async fn redis_down_at_authorize_is_an_error_page_not_a_redirect() {
    let mut stack = Stack::start().await;
    let client = stack.register("none").await;
    let pkce = common::browser::Pkce::new();
    let params = common::browser::authorize_params(&stack, &client, &pkce);
    stack.redis.kill();
    let mut url = url::Url::parse(&stack.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(&params);
    let resp = stack.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("location").is_none());
}
