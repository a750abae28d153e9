//! `prompt` at `/authorize` with the semantics of OpenID Connect Core §3.1.2.1 (issue: real
//! clients send it; mcp-remote sends `prompt=consent`): `consent` shows the consent page even when
//! remembered, `login` makes the provider ask for the password again, `none` never shows a page
//! and answers `login_required` or `consent_required` (with `state` and `iss`) when it cannot
//! complete silently. The provider is the real development OpenID provider with its own session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::{Browser, Client, End, Pkce, authorize_params, set_param};
use common::{ALICE, Stack};
use url::Url;

/// The consent page of authd names the test client.
fn consent_shown(pages: &[String]) -> bool {
    pages.iter().any(|p| p.contains("integration test client"))
}

/// The provider's login form asks for a password.
fn login_shown(pages: &[String]) -> bool {
    pages.iter().any(|p| p.contains("name=\"password\""))
}

fn with_prompt(stack: &Stack, client: &Client, prompt: &str) -> Vec<(String, String)> {
    let mut params = authorize_params(stack, client, &Pkce::new());
    set_param(&mut params, "prompt", Some(prompt));
    params
}

/// Runs `/authorize` in `browser`; returns the redirect to the client and the pages shown.
async fn run(
    stack: &Stack,
    client: &Client,
    browser: &Browser,
    params: &[(String, String)],
) -> (Url, Vec<String>) {
    browser.pages.lock().unwrap().clear();
    let url = browser
        .authorize(stack, params, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    let pages = browser.pages.lock().unwrap().clone();
    (url, pages)
}

fn assert_error(stack: &Stack, url: &Url, error: &str) {
    assert_eq!(End::param(url, "error").as_deref(), Some(error), "{url}");
    assert_eq!(End::param(url, "state").as_deref(), Some("st-123"), "{url}");
    assert_eq!(End::param(url, "iss"), Some(stack.issuer()), "{url}");
    assert!(End::param(url, "code").is_none(), "{url}");
}

#[tokio::test]
async fn prompt_consent_shows_the_page_even_when_consent_is_remembered() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let browser = Browser::new();
    let plain = authorize_params(&stack, &client, &Pkce::new());
    let (url, pages) = run(&stack, &client, &browser, &plain).await;
    assert!(End::param(&url, "code").is_some() && consent_shown(&pages));
    // Control: remembered, so no page the second time.
    let (url, pages) = run(&stack, &client, &browser, &plain).await;
    assert!(End::param(&url, "code").is_some() && !consent_shown(&pages));
    let (url, pages) = run(
        &stack,
        &client,
        &browser,
        &with_prompt(&stack, &client, "consent"),
    )
    .await;
    assert!(End::param(&url, "code").is_some(), "{url}");
    assert!(
        consent_shown(&pages),
        "prompt=consent skipped the consent page"
    );
}

#[tokio::test]
async fn prompt_login_asks_the_provider_for_a_fresh_login() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let browser = Browser::new();
    let plain = authorize_params(&stack, &client, &Pkce::new());
    let (_, pages) = run(&stack, &client, &browser, &plain).await;
    assert!(login_shown(&pages));
    // Control: the provider's session logs the user in without the form.
    let (url, pages) = run(&stack, &client, &browser, &plain).await;
    assert!(
        End::param(&url, "code").is_some() && !login_shown(&pages),
        "{pages:?}"
    );
    let (url, pages) = run(
        &stack,
        &client,
        &browser,
        &with_prompt(&stack, &client, "login"),
    )
    .await;
    assert!(End::param(&url, "code").is_some(), "{url}");
    assert!(
        login_shown(&pages),
        "prompt=login did not ask for the password"
    );
}

#[tokio::test]
async fn prompt_none_without_a_provider_session_is_login_required_without_a_page() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let browser = Browser::new();
    let (url, pages) = run(
        &stack,
        &client,
        &browser,
        &with_prompt(&stack, &client, "none"),
    )
    .await;
    assert_error(&stack, &url, "login_required");
    assert!(pages.is_empty(), "prompt=none showed a page");
}

#[tokio::test]
async fn prompt_none_completes_silently_or_answers_consent_required() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let browser = Browser::new();
    run(
        &stack,
        &client,
        &browser,
        &authorize_params(&stack, &client, &Pkce::new()),
    )
    .await;
    // Logged in at the provider and consent remembered: a code, no page at all.
    let (url, pages) = run(
        &stack,
        &client,
        &browser,
        &with_prompt(&stack, &client, "none"),
    )
    .await;
    assert!(End::param(&url, "code").is_some(), "{url}");
    assert_eq!(End::param(&url, "iss"), Some(stack.issuer()));
    assert!(pages.is_empty(), "{pages:?}");
    // Another client the user never consented to: consent_required, still no page.
    let other = stack.register("none").await;
    let (url, pages) = run(
        &stack,
        &other,
        &browser,
        &with_prompt(&stack, &other, "none"),
    )
    .await;
    assert_error(&stack, &url, "consent_required");
    assert!(pages.is_empty(), "{pages:?}");
}

#[tokio::test]
async fn prompt_none_with_another_value_is_invalid_request() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let browser = Browser::new();
    let (url, pages) = run(
        &stack,
        &client,
        &browser,
        &with_prompt(&stack, &client, "none consent"),
    )
    .await;
    assert_error(&stack, &url, "invalid_request");
    assert!(pages.is_empty());
}
