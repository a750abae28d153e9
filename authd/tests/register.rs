//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), with the rules
//! real clients need (client requirements D1-D3 of docs/architecture/client-requirements.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::REDIRECT_URI;
use common::{ALICE, Stack};
use reqwest::Method;
use serde_json::{Value, json};

fn body(redirect_uris: &[&str]) -> Value {
    json!({"client_name": "t", "redirect_uris": redirect_uris, "token_endpoint_auth_method": "none"})
}

#[tokio::test]
async fn public_client_gets_no_secret_and_management_credentials() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let r = &client.registration;
    assert!(client.secret.is_none(), "{r}");
    assert!(
        r["registration_access_token"]
            .as_str()
            .is_some_and(|s| s.len() >= 20),
        "{r}"
    );
    assert_eq!(
        r["registration_client_uri"],
        format!("{}/register/{}", stack.issuer(), client.id).as_str()
    );
    // RFC 7591 §3.2.1: the registered metadata is echoed.
    assert_eq!(r["redirect_uris"], json!([REDIRECT_URI]));
    assert_eq!(r["token_endpoint_auth_method"], "none");
    assert_eq!(r["client_name"], "integration test client");
}

#[tokio::test]
async fn confidential_clients_get_a_secret_for_both_methods() {
    let stack = Stack::start().await;
    for method in ["client_secret_basic", "client_secret_post"] {
        let client = stack.register(method).await;
        let r = &client.registration;
        assert!(
            client.secret.as_deref().is_some_and(|s| s.len() >= 20),
            "{r}"
        );
        assert_eq!(r["token_endpoint_auth_method"], method);
        assert!(r["client_secret_expires_at"].is_number(), "{r}");
    }
}

#[tokio::test]
async fn eight_redirect_uris_of_real_clients_are_accepted() {
    let stack = Stack::start().await;
    let uris = [
        "https://claude.ai/api/mcp/auth_callback",
        "https://vscode.dev/redirect",
        "http://127.0.0.1:33418/",
        "http://localhost:6274/oauth/callback",
        "http://[::1]:8765/cb",
        "cursor://anysphere.cursor-mcp/oauth/callback",
        "https://chatgpt.com/connector_platform_oauth_redirect",
        "https://www.cursor.com/agents/mcp/oauth/callback",
    ];
    let resp = stack.register_raw(&body(&uris)).await;
    assert_eq!(resp.status(), 201);
    let r: Value = resp.json().await.unwrap();
    assert_eq!(r["redirect_uris"].as_array().unwrap().len(), 8, "{r}");
}

#[tokio::test]
async fn bad_redirect_uris_are_rejected_by_name() {
    let stack = Stack::start().await;
    for bad in [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://example.com/callback",
        "https://example.com/cb#fragment",
        "not a uri",
        "file:///etc/passwd",
    ] {
        let resp = stack
            .register_raw(&body(&["https://ok.example/cb", bad]))
            .await;
        assert_eq!(resp.status(), 400, "{bad}");
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"], "invalid_redirect_uri", "{bad}: {e}");
        let description = e["error_description"].as_str().unwrap_or("");
        assert!(
            description.contains(bad),
            "{bad}: the description does not name it: {description}"
        );
    }
}

#[tokio::test]
async fn missing_redirect_uris_is_invalid() {
    let stack = Stack::start().await;
    let resp = stack.register_raw(&json!({"client_name": "t"})).await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert!(
        matches!(
            e["error"].as_str(),
            Some("invalid_redirect_uri" | "invalid_client_metadata")
        ),
        "{e}"
    );
}

