//! `/authorize` (OAuth 2.1 §4.1.1, RFC 8707, RFC 9207; client requirements Z1-Z4 of
//! docs/architecture/client-requirements.md): no redirect on a bad client or redirect URI, errors
//! redirected with `state` and `iss` otherwise, PKCE S256 required, `resource` required and
//! normalised, `state` verbatim, escaped output everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::{Browser, Client, End, Pkce, authorize_params, set_param};
use common::{ALICE, BOB, Stack};
use serde_json::json;
use url::Url;

/// Sends `/authorize` with `params` and returns the raw first response.
async fn first(stack: &Stack, params: &[(String, String)]) -> reqwest::Response {
    let mut url = Url::parse(&stack.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    stack.http.get(url).send().await.unwrap()
}

/// Asserts an error page: 4xx, HTML, and no `Location` at all.
async fn assert_error_page(resp: reqwest::Response, what: &str) -> String {
    let status = resp.status();
    assert!(
        status.is_client_error(),
        "{what}: expected an error page, got {status}"
    );
    assert!(
        resp.headers().get("location").is_none(),
        "{what}: redirected to {:?}",
        resp.headers().get("location")
    );
    resp.text().await.unwrap()
}

/// Asserts an error redirect to the client carrying `error`, `state` and `iss` (RFC 9207).
fn assert_error_redirect(stack: &Stack, resp: &reqwest::Response, client: &Client, error: &str) {
    assert!(
        resp.status().is_redirection(),
        "expected a redirect with {error}, got {}",
        resp.status()
    );
    let loc = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert!(loc.as_str().starts_with(&client.redirect_uri), "{loc}");
    assert_eq!(End::param(&loc, "error").as_deref(), Some(error), "{loc}");
    assert_eq!(
        End::param(&loc, "state").as_deref(),
        Some("st-123"),
        "{loc}"
    );
    assert_eq!(End::param(&loc, "iss"), Some(stack.issuer()), "{loc}");
    assert!(End::param(&loc, "code").is_none());
}

/// Sends `params` and asserts the error redirect.
async fn expect_error(stack: &Stack, client: &Client, params: &[(String, String)], error: &str) {
    assert_error_redirect(stack, &first(stack, params).await, client, error);
}

async fn setup() -> (Stack, Client, Vec<(String, String)>) {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let params = authorize_params(&stack, &client, &Pkce::new());
    (stack, client, params)
}

#[tokio::test]
async fn valid_request_goes_to_the_upstream_provider() {
    let (stack, _, params) = setup().await;
    let resp = first(&stack, &params).await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(&stack.idp.issuer), "{loc}");
    // authd runs its own PKCE with the provider.
    assert!(loc.contains("code_challenge="), "{loc}");
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_not_a_redirect() {
    let (stack, _, mut params) = setup().await;
    set_param(&mut params, "client_id", Some("no-such-client"));
    assert_error_page(first(&stack, &params).await, "unknown client").await;
}

#[tokio::test]
async fn redirect_mismatch_and_open_redirect_attempts_get_an_error_page() {
    let (stack, client, params) = setup().await;
    let base = client.redirect_uri.clone();
    for attempt in [
        "https://evil.example/callback".to_owned(),
        format!("{base}/../evil"),
        format!("{base}x"),
        format!("{base}?next=https://evil.example"),
        format!("{base}#frag"),
        base.replace("127.0.0.1", "127.0.0.1.evil.example"),
        "//evil.example/callback".to_owned(),
        "javascript:alert(1)".to_owned(),
        "data:text/html,<script>alert(1)</script>".to_owned(),
    ] {
        let mut p = params.clone();
        set_param(&mut p, "redirect_uri", Some(&attempt));
        assert_error_page(first(&stack, &p).await, &attempt).await;
    }
    let mut p = params.clone();
    set_param(&mut p, "redirect_uri", None);
    // One registered URI may be implied (RFC 6749 §3.1.2.3); a redirect must then go to it only.
    let resp = first(&stack, &p).await;
    if let Some(loc) = resp.headers().get("location") {
        let loc = loc.to_str().unwrap();
        assert!(
            loc.starts_with(&stack.idp.issuer) || loc.starts_with(&base),
            "{loc}"
        );
    }
}

#[tokio::test]
async fn missing_pkce_is_invalid_request() {
    let (stack, client, mut params) = setup().await;
    set_param(&mut params, "code_challenge", None);
    set_param(&mut params, "code_challenge_method", None);
    expect_error(&stack, &client, &params, "invalid_request").await;
}

#[tokio::test]
async fn plain_pkce_is_rejected() {
    let (stack, client, mut params) = setup().await;
    set_param(&mut params, "code_challenge_method", Some("plain"));
    expect_error(&stack, &client, &params, "invalid_request").await;
    // No method at all defaults to `plain` (RFC 7636 §4.3): rejected as well.
    set_param(&mut params, "code_challenge_method", None);
    expect_error(&stack, &client, &params, "invalid_request").await;
}

#[tokio::test]
async fn unknown_or_missing_resource_is_invalid_target() {
    let (stack, client, mut params) = setup().await;
    set_param(&mut params, "resource", Some("https://evil.example/mcp"));
    expect_error(&stack, &client, &params, "invalid_target").await;
    set_param(&mut params, "resource", None);
    expect_error(&stack, &client, &params, "invalid_target").await;
}

#[tokio::test]
async fn resource_is_normalised_before_matching() {
    let (stack, _, mut params) = setup().await;
    let resource = stack.resource("memory");
    for variant in [
        format!("{resource}/"),
        resource.replace("http://", "HTTP://"),
    ] {
        set_param(&mut params, "resource", Some(&variant));
        let resp = first(&stack, &params).await;
        let loc = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            loc.starts_with(&stack.idp.issuer),
            "{variant}: {} {loc}",
            resp.status()
        );
    }
}

