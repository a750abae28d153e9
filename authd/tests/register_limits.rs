//! Registration limits (issue: limits that do not lock out a team; RFC 7591 errors): invalid
//! metadata is rejected with RFC 7591 codes before anything is counted or stored; only
//! registrations that succeed count, per source address and against a global ceiling; a full
//! limit is 429 with `Retry-After` equal to the time left in its window; clients that never
//! complete an authorization expire, the others are kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::REDIRECT_URI;
use common::{ALICE, Stack, header};
use reqwest::Method;
use serde_json::{Value, json};

fn body() -> Value {
    json!({"client_name": "t", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"})
}

/// `POST /register` as forwarded by the edge for a client at `address`.
async fn register_from(stack: &Stack, address: &str, body: &Value) -> reqwest::Response {
    stack
        .http
        .post(stack.url("/register"))
        .header("X-Forwarded-For", address)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn assert_limited(resp: reqwest::Response, window: u64) -> Value {
    assert_eq!(resp.status(), 429);
    let retry: u64 = header(&resp, "retry-after").parse().unwrap();
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "too_many_requests", "{e}");
    e
}

fn counters(stack: &Stack) -> Vec<String> {
    stack
        .redis_keys()
        .into_iter()
        .filter(|k| k.contains("register_"))
        .collect()
}

#[tokio::test]
async fn invalid_registrations_use_up_nothing_and_get_rfc7591_codes() {
    let stack = Stack::with(&[("REGISTER_RATE_LIMIT", "2")]).await;
    let bad = [
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "not a list"}),
            "invalid_client_metadata",
        ),
    ];
    for _ in 0..3 {
        for (b, code) in &bad {
            let resp = register_from(&stack, "198.51.100.1", b).await;
            assert_eq!(resp.status(), 400, "{b}");
            assert_eq!(resp.json::<Value>().await.unwrap()["error"], *code, "{b}");
        }
    }
    assert!(counters(&stack).is_empty(), "{:?}", counters(&stack));
    for _ in 0..2 {
        assert_eq!(
            register_from(&stack, "198.51.100.1", &body())
                .await
                .status(),
            201
        );
    }
    let e = assert_limited(register_from(&stack, "198.51.100.1", &body()).await, 3600).await;
    assert!(
        e["error_description"].as_str().unwrap().contains("address"),
        "{e}"
    );
    // Another address is not affected; the refused request counted nothing.
    assert_eq!(
        register_from(&stack, "198.51.100.2", &body())
            .await
            .status(),
        201
    );
}

/// RFC 9110 §10.2.3: `Retry-After` is the time left in the window, not the window.
#[tokio::test]
async fn retry_after_is_the_time_left_in_the_window() {
    let stack = Stack::with(&[("REGISTER_RATE_LIMIT", "1")]).await;
    assert_eq!(
        register_from(&stack, "198.51.100.9", &body())
            .await
            .status(),
        201
    );
    let key = counters(&stack)
        .into_iter()
        .find(|k| k.ends_with("198.51.100.9"))
        .unwrap();
    let mut conn = stack.redis.conn();
    // Leave 1000 s of the 3600 s window (a slow machine may use some before the call).
    let _: () = redis::cmd("EXPIRE")
        .arg(&key)
        .arg(1000)
        .query(&mut conn)
        .unwrap();
    let resp = register_from(&stack, "198.51.100.9", &body()).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = header(&resp, "retry-after").parse().unwrap();
    assert!(
        (900..=1000).contains(&retry),
        "Retry-After {retry}, 1000 s were left"
    );
}

/// The per-address default lets a team behind one provider address connect (40 users, each
/// registering on several servers), while a global ceiling bounds many addresses together.
#[tokio::test]
async fn a_team_behind_one_address_registers_and_the_global_ceiling_holds() {
    let stack = Stack::start().await;
    for i in 0..120 {
        let resp = register_from(&stack, "203.0.113.7", &body()).await;
        assert_eq!(resp.status(), 201, "registration {i} of a team");
    }
    let stack = Stack::with(&[("REGISTER_GLOBAL_LIMIT", "3")]).await;
    for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        assert_eq!(register_from(&stack, address, &body()).await.status(), 201);
    }
    let e = assert_limited(register_from(&stack, "192.0.2.4", &body()).await, 3600).await;
    assert!(
        !e["error_description"].as_str().unwrap().contains("address"),
        "{e}"
    );
}

fn ttl(stack: &Stack, client_id: &str) -> i64 {
    let key = format!("oauth:client:{client_id}");
    redis::cmd("TTL")
        .arg(&key)
        .query(&mut stack.redis.conn())
        .unwrap()
}

#[tokio::test]
async fn unused_clients_expire_and_clients_that_completed_an_authorization_are_kept() {
    let stack = Stack::with(&[("REGISTER_UNUSED_CLIENT_TTL_SECS", "600")]).await;
    let used = stack.register("none").await;
    let unused = stack.register("none").await;
    for c in [&used, &unused] {
        assert!(
            (1..=600).contains(&ttl(&stack, &c.id)),
            "{}",
            ttl(&stack, &c.id)
        );
    }
    // RFC 7592 update: the expiry stays.
    let update = json!({"client_id": unused.id, "client_name": "renamed",
        "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"});
    let put = stack
        .manage(Method::PUT, &unused, None, Some(&update))
        .await;
    assert_eq!(put.status(), 200);
    assert!((1..=600).contains(&ttl(&stack, &unused.id)));
    stack.login(&used, &ALICE).await;
    assert_eq!(ttl(&stack, &used.id), -1, "a used client must not expire");
    // Let the unused one expire for real (its TTL shortened) and see it gone.
    let _: () = redis::cmd("PEXPIRE")
        .arg(format!("oauth:client:{}", unused.id))
        .arg(1)
        .query(&mut stack.redis.conn())
        .unwrap();
    common::process::wait_until("expiry", || ttl(&stack, &unused.id) == -2);
    let gone = stack.manage(Method::GET, &unused, None, None).await;
    assert_eq!(gone.status(), 401);
    assert_eq!(
        stack.manage(Method::GET, &used, None, None).await.status(),
        200
    );
}