#[tokio::test]
async fn unknown_fields_are_ignored_and_native_apps_accepted() {
    let stack = Stack::start().await;
    let resp = stack
        .register_raw(&json!({
            "redirect_uris": ["http://127.0.0.1:4567/cb"],
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "x_vendor_extension": {"a": 1},
            "software_id": "test"
        }))
        .await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn unsupported_auth_method_is_invalid_client_metadata() {
    let stack = Stack::start().await;
    let mut b = body(&[REDIRECT_URI]);
    b["token_endpoint_auth_method"] = json!("tls_client_auth");
    let resp = stack.register_raw(&b).await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client_metadata", "{e}");
}

#[tokio::test]
async fn malformed_json_is_a_400_json_error() {
    let stack = Stack::start().await;
    let resp = stack
        .http
        .post(stack.url("/register"))
        .header("content-type", "application/json")
        .body("{\"redirect_uris\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert!(e["error"].is_string(), "{e}");
}

#[tokio::test]
async fn rfc7592_read_update_delete() {
    let stack = Stack::start().await;
    let client = stack.register("client_secret_basic").await;
    let read = stack.manage(Method::GET, &client, None, None).await;
    assert_eq!(read.status(), 200);
    let r: Value = read.json().await.unwrap();
    assert_eq!(r["client_id"], client.id.as_str());
    assert_eq!(r["redirect_uris"], json!([REDIRECT_URI]));

    // RFC 7592 §2.2: the update replaces the metadata; client_id must be included.
    let update = json!({
        "client_id": client.id,
        "client_name": "renamed",
        "redirect_uris": [REDIRECT_URI, "http://127.0.0.1:7777/cb"],
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    });
    let put = stack
        .manage(Method::PUT, &client, None, Some(&update))
        .await;
    assert_eq!(put.status(), 200);
    let r: Value = put.json().await.unwrap();
    assert_eq!(r["client_name"], "renamed");
    assert_eq!(r["redirect_uris"].as_array().unwrap().len(), 2);
    let again = stack.manage(Method::GET, &client, None, None).await;
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["client_name"], "renamed");

    let delete = stack.manage(Method::DELETE, &client, None, None).await;
    assert_eq!(delete.status(), 204);
    let gone = stack.manage(Method::GET, &client, None, None).await;
    assert_eq!(gone.status(), 401);
}

#[tokio::test]
async fn rfc7592_wrong_token_does_not_reveal_whether_the_client_exists() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let (uri, _) = client.management();
    let wrong = stack
        .manage(Method::GET, &client, Some("wrong-token"), None)
        .await;
    let missing = stack
        .http
        .get(stack.url("/register/no-such-client"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(missing.status(), 401);
    let none = stack.http.get(&uri).send().await.unwrap();
    assert_eq!(none.status(), 401);
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let body = json!({"client_id": client.id, "redirect_uris": [REDIRECT_URI]});
        let resp = stack
            .manage(method.clone(), &client, Some("wrong-token"), Some(&body))
            .await;
        assert_eq!(resp.status(), 401, "{method}");
    }
    // The client survived the attempts.
    assert_eq!(
        stack
            .manage(Method::GET, &client, None, None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn rfc7592_update_with_a_bad_redirect_uri_is_rejected() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let update = json!({"client_id": client.id, "redirect_uris": ["javascript:alert(1)"],
        "token_endpoint_auth_method": "none"});
    let resp = stack
        .manage(Method::PUT, &client, None, Some(&update))
        .await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_redirect_uri");
}

/// Client requirement D3: a deleted client is `invalid_client` at /token, even with a valid refresh
/// token.
#[tokio::test]
async fn deleted_client_is_invalid_client_at_token() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let tokens = stack.login(&client, &ALICE).await;
    assert_eq!(
        stack
            .manage(Method::DELETE, &client, None, None)
            .await
            .status(),
        204
    );
    let resp = stack
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(resp.status(), 401);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client");
}

/// A leaked Redis dump grants nothing
/// (docs/architecture/security.md#what-a-stolen-redis-dump-yields): no secret, registration token,
/// code or refresh token is stored in clear, and every key but clients and the admin set expires.
#[tokio::test]
async fn redis_holds_only_hashes_and_every_key_expires() {
    let stack = Stack::start().await;
    let client = stack.register("client_secret_post").await;
    let tokens = stack.login(&client, &ALICE).await;
    let (code, _) = stack.code_for(&client, &ALICE).await;
    let secrets = [
        client.secret.clone().unwrap(),
        client.management().1,
        tokens["refresh_token"].as_str().unwrap().to_owned(),
        code,
    ];
    let mut conn = stack.redis.conn();
    for key in stack.redis_keys() {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).unwrap();
        // Read the value by type (DUMP may compress it and hide a secret).
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(&key).query(&mut conn).unwrap()],
            "hash" => redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap(),
            "set" => redis::cmd("SMEMBERS").arg(&key).query(&mut conn).unwrap(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query(&mut conn)
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query(&mut conn)
                .unwrap(),
            other => panic!("unexpected type {other} of {key}"),
        };
        let text = String::from_utf8_lossy(&values.concat()).into_owned();
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()) && !key.contains(s.as_str()),
                "secret in clear in {key} ({kind})"
            );
        }
        let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut conn).unwrap();
        let exempt = key.contains("client:") || key.ends_with("disabled_users");
        assert!(exempt || ttl > 0, "{key} has no TTL ({ttl})");
    }
}

/// RFC 9110 §11.1: `BEARER` is the Bearer scheme at the RFC 7592 endpoint as at `/verify`.
#[tokio::test]
async fn rfc7592_accepts_the_bearer_scheme_in_any_case() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let (uri, token) = client.management();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let resp = stack
            .http
            .get(&uri)
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
    let basic = stack
        .http
        .get(&uri)
        .header("Authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
}

/// MCP authorization 2026-07-28 "Application Type and Redirect URI Constraints" (OpenID Connect
/// Registration §2): `native` takes loopback, private-use and claimed https URIs; `web` takes
/// https on a non-local host only, and a conflict names the URI so the client can register again
/// as native; other values are `invalid_client_metadata`; without the field (earlier revisions)
/// loopback URIs stay accepted. The value is echoed.
#[tokio::test]
async fn application_type_is_honoured_as_the_2026_revision_says() {
    let stack = Stack::start().await;
    let native = json!({"redirect_uris": ["http://127.0.0.1:33418/cb",
        "cursor://anysphere.cursor-mcp/oauth/callback", "https://vscode.dev/redirect"],
        "application_type": "native", "token_endpoint_auth_method": "none"});
    let resp = stack.register_raw(&native).await;
    assert_eq!(resp.status(), 201);
    let r: Value = resp.json().await.unwrap();
    assert_eq!(r["application_type"], "native");
    let web = json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
        "application_type": "web", "token_endpoint_auth_method": "none"});
    let resp = stack.register_raw(&web).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["application_type"],
        "web"
    );
    for uri in [
        "http://localhost:6274/oauth/callback",
        "https://127.0.0.1/cb",
    ] {
        let conflict = json!({"redirect_uris": ["https://claude.ai/cb", uri],
            "application_type": "web", "token_endpoint_auth_method": "none"});
        let resp = stack.register_raw(&conflict).await;
        assert_eq!(resp.status(), 400, "{uri}");
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"], "invalid_redirect_uri", "{e}");
        assert!(
            e["error_description"].as_str().unwrap().contains(uri),
            "{e}"
        );
    }
    let odd = json!({"redirect_uris": ["https://a.example/cb"], "application_type": "desktop"});
    let resp = stack.register_raw(&odd).await;
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client_metadata", "{e}");
    let omitted = body(&["http://127.0.0.1:4567/cb"]);
    let resp = stack.register_raw(&omitted).await;
    assert_eq!(resp.status(), 201);
    assert!(
        resp.json::<Value>()
            .await
            .unwrap()
            .get("application_type")
            .is_none()
    );
}
