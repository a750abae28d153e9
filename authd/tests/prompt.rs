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

/// One user's browser at one client: its provider session and remembered consent carry over.
struct Session {
    stack: Stack,
    client: Client,
    browser: Browser,
}

impl Session {
    async fn start() -> Session {
        let stack = Stack::start().await;
        let client = stack.register("none").await;
        Session {
            stack,
            client,
            browser: Browser::new(),
        }
    }

    /// `/authorize` with `prompt` (if any) for `client`; the redirect to the client and the
    /// pages shown on the way.
    async fn run_for(&self, client: &Client, prompt: Option<&str>) -> (Url, Vec<String>) {
        let mut params = authorize_params(&self.stack, client, &Pkce::new());
        set_param(&mut params, "prompt", prompt);
        self.browser.pages.lock().unwrap().clear();
        let url = self
            .browser
            .authorize(&self.stack, &params, &ALICE, &client.redirect_uri)
            .await
            .redirect();
        let pages = self.browser.pages.lock().unwrap().clone();
        (url, pages)
    }

    async fn run(&self, prompt: Option<&str>) -> (Url, Vec<String>) {
        self.run_for(&self.client, prompt).await
    }

    /// A first login, a second one without `prompt` (the control), then one with `prompt`.
    async fn again_with(&self, prompt: &str) -> [(Url, Vec<String>); 3] {
        [
            self.run(None).await,
            self.run(None).await,
            self.run(Some(prompt)).await,
        ]
    }

    fn assert_error(&self, url: &Url, error: &str) {
        assert_eq!(End::param(url, "error").as_deref(), Some(error), "{url}");
        assert_eq!(End::param(url, "state").as_deref(), Some("st-123"), "{url}");
        assert_eq!(End::param(url, "iss"), Some(self.stack.issuer()), "{url}");
        assert!(End::param(url, "code").is_none(), "{url}");
    }
}

fn code(url: &Url) -> bool {
    End::param(url, "code").is_some()
}

#[tokio::test]
async fn prompt_consent_shows_the_page_even_when_consent_is_remembered() {
    let s = Session::start().await;
    let [first, control, prompted] = s.again_with("consent").await;
    assert!(code(&first.0) && consent_shown(&first.1));
    assert!(
        code(&control.0) && !consent_shown(&control.1),
        "not remembered"
    );
    assert!(code(&prompted.0), "{}", prompted.0);
    assert!(
        consent_shown(&prompted.1),
        "prompt=consent skipped the consent page"
    );
}

#[tokio::test]
async fn prompt_login_asks_the_provider_for_a_fresh_login() {
    let s = Session::start().await;
    let [first, control, prompted] = s.again_with("login").await;
    assert!(login_shown(&first.1));
    // The provider's session logs the user in without the form...
    assert!(
        code(&control.0) && !login_shown(&control.1),
        "{:?}",
        control.1
    );
    // ...unless prompt=login asks for a fresh login.
    assert!(code(&prompted.0), "{}", prompted.0);
    assert!(
        login_shown(&prompted.1),
        "prompt=login did not ask for the password"
    );
}

#[tokio::test]
async fn prompt_none_without_a_provider_session_is_login_required_without_a_page() {
    let s = Session::start().await;
    let (url, pages) = s.run(Some("none")).await;
    s.assert_error(&url, "login_required");
    assert!(pages.is_empty(), "prompt=none showed a page");
}

#[tokio::test]
async fn prompt_none_completes_silently_or_answers_consent_required() {
    let s = Session::start().await;
    s.run(None).await;
    // Logged in at the provider and consent remembered: a code, no page at all.
    let (url, pages) = s.run(Some("none")).await;
    assert!(code(&url), "{url}");
    assert_eq!(End::param(&url, "iss"), Some(s.stack.issuer()));
    assert!(pages.is_empty(), "{pages:?}");
    // Another client the user never consented to: consent_required, still no page.
    let other = s.stack.register("none").await;
    let (url, pages) = s.run_for(&other, Some("none")).await;
    s.assert_error(&url, "consent_required");
    assert!(pages.is_empty(), "{pages:?}");
}

#[tokio::test]
async fn prompt_none_with_another_value_is_invalid_request() {
    let s = Session::start().await;
    let (url, pages) = s.run(Some("none consent")).await;
    s.assert_error(&url, "invalid_request");
    assert!(pages.is_empty());
}
