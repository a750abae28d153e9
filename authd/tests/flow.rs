//! Complete flows over HTTP, as a real client and a real user do them: register, authorize, consent,
//! upstream login on the provider's real form, callback, token, /verify, refresh, revoke, introspect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::User;
use common::browser::{Browser, Client, End, Pkce, authorize_params};
use common::jwt::{self, now};
use common::{ALICE, BOB, Stack, header};
use serde_json::Value;

/// Checks a successful token response (RFC 6749 §5.1, client requirement T1 of
/// docs/architecture/client-requirements.md) and returns it.
async fn ok_tokens(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "cache-control").contains("no-store"));
    let t: Value = resp.json().await.unwrap();
    assert_eq!(
        t["token_type"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer"),
        "{t}"
    );
    assert!(t["expires_in"].as_i64().is_some_and(|s| s > 0), "{t}");
    assert!(
        t["refresh_token"].as_str().is_some_and(|s| s.len() >= 20),
        "{t}"
    );
    assert!(
        t["scope"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|x| x == "mcp")),
        "{t}"
    );
    t
}

async fn full_flow(method: &str) {
    let stack = Stack::start().await;
    let client = stack.register(method).await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    let t = ok_tokens(stack.redeem(&client, &code, &pkce).await).await;
    let access = t["access_token"].as_str().unwrap();
    let c = jwt::claims(access);
    assert_eq!(c["iss"], stack.issuer().as_str());
    assert_eq!(c["aud"], stack.resource("memory").as_str());
    assert_eq!(c["sub"], "oidc:alice");
    assert_eq!(c["client_id"], client.id.as_str());
    assert!(c["jti"].is_string());
    let t0 = now();
    assert!(c["iat"].as_i64().unwrap() <= t0 + 5 && c["nbf"].as_i64().unwrap() <= t0 + 5);
    assert!(c["exp"].as_i64().unwrap() > t0);
    assert_eq!(jwt::header(access)["alg"], "RS256");
    // The token opens the resource it names, with the user's identity.
    let resp = stack.verify("memory", Some(access)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-user-id"), "oidc:alice");
    assert_eq!(header(&resp, "x-client-id"), client.id);
}

#[tokio::test]
async fn complete_flow_public_client() {
    full_flow("none").await;
}

#[tokio::test]
async fn complete_flow_client_secret_basic() {
    full_flow("client_secret_basic").await;
}

#[tokio::test]
async fn complete_flow_client_secret_post() {
    full_flow("client_secret_post").await;
}

#[tokio::test]
async fn second_user_gets_their_own_identity() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let t = stack.login(&client, &BOB).await;
    let c = jwt::claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], "oidc:bob");
}

async fn logged_in(method: &str) -> (Stack, Client, Value) {
    let stack = Stack::start().await;
    let client = stack.register(method).await;
    let t = stack.login(&client, &ALICE).await;
    (stack, client, t)
}

#[tokio::test]
async fn refresh_rotates_and_keeps_the_resource() {
    let (stack, client, t) = logged_in("none").await;
    let r1 = t["refresh_token"].as_str().unwrap();
    // Client requirement T2: no `resource` in the refresh request keeps the grant's resource.
    let t2 = ok_tokens(stack.refresh(&client, r1).await).await;
    let r2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "refresh token not rotated");
    let a2 = t2["access_token"].as_str().unwrap();
    assert_ne!(a2, t["access_token"].as_str().unwrap());
    assert_eq!(jwt::claims(a2)["aud"], stack.resource("memory").as_str());
    assert_eq!(stack.verify("memory", Some(a2)).await.status(), 200);
    ok_tokens(stack.refresh(&client, r2).await).await;
}

#[tokio::test]
async fn refresh_by_another_client_is_invalid_grant_and_does_not_consume() {
    let (stack, client, t) = logged_in("none").await;
    let other = stack.register("none").await;
    let r1 = t["refresh_token"].as_str().unwrap();
    let resp = stack.refresh(&other, r1).await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    // Client requirement T3: a failed validation never consumes the token.
    ok_tokens(stack.refresh(&client, r1).await).await;
}

#[tokio::test]
async fn revoke_access_token_closes_verify() {
    let (stack, client, t) = logged_in("client_secret_basic").await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);
    let resp = stack
        .http
        .post(stack.url("/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", access), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 401);
}