#[tokio::test]
async fn unsupported_response_type_is_redirected_with_iss() {
    let (stack, client, mut params) = setup().await;
    set_param(&mut params, "response_type", Some("token"));
    expect_error(&stack, &client, &params, "unsupported_response_type").await;
}

#[tokio::test]
async fn state_comes_back_verbatim_with_iss() {
    let (stack, client, mut params) = setup().await;
    let state = "a b&c=d/é?%20+~";
    set_param(&mut params, "state", Some(state));
    let url = Browser::new()
        .authorize(&stack, &params, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    assert_eq!(End::param(&url, "state").as_deref(), Some(state));
    assert_eq!(End::param(&url, "iss"), Some(stack.issuer()));
    assert!(End::param(&url, "code").is_some());
}

#[tokio::test]
async fn missing_scope_means_the_default_scopes_and_unknown_scopes_are_dropped() {
    let (stack, client, _) = setup().await;
    for scope in [None, Some("mcp unknown-scope offline_access")] {
        let pkce = Pkce::new();
        let mut params = authorize_params(&stack, &client, &pkce);
        set_param(&mut params, "scope", scope);
        let url = Browser::new()
            .authorize(&stack, &params, &ALICE, &client.redirect_uri)
            .await
            .redirect();
        let code = End::param(&url, "code").unwrap_or_else(|| panic!("{scope:?}: {url}"));
        let resp = stack.redeem(&client, &code, &pkce).await;
        assert_eq!(resp.status(), 200);
        let t: serde_json::Value = resp.json().await.unwrap();
        let granted: Vec<&str> = t["scope"].as_str().unwrap().split(' ').collect();
        assert!(granted.contains(&"mcp"), "{scope:?}: {granted:?}");
        assert!(!granted.contains(&"unknown-scope"), "{granted:?}");
    }
}

#[tokio::test]
async fn denied_consent_is_access_denied_with_state_and_iss() {
    let (stack, client, params) = setup().await;
    let mut browser = Browser::new();
    browser.approve = false;
    let url = browser
        .authorize(&stack, &params, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    assert_eq!(End::param(&url, "error").as_deref(), Some("access_denied"));
    assert_eq!(End::param(&url, "state").as_deref(), Some("st-123"));
    assert_eq!(End::param(&url, "iss"), Some(stack.issuer()));
    assert!(End::param(&url, "code").is_none());
}

#[tokio::test]
async fn user_not_on_the_allow_list_gets_no_code() {
    let stack = Stack::with(&[("ALLOWED_EMAILS", ALICE.email)]).await;
    let client = stack.register("none").await;
    let params = authorize_params(&stack, &client, &Pkce::new());
    let url = Browser::new()
        .authorize(&stack, &params, &BOB, &client.redirect_uri)
        .await
        .redirect();
    assert_eq!(
        End::param(&url, "error").as_deref(),
        Some("access_denied"),
        "{url}"
    );
    assert!(End::param(&url, "code").is_none());
    assert_eq!(End::param(&url, "state").as_deref(), Some("st-123"));
    assert_eq!(End::param(&url, "iss"), Some(stack.issuer()));
}

#[tokio::test]
async fn consent_page_shows_the_client_and_is_remembered() {
    let (stack, client, _) = setup().await;
    let pages = stack.login_pages(&client, &ALICE).await;
    let consent = pages.iter().find(|p| p.contains("integration test client"));
    let consent = common::html::decode(consent.expect("a consent page naming the client"));
    assert!(consent.contains("127.0.0.1"), "redirect host not shown");
    assert!(consent.contains("/memory/mcp"), "resource not shown");
    // MCP authorization 2026-07-28 "Localhost Redirect URI Risks": a warning for loopback-only
    // clients, none for a client that redirects to the web.
    assert!(
        consent.contains("localhost address"),
        "no localhost warning"
    );
    let web = json!({"client_name": "web client", "redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "none"});
    let r: serde_json::Value = stack.register_raw(&web).await.json().await.unwrap();
    let web = Client {
        id: r["client_id"].as_str().unwrap().to_owned(),
        secret: None,
        redirect_uri: "https://app.example/cb".into(),
        registration: r,
    };
    let pages = stack.login_pages(&web, &ALICE).await;
    let consent = pages.iter().find(|p| p.contains("web client")).unwrap();
    assert!(consent.contains("app.example"), "redirect host not shown");
    assert!(
        !consent.contains("localhost address"),
        "warning for a web client"
    );
    // Second run, same user and client, fresh browser session at the provider: no consent page.
    let again = stack.login_pages(&client, &ALICE).await;
    assert!(
        !again.iter().any(|p| p.contains("integration test client")),
        "asked again"
    );
}

#[tokio::test]
async fn consent_post_without_the_csrf_token_is_rejected() {
    let (stack, _, _) = setup().await;
    let resp = stack
        .http
        .post(stack.url("/consent"))
        .form(&[("csrf_token", "forged"), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert!(resp.headers().get("location").is_none());
}

const XSS: &str = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>";

fn assert_escaped(body: &str, what: &str) {
    assert!(
        !body.contains("<script>alert(1)"),
        "{what}: unescaped script in {body}"
    );
    assert!(
        !body.contains("<img src=x"),
        "{what}: unescaped markup in {body}"
    );
}

#[tokio::test]
async fn xss_in_every_reflected_parameter_is_escaped() {
    let (stack, _, params) = setup().await;
    for name in [
        "client_id",
        "redirect_uri",
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "state",
        "resource",
        "scope",
    ] {
        let mut p = params.clone();
        set_param(&mut p, name, Some(XSS));
        let resp = first(&stack, &p).await;
        let loc = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        if let Some(loc) = loc {
            // A redirect carries the value only URL-encoded.
            assert!(!loc.contains('<') && !loc.contains('"'), "{name}: {loc}");
        }
        assert_escaped(&resp.text().await.unwrap(), name);
    }
}

#[tokio::test]
async fn xss_in_the_client_name_is_escaped_on_the_consent_page() {
    let stack = Stack::start().await;
    let resp = stack
        .register_raw(&serde_json::json!({
            "client_name": XSS,
            "client_uri": "https://example.com/\"><script>alert(1)</script>",
            "redirect_uris": [common::browser::REDIRECT_URI],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    assert_eq!(resp.status(), 201);
    let r: serde_json::Value = resp.json().await.unwrap();
    let client = Client {
        id: r["client_id"].as_str().unwrap().to_owned(),
        secret: None,
        redirect_uri: common::browser::REDIRECT_URI.to_owned(),
        registration: r,
    };
    let pages = stack.login_pages(&client, &ALICE).await;
    assert!(
        pages
            .iter()
            .any(|p| p.contains("&lt;script&gt;") || p.contains("&#60;script")),
        "name not shown"
    );
    for page in pages.iter() {
        assert_escaped(page, "consent page");
    }
}

#[tokio::test]
async fn xss_in_callback_parameters_is_escaped() {
    let stack = Stack::start().await;
    for q in [
        format!("code=x&state={}", urlencode(XSS)),
        format!("error={}&state=x", urlencode(XSS)),
        format!("error=access_denied&error_description={}", urlencode(XSS)),
    ] {
        let resp = stack
            .http
            .get(stack.url(&format!("/callback?{q}")))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{q}: {}", resp.status());
        assert!(resp.headers().get("location").is_none(), "{q}");
        assert_escaped(&resp.text().await.unwrap(), &q);
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
