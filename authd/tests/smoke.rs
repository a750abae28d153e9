//! Smoke test of the `authd` binary: real throwaway Redis, the real binary over HTTP. Covers start-up
//! validation (exit 64), discovery documents, registration, the JWK set, a CLI-minted token through
//! `/verify`, and key rotation (the previous key stays published and its tokens keep working).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::process::{Authd, Redis, Scratch, authd_cli};
use serde_json::Value;

fn env_of(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
}

/// A pinned metadata document for a client whose own URL cannot be fetched (`.invalid`, RFC 6761).
const PINNED_CLIENT: &str = "https://app.invalid/oauth/client.json";

fn pinned_dir(scratch: &Scratch) -> String {
    let dir = scratch.0.join("pinned");
    std::fs::create_dir_all(&dir).unwrap();
    let doc = serde_json::json!({"client_id": PINNED_CLIENT, "client_name": "pinned",
        "redirect_uris": ["https://app.invalid/callback"]});
    std::fs::write(dir.join("app.json"), doc.to_string()).unwrap();
    dir.to_str().unwrap().to_owned()
}

async fn authorize_page(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    redirect: &str,
) -> String {
    let resp = http
        .get(format!("{base}/authorize"))
        .query(&[
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("response_type", "code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "an error page, never a redirect");
    resp.text().await.unwrap()
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// An access token for `oidc:smoke` minted by the admin CLI.
fn mint(scratch: &Scratch, env: &[(String, String)], resource: &str) -> String {
    let out = authd_cli(
        &scratch.0,
        env,
        &[
            "token",
            "mint",
            "--user",
            "oidc:smoke",
            "--resource",
            resource,
        ],
    );
    out.trim().to_owned()
}

async fn verify(http: &reqwest::Client, authd: &Authd, token: Option<&str>) -> reqwest::Response {
    let mut req = http
        .get(format!("{}/verify", authd.base()))
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", format!("127.0.0.1:{}", authd.port))
        .header("X-Forwarded-Uri", "/memory/mcp")
        .header("X-Forwarded-Method", "POST");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[test]
fn invalid_configuration_lists_every_problem_and_exits_64() {
    let scratch = Scratch::new();
    let out = Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("serve")
        .env_clear()
        .env("ROUTING", "sideways")
        .env("AUTH_CODE_TTL_SECS", "3600")
        .current_dir(&scratch.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in [
        "ROUTING",
        "MCP_SERVICES",
        "REDIS_URL",
        "JWT_PRIVATE_KEY",
        "AUTH_CODE_TTL_SECS",
        "ALLOW_ALL_USERS",
        "OIDC_ISSUER",
    ] {
        assert!(err.contains(name), "{name} not reported in: {err}");
    }
}

#[tokio::test]
async fn discovery_registration_jwks_verify_and_rotation() {
    let scratch = Scratch::new();
    let redis = Redis::start(&scratch.0);
    let mut authd = Authd::new(&scratch.0);
    let key = authd_cli(&scratch.0, &[], &["keygen"]);
    let key = key
        .trim()
        .strip_prefix("JWT_PRIVATE_KEY=")
        .unwrap()
        .to_owned();
    let mut env = env_of(&[
        ("AUTHD_LISTEN", format!("127.0.0.1:{}", authd.port)),
        ("ROUTING", "path".into()),
        ("PUBLIC_URL", authd.base()),
        ("MCP_SERVICES", "memory,fetch".into()),
        ("REDIS_URL", redis.url()),
        ("JWT_PRIVATE_KEY", key.clone()),
        // Discovery is lazy: the provider is not contacted by anything this test does.
        ("OIDC_ISSUER", "http://127.0.0.1:9".into()),
        ("OIDC_CLIENT_ID", "authd".into()),
        ("OIDC_CLIENT_SECRET", "unused".into()),
        ("ALLOW_ALL_USERS", "true".into()),
        ("CIMD_PINNED_DIR", pinned_dir(&scratch)),
    ]);
    authd.start(&env);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = authd.base();

    // RFC 8414 metadata, also at the OpenID discovery path.
    let meta: Value = get_json(
        &http,
        format!("{base}/.well-known/oauth-authorization-server"),
    )
    .await;
    assert_eq!(meta["issuer"], base);
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    let oidc: Value = get_json(&http, format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(oidc, meta);

    // RFC 9728 metadata of one resource.
    let prm = http
        .get(format!(
            "{base}/.well-known/oauth-protected-resource/memory/mcp"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(prm.headers()["access-control-allow-origin"], "*");
    let prm: Value = prm.json().await.unwrap();
    assert_eq!(prm["resource"], format!("{base}/memory/mcp"));
    assert_eq!(prm["authorization_servers"], serde_json::json!([base]));

    // RFC 7591 registration.
    let reg = http
        .post(format!("{base}/register"))
        .json(&serde_json::json!({"redirect_uris": ["http://127.0.0.1:7777/cb"], "token_endpoint_auth_method": "none", "client_name": "smoke"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 201);
    let reg: Value = reg.json().await.unwrap();
    assert!(reg["client_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        reg.get("client_secret").is_none(),
        "public clients get no secret"
    );
    assert!(reg["registration_access_token"].is_string());

    // JWK set with the key id, and a minted token through /verify.
    let jwks: Value = get_json(&http, format!("{base}/jwks")).await;
    let old_kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let resource = format!("{base}/memory/mcp");
    let old_token = mint(&scratch, &env, &resource);
    let ok = verify(&http, &authd, Some(&old_token)).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-user-id"], "oidc:smoke");
    assert_eq!(ok.headers()["x-scopes"], "mcp");
    assert!(ok.headers().contains_key("x-client-id") && ok.headers().contains_key("x-user-name"));
    let denied = verify(&http, &authd, None).await;
    assert_eq!(denied.status(), 401);
    let www = denied.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.contains(&format!(
            "resource_metadata=\"{base}/.well-known/oauth-protected-resource/memory/mcp\""
        )),
        "{www}"
    );

    // Client requirement C3 (docs/architecture/client-requirements.md): the pinned document stands
    // in for an unreachable one: the client is known (its redirect URI is checked), while an
    // unknown URL client is not.
    let page = authorize_page(&http, &base, PINNED_CLIENT, "https://evil.example/cb").await;
    assert!(page.contains("redirect_uri is not registered"), "{page}");
    let page = authorize_page(
        &http,
        &base,
        "https://other.invalid/c.json",
        "https://evil.example/cb",
    )
    .await;
    assert!(page.contains("unknown client"), "{page}");

    // Rotation: new key in the env file, previous key published until its tokens expire.
    let env_file = scratch.0.join("rotate.env");
    std::fs::write(
        &env_file,
        format!("LOG_LEVEL=info\nJWT_PRIVATE_KEY={key}\n"),
    )
    .unwrap();
    authd_cli(
        &scratch.0,
        &env,
        &["keys", "rotate", "--env-file", env_file.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(text.contains("LOG_LEVEL=info"), "other lines kept");
    let new_key = text
        .lines()
        .find_map(|l| l.strip_prefix("JWT_PRIVATE_KEY="))
        .unwrap()
        .to_owned();
    assert_ne!(new_key, key);
    set(&mut env, "JWT_PRIVATE_KEY", &new_key);
    authd.start(&env);
    let http = reqwest::Client::new();
    let jwks: Value = get_json(&http, format!("{base}/jwks")).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert_ne!(kids[0], old_kid, "the new key comes first");
    assert_eq!(kids[1], old_kid, "the previous key stays published");
    assert_eq!(
        verify(&http, &authd, Some(&old_token)).await.status(),
        200,
        "old token still valid"
    );
    let new_token = mint(&scratch, &env, &resource);
    assert_eq!(verify(&http, &authd, Some(&new_token)).await.status(), 200);
    drop(redis);
}
