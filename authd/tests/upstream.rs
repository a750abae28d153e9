//! When the upstream provider fails or refuses, the client is told on its redirect URI with
//! `error`, `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207), never left on a page it cannot see:
//! the provider unreachable at `/authorize` or at the code exchange is `server_error`, a code the
//! provider refuses is `access_denied`. The provider is the real one, killed for real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::{Browser, End, Pkce, authorize_params};
use common::{ALICE, Stack};
use url::Url;

fn assert_error(stack: &Stack, url: &Url, error: &str) {
    assert_eq!(End::param(url, "error").as_deref(), Some(error), "{url}");
    assert_eq!(End::param(url, "state").as_deref(), Some("st-123"), "{url}");
    assert_eq!(End::param(url, "iss"), Some(stack.issuer()), "{url}");
    assert!(End::param(url, "code").is_none(), "{url}");
}

/// Runs the browser until the provider redirects to authd's `/callback`; returns that URL.
async fn up_to_callback(stack: &Stack, browser: &Browser) -> (common::browser::Client, Url) {
    let client = stack.register("none").await;
    let params = authorize_params(stack, &client, &Pkce::new());
    let callback = browser
        .authorize(stack, &params, &ALICE, &stack.url("/callback"))
        .await
        .redirect();
    (client, callback)
}

#[tokio::test]
async fn provider_down_at_authorize_is_server_error_on_the_redirect_uri() {
    let mut stack = Stack::start().await;
    let client = stack.register("none").await;
    stack.idp.kill();
    let params = authorize_params(&stack, &client, &Pkce::new());
    let url = Browser::new()
        .authorize(&stack, &params, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    assert_error(&stack, &url, "server_error");
    assert!(stack.authd.log().contains("authorization failed upstream"));
}

#[tokio::test]
async fn provider_down_at_the_code_exchange_is_server_error_on_the_redirect_uri() {
    let mut stack = Stack::start().await;
    let browser = Browser::new();
    let (client, callback) = up_to_callback(&stack, &browser).await;
    assert!(End::param(&callback, "code").is_some(), "{callback}");
    stack.idp.kill();
    let url = browser
        .drive(callback, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    assert_error(&stack, &url, "server_error");
    // The detail is in authd's log, not in what the client sees.
    let description = End::param(&url, "error_description").unwrap();
    assert!(!description.contains("127.0.0.1"), "{description}");
}

#[tokio::test]
async fn a_code_the_provider_refuses_is_access_denied() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    let (client, mut callback) = up_to_callback(&stack, &browser).await;
    let state = End::param(&callback, "state").unwrap();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                "forged-code".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(&pairs);
    assert_eq!(End::param(&callback, "state"), Some(state));
    let url = browser
        .drive(callback, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    assert_error(&stack, &url, "access_denied");
}