#[tokio::test]
async fn revoke_refresh_token_ends_the_grant() {
    let (stack, client, t) = logged_in("none").await;
    let refresh = t["refresh_token"].as_str().unwrap();
    let resp = stack
        .http
        .post(stack.url("/revoke"))
        .form(&[("token", refresh), ("client_id", client.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = stack.refresh(&client, refresh).await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn revoke_of_another_clients_token_has_no_effect() {
    let (stack, _, t) = logged_in("none").await;
    let other = stack.register("none").await;
    let access = t["access_token"].as_str().unwrap();
    let resp = stack
        .http
        .post(stack.url("/revoke"))
        .form(&[("token", access), ("client_id", other.id.as_str())])
        .send()
        .await
        .unwrap();
    // RFC 7009 §2.2: the answer does not tell; the token stays valid.
    assert!(
        matches!(resp.status().as_u16(), 200 | 400 | 401),
        "{}",
        resp.status()
    );
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);
}

#[tokio::test]
async fn revoke_of_an_unknown_token_is_200() {
    let (stack, client, _) = logged_in("none").await;
    let resp = stack
        .http
        .post(stack.url("/revoke"))
        .form(&[("token", "not-a-token"), ("client_id", client.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn revoke_without_client_authentication_is_401() {
    let (stack, client, t) = logged_in("client_secret_basic").await;
    let access = t["access_token"].as_str().unwrap();
    let resp = stack
        .http
        .post(stack.url("/revoke"))
        .form(&[("token", access), ("client_id", client.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);
}

async fn introspect(stack: &Stack, client: &Client, token: &str) -> reqwest::Response {
    stack
        .http
        .post(stack.url("/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn introspect_active_then_inactive_after_revoke() {
    let (stack, client, t) = logged_in("client_secret_basic").await;
    let access = t["access_token"].as_str().unwrap();
    let resp = introspect(&stack, &client, access).await;
    assert_eq!(resp.status(), 200);
    let i: Value = resp.json().await.unwrap();
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["sub"], "oidc:alice");
    assert_eq!(i["client_id"], client.id.as_str());
    assert_eq!(i["aud"], stack.resource("memory").as_str());
    assert!(i["exp"].is_number() && i["scope"].is_string(), "{i}");
    let refresh = introspect(&stack, &client, t["refresh_token"].as_str().unwrap()).await;
    let ri: Value = refresh.json().await.unwrap();
    assert_eq!(ri["active"], true, "refresh token: {ri}");

    let resp = stack
        .http
        .post(stack.url("/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let i: Value = introspect(&stack, &client, access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(i, serde_json::json!({"active": false}));
    let junk: Value = introspect(&stack, &client, "junk")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(junk, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn introspect_requires_client_authentication() {
    let (stack, client, t) = logged_in("client_secret_basic").await;
    let access = t["access_token"].as_str().unwrap();
    let none = stack
        .http
        .post(stack.url("/introspect"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    let wrong = stack
        .http
        .post(stack.url("/introspect"))
        .basic_auth(&client.id, Some("wrong-secret"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        header(&wrong, "www-authenticate")
            .to_ascii_lowercase()
            .starts_with("basic")
    );
}

/// The provider checks the password for real: a wrong one gets its login form again, never a code.
#[tokio::test]
async fn wrong_upstream_password_gets_no_code() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let params = authorize_params(&stack, &client, &Pkce::new());
    let liar = User {
        login: ALICE.login,
        password: "not-her-password",
        email: ALICE.email,
    };
    match Browser::new()
        .authorize(&stack, &params, &liar, &client.redirect_uri)
        .await
    {
        End::Page(status, body) => {
            assert_eq!(status, 401);
            assert!(body.contains("Wrong login or password"), "{body}");
        }
        End::Redirect(url) => panic!("redirected with a wrong password: {url}"),
    }
}

/// The user refuses at the provider: the client learns `access_denied` (with `state` and `iss`).
#[tokio::test]
async fn upstream_denial_reaches_the_client_as_access_denied() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let params = authorize_params(&stack, &client, &Pkce::new());
    let mut browser = Browser::new();
    browser.deny_upstream = true;
    let url = browser
        .authorize(&stack, &params, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    assert_eq!(
        End::param(&url, "error").as_deref(),
        Some("access_denied"),
        "{url}"
    );
    assert_eq!(End::param(&url, "state").as_deref(), Some("st-123"));
    assert_eq!(End::param(&url, "iss"), Some(stack.issuer()));
    assert!(End::param(&url, "code").is_none());
}

/// The allow list is checked again at refresh, so a removed user cannot renew
/// (docs/architecture/security.md#users-consent-and-allow-lists).
#[tokio::test]
async fn refresh_of_a_removed_user_is_invalid_grant() {
    let mut stack = Stack::start().await;
    let client = stack.register("none").await;
    let t = stack.login(&client, &BOB).await;
    stack.restart_authd(&[("ALLOWED_EMAILS", ALICE.email)]);
    let resp = stack
        .refresh(&client, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant", "{e}");
}

/// Secrets never reach the log, even at debug level: client secret, code, tokens, the password.
#[tokio::test]
async fn logs_hold_no_secrets() {
    let stack = Stack::start().await;
    let client = stack.register("client_secret_post").await;
    let (code, pkce) = stack.code_for(&client, &ALICE).await;
    let t = ok_tokens(stack.redeem(&client, &code, &pkce).await).await;
    let t2 = ok_tokens(
        stack
            .refresh(&client, t["refresh_token"].as_str().unwrap())
            .await,
    )
    .await;
    assert_eq!(
        stack
            .verify("memory", t2["access_token"].as_str())
            .await
            .status(),
        200
    );
    let log = stack.authd.log();
    assert!(log.lines().count() > 5, "authd logged nothing: {log}");
    let (_, rat) = client.management();
    for secret in [
        client.secret.as_deref().unwrap(),
        rat.as_str(),
        code.as_str(),
        pkce.verifier.as_str(),
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
        t2["refresh_token"].as_str().unwrap(),
        ALICE.password,
        common::process::UPSTREAM_CLIENT_SECRET,
    ] {
        assert!(!log.contains(secret), "a secret is in authd's log");
    }
}
