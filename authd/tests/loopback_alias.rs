//! Loopback aliases of a loopback PUBLIC_URL (docs/api/endpoints.md#loopback-aliases): the test
//! stack's PUBLIC_URL is `http://127.0.0.1:PORT`, so `http://localhost:PORT` and
//! `http://[::1]:PORT` are origins of their own. Their metadata names their own resource (RFC 9728
//! §3.3), `/authorize` and `/token` take it (RFC 8707), the token's audience is it, and `/verify`
//! accepts a token only on the origin it was issued for; the issuer stays PUBLIC_URL (RFC 8414 §3.3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::{Browser, Client, End, Pkce, authorize_params, set_param};
use common::jwt;
use common::{ALICE, Stack, header};
use reqwest::Method;
use serde_json::Value;

/// `host:port` of an alias of the stack's PUBLIC_URL (`localhost`, `[::1]`).
fn alias_host(stack: &Stack, name: &str) -> String {
    format!("{name}:{}", stack.authd.port)
}

fn resource_on(host: &str, service: &str) -> String {
    format!("http://{host}/{service}/mcp")
}

fn prm_on(host: &str, service: &str) -> String {
    format!("http://{host}/.well-known/oauth-protected-resource/{service}/mcp")
}

/// `/verify` as the edge sends it for `service` on `host`.
async fn verify_on(stack: &Stack, host: &str, service: &str, token: &str) -> reqwest::Response {
    stack
        .forwarded(Method::GET, "http", host, &format!("/{service}/mcp"))
        .header("X-Forwarded-Method", "POST")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The JSON answer of `req`.
async fn json(req: reqwest::RequestBuilder) -> Value {
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn metadata_names_the_resource_of_the_origin_asked() {
    let stack = Stack::start().await;
    let localhost = alias_host(&stack, "localhost");
    // A real request to the alias (authd listens on 127.0.0.1, which `localhost` names): the
    // resource comes from its Host.
    let doc = json(stack.http.get(prm_on(&localhost, "memory"))).await;
    assert_eq!(doc["resource"], resource_on(&localhost, "memory"));
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!([stack.issuer()])
    );
    let behind_edge = |host: &str| {
        stack
            .http
            .get(stack.url("/.well-known/oauth-protected-resource/memory/mcp"))
            .header("X-Forwarded-Host", host)
    };
    // Behind the edge: from X-Forwarded-Host.
    for host in [alias_host(&stack, "[::1]"), localhost.to_uppercase()] {
        let doc = json(behind_edge(&host)).await;
        let own = resource_on(&host.to_lowercase(), "memory");
        assert_eq!(doc["resource"], own, "{host}");
    }
    // No alias (another loopback address, a public name): PUBLIC_URL's resource.
    for host in ["127.0.0.2:1", "gw.example.com"] {
        let doc = json(behind_edge(host)).await;
        assert_eq!(doc["resource"], stack.resource("memory"), "{host}");
    }
    // The one authorization server's metadata names the issuer clients derived it from.
    let meta = stack
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(meta["issuer"], stack.issuer());
}

#[tokio::test]
async fn challenge_on_an_alias_names_the_alias_metadata() {
    let stack = Stack::start().await;
    let localhost = alias_host(&stack, "localhost");
    let resp = stack
        .forwarded(Method::GET, "http", &localhost, "/memory/mcp")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}\"",
            prm_on(&localhost, "memory")
        )),
        "{challenge}"
    );
}

/// A code for `resource` from a full browser login of alice, and its PKCE verifier.
async fn code_for_resource(stack: &Stack, client: &Client, resource: &str) -> (String, String) {
    let pkce = Pkce::new();
    let mut params = authorize_params(stack, client, &pkce);
    set_param(&mut params, "resource", Some(resource));
    let url = Browser::new()
        .authorize(stack, &params, &ALICE, &client.redirect_uri)
        .await
        .redirect();
    (End::param(&url, "code").unwrap(), pkce.verifier)
}

/// `/token` for a fresh code for `resource`, which the request names as `asked`.
async fn redeem(stack: &Stack, client: &Client, resource: &str, asked: &str) -> reqwest::Response {
    let (code, verifier) = code_for_resource(stack, client, resource).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
        ("resource", asked),
    ];
    stack.token(client, &form).await
}

#[tokio::test]
async fn a_code_for_an_alias_is_not_redeemed_for_public_url() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let alias = resource_on(&alias_host(&stack, "localhost"), "memory");
    // RFC 8707 §2.2: the resource at /token must be the one authorized.
    let resp = redeem(&stack, &client, &alias, &stack.resource("memory")).await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_target", "{e}");
}

#[tokio::test]
async fn a_token_is_bound_to_the_origin_it_was_issued_for() {
    let stack = Stack::start().await;
    let localhost = alias_host(&stack, "localhost");
    let alias = resource_on(&localhost, "memory");
    let canonical = stack.resource("memory");
    let client = stack.register("none").await;
    // Another spelling of the alias: normalised before matching (client requirement Z3).
    let asked = format!("{alias}/").replace("localhost", "LOCALHOST");
    let resp = redeem(&stack, &client, &alias, &asked).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt::claims(access)["aud"], alias);
    assert_eq!(jwt::claims(access)["iss"], stack.issuer());

    assert_eq!(
        verify_on(&stack, &localhost, "memory", access)
            .await
            .status(),
        200
    );
    for other in [stack.own_host(), alias_host(&stack, "[::1]")] {
        let resp = verify_on(&stack, &other, "memory", access).await;
        assert_eq!(resp.status(), 401, "{other}");
        let challenge = header(&resp, "www-authenticate");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(challenge.contains("another resource"), "{challenge}");
        assert!(challenge.contains(&prm_on(&other, "memory")), "{challenge}");
    }

    // A refresh keeps the alias (client requirement T2), and PUBLIC_URL's resource is refused.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let resp = stack
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("resource", &canonical),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let resp = stack.refresh(&client, refresh).await;
    assert_eq!(resp.status(), 200);
    let again: Value = resp.json().await.unwrap();
    assert_eq!(
        jwt::claims(again["access_token"].as_str().unwrap())["aud"],
        alias
    );
}

#[tokio::test]
async fn a_public_url_token_is_refused_on_an_alias() {
    let stack = Stack::start().await;
    let (token, claims, _) = stack.real_token();
    assert_eq!(claims["aud"], stack.resource("memory"));
    assert_eq!(
        verify_on(&stack, &stack.own_host(), "memory", &token)
            .await
            .status(),
        200,
        "control"
    );
    for name in ["localhost", "[::1]"] {
        let host = alias_host(&stack, name);
        assert_eq!(
            verify_on(&stack, &host, "memory", &token).await.status(),
            401,
            "{host}"
        );
    }
    // The admin CLI mints for an alias too, and that token passes there only.
    let localhost = alias_host(&stack, "localhost");
    let alias = resource_on(&localhost, "memory");
    let minted = stack.cli(&[
        "token",
        "mint",
        "--user",
        "oidc:alice",
        "--resource",
        &alias,
        "--email",
        ALICE.email,
    ]);
    let minted = minted.trim();
    assert_eq!(jwt::claims(minted)["aud"], alias);
    assert_eq!(
        verify_on(&stack, &localhost, "memory", minted)
            .await
            .status(),
        200
    );
    assert_eq!(
        verify_on(&stack, &stack.own_host(), "memory", minted)
            .await
            .status(),
        401
    );
}
