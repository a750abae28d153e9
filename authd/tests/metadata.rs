//! Discovery documents and CORS: RFC 8414 authorization-server metadata (client requirements A1, A2
//! of docs/architecture/client-requirements.md), RFC 9728 protected-resource metadata (P1, P2), the
//! JWKS (RFC 7517) and the CORS rules browser clients need (E3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Stack, header};
use serde_json::Value;

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn authorization_server_metadata_has_every_required_field() {
    let stack = Stack::start().await;
    let m = stack
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let iss = stack.issuer();
    // RFC 8414 §3.3: the issuer must be identical to the one the metadata was derived from.
    assert_eq!(m["issuer"], iss.as_str());
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("registration_endpoint", "/register"),
        ("jwks_uri", "/jwks"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
    ] {
        assert_eq!(m[field], format!("{iss}{path}").as_str(), "{field}");
    }
    assert_eq!(strings(&m["response_types_supported"]), ["code"]);
    let grants = strings(&m["grant_types_supported"]);
    assert!(
        grants.contains(&"authorization_code") && grants.contains(&"refresh_token"),
        "{grants:?}"
    );
    // OAuth 2.1 §4.1.1: S256 only, never `plain` (client requirement Z1).
    assert_eq!(strings(&m["code_challenge_methods_supported"]), ["S256"]);
    let methods = strings(&m["token_endpoint_auth_methods_supported"]);
    for method in [
        "none",
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ] {
        assert!(
            methods.contains(&method),
            "{method} missing from {methods:?}"
        );
    }
    // RFC 8414 §2: with private_key_jwt, the signing algorithms must be listed; never none/HMAC.
    for prefix in ["token", "revocation", "introspection"] {
        let algs = strings(&m[format!("{prefix}_endpoint_auth_signing_alg_values_supported")]);
        assert!(
            algs.contains(&"RS256") && algs.contains(&"ES256"),
            "{algs:?}"
        );
        assert!(
            !algs.iter().any(|a| *a == "none" || a.starts_with("HS")),
            "{algs:?}"
        );
    }
    assert_eq!(m["client_id_metadata_document_supported"], true);
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert!(strings(&m["scopes_supported"]).contains(&"offline_access"));
}

#[tokio::test]
async fn openid_configuration_is_the_same_document() {
    let stack = Stack::start().await;
    let a = stack
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let b = stack.get_json("/.well-known/openid-configuration").await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn protected_resource_metadata_names_the_exact_resource() {
    let stack = Stack::start().await;
    for service in common::SERVICES {
        let m = stack
            .get_json(&format!(
                "/.well-known/oauth-protected-resource/{service}/mcp"
            ))
            .await;
        // Client requirement P2: byte-equal to the URL the user pastes, exactly one authorization
        // server.
        assert_eq!(m["resource"], stack.resource(service).as_str());
        assert_eq!(
            strings(&m["authorization_servers"]),
            [stack.issuer().as_str()]
        );
        // MCP authorization 2026-07-28 "Refresh Tokens": the resource does not list
        // `offline_access`; the authorization server's metadata does (client requirement A2).
        assert_eq!(strings(&m["scopes_supported"]), ["mcp"], "{m}");
        assert_eq!(strings(&m["bearer_methods_supported"]), ["header"]);
    }
}

#[tokio::test]
async fn protected_resource_metadata_of_an_unknown_service_is_404() {
    let stack = Stack::start().await;
    let resp = stack
        .http
        .get(stack.url("/.well-known/oauth-protected-resource/nope/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_with_kid() {
    let stack = Stack::start().await;
    let jwks = stack.get_json("/jwks").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        assert_eq!(k["kty"], "RSA");
        assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()), "{k}");
        assert!(k.get("d").is_none(), "private part published: {k}");
    }
    // A token's `kid` names a published key.
    let token = stack.mint("oidc:alice", "memory", &["--email", common::ALICE.email]);
    let kid = common::jwt::header(&token)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        keys.iter().any(|k| k["kid"] == kid.as_str()),
        "kid {kid} not in {jwks}"
    );
}

#[tokio::test]
async fn health_is_ok_with_redis_and_key() {
    let stack = Stack::start().await;
    let resp = stack.http.get(stack.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// Client requirement E3: every public route answers CORS preflights without a token (204) and
/// exposes the headers MCP clients read.
#[tokio::test]
async fn cors_preflight_on_every_public_route() {
    let stack = Stack::start().await;
    for path in [
        "/.well-known/oauth-protected-resource/memory/mcp",
        "/.well-known/oauth-authorization-server",
        "/jwks",
        "/register",
        "/token",
        "/revoke",
    ] {
        let resp = stack
            .http
            .request(reqwest::Method::OPTIONS, stack.url(path))
            .header("Origin", "http://localhost:6274")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type,mcp-protocol-version",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204, "OPTIONS {path}");
        assert_eq!(header(&resp, "access-control-allow-origin"), "*", "{path}");
        assert!(
            resp.headers()
                .get("access-control-allow-credentials")
                .is_none_or(|v| v != "true")
        );
        let methods = header(&resp, "access-control-allow-methods").to_ascii_uppercase();
        for m in ["GET", "POST", "DELETE", "OPTIONS"] {
            assert!(methods.contains(m), "{path}: {m} not in {methods}");
        }
        let allowed = header(&resp, "access-control-allow-headers").to_ascii_lowercase();
        for h in [
            "authorization",
            "content-type",
            "mcp-session-id",
            "mcp-protocol-version",
            "last-event-id",
        ] {
            assert!(allowed.contains(h), "{path}: {h} not in {allowed}");
        }
    }
}

#[tokio::test]
async fn cors_headers_on_actual_responses_expose_www_authenticate() {
    let stack = Stack::start().await;
    for path in ["/.well-known/oauth-authorization-server", "/jwks"] {
        let resp = stack
            .http
            .get(stack.url(path))
            .header("Origin", "https://example.net")
            .send()
            .await
            .unwrap();
        assert_eq!(header(&resp, "access-control-allow-origin"), "*");
        let exposed = header(&resp, "access-control-expose-headers").to_ascii_lowercase();
        for h in ["mcp-session-id", "www-authenticate", "mcp-protocol-version"] {
            assert!(exposed.contains(h), "{path}: {h} not in {exposed}");
        }
    }
}

/// Client requirement E1: discovery never redirects (clients do not follow 30x there).
#[tokio::test]
async fn discovery_never_redirects() {
    let stack = Stack::start().await;
    for path in [
        "/.well-known/oauth-authorization-server/",
        "/.well-known/oauth-protected-resource/memory/mcp/",
        "/.well-known/oauth-protected-resource/memory/mcp",
    ] {
        let resp = stack.http.get(stack.url(path)).send().await.unwrap();
        assert!(!resp.status().is_redirection(), "{path}: {}", resp.status());
    }
}

#[tokio::test]
async fn request_id_is_echoed() {
    let stack = Stack::start().await;
    let resp = stack
        .http
        .get(stack.url("/health"))
        .header("X-Request-Id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "x-request-id"), "req-abc-123");
    let resp = stack.http.get(stack.url("/health")).send().await.unwrap();
    assert!(!header(&resp, "x-request-id").is_empty());
}
