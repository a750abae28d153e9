//! Client ID Metadata Documents (client requirements C1, C2 of
//! docs/architecture/client-requirements.md): the test serves a real document over HTTP on
//! loopback, which authd fetches only with its test-only switch (off by default: the SSRF guard
//! refuses loopback and plain http).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::{Client, Pkce, authorize_params};
use common::docs::DocServer;
use common::{ALICE, Stack};
use serde_json::{Value, json};

const SWITCH: (&str, &str) = ("CIMD_ALLOW_INSECURE_LOOPBACK_FOR_TESTS_ONLY", "true");

fn document(client_id: &str, redirect: &str) -> String {
    json!({
        "client_id": client_id,
        "client_name": "CIMD test client",
        "redirect_uris": [redirect],
        "grant_types": ["authorization_code", "refresh_token", "urn:example:unknown-grant"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
    .to_string()
}

fn url_client(url: &str, redirect: &str) -> Client {
    Client {
        id: url.to_owned(),
        secret: None,
        redirect_uri: redirect.to_owned(),
        registration: json!({"token_endpoint_auth_method": "none"}),
    }
}

#[tokio::test]
async fn complete_flow_with_a_url_client_id() {
    let stack = Stack::with(&[SWITCH]).await;
    let redirect = "http://127.0.0.1:9/cimd-callback";
    let server = DocServer::document(move |url| document(url, redirect));
    let client = url_client(&server.url, redirect);
    let tokens = stack.login(&client, &ALICE).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        common::jwt::claims(access)["client_id"],
        server.url.as_str()
    );
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);
    // The refresh grant works for the URL client as well.
    let resp = stack
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(resp.status(), 200);
    assert!(server.hits() >= 1);
}

#[tokio::test]
async fn loopback_redirect_in_a_document_matches_any_port() {
    let stack = Stack::with(&[SWITCH]).await;
    let server = DocServer::document(|url| document(url, "http://127.0.0.1/callback"));
    let client = url_client(&server.url, "http://127.0.0.1:51234/callback");
    let (code, _) = stack.code_for(&client, &ALICE).await;
    assert!(!code.is_empty());
}

async fn first_response(stack: &Stack, client: &Client) -> reqwest::Response {
    let params = authorize_params(stack, client, &Pkce::new());
    let mut url = url::Url::parse(&stack.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(&params);
    stack.http.get(url).send().await.unwrap()
}

#[tokio::test]
async fn loopback_documents_are_refused_without_the_test_switch() {
    let stack = Stack::start().await;
    let redirect = "http://127.0.0.1:9/cimd-callback";
    let server = DocServer::document(move |url| document(url, redirect));
    let resp = first_response(&stack, &url_client(&server.url, redirect)).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert!(resp.headers().get("location").is_none());
    assert_eq!(
        server.hits(),
        0,
        "the SSRF guard let a loopback fetch through"
    );
}

#[tokio::test]
async fn document_with_another_client_id_is_refused() {
    let stack = Stack::with(&[SWITCH]).await;
    let redirect = "http://127.0.0.1:9/cimd-callback";
    let server = DocServer::document(move |_| {
        document("https://someone-else.example/client.json", redirect)
    });
    let resp = first_response(&stack, &url_client(&server.url, redirect)).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test]
async fn redirect_not_listed_in_the_document_is_refused() {
    let stack = Stack::with(&[SWITCH]).await;
    let server = DocServer::document(|url| document(url, "http://127.0.0.1:9/listed"));
    let resp = first_response(
        &stack,
        &url_client(&server.url, "http://127.0.0.1:9/not-listed"),
    )
    .await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test]
async fn oversize_and_malformed_documents_are_refused() {
    let stack = Stack::with(&[SWITCH, ("CIMD_MAX_BYTES", "4096")]).await;
    let redirect = "http://127.0.0.1:9/cb";
    let big = DocServer::document(move |url| {
        let mut d: Value = serde_json::from_str(&document(url, redirect)).unwrap();
        d["padding"] = json!("x".repeat(64 * 1024));
        d.to_string()
    });
    let broken = DocServer::document(|_| "{\"client_id\": ".to_owned());
    for server in [big, broken] {
        let resp = first_response(&stack, &url_client(&server.url, redirect)).await;
        assert!(
            resp.status().is_client_error(),
            "{}: {}",
            server.url,
            resp.status()
        );
        assert!(resp.headers().get("location").is_none());
    }
    let health = stack.http.get(stack.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn url_client_with_a_browser_end_to_end_shows_consent_with_the_document_name() {
    let stack = Stack::with(&[SWITCH]).await;
    let redirect = "http://127.0.0.1:9/cimd-callback";
    let server = DocServer::document(move |url| document(url, redirect));
    let client = url_client(&server.url, redirect);
    let pages = stack.login_pages(&client, &ALICE).await;
    assert!(pages.iter().any(|p| p.contains("CIMD test client")));
}
