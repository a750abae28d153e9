//! The admin CLI and the process contract: configuration validated in one pass (exit 64), key
//! rotation keeping the previous key published, client and token management, and host routing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ALICE, Stack, header};
use serde_json::Value;

#[tokio::test]
async fn invalid_configuration_names_every_problem_and_exits_64() {
    let stack = Stack::start().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("serve")
        .env_clear()
        .env("AUTH_CODE_TTL_SECS", "600")
        .env("ROUTING", "sideways")
        .current_dir(&stack.scratch.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in [
        "MCP_SERVICES",
        "REDIS_URL",
        "JWT_PRIVATE_KEY",
        "OIDC_ISSUER",
        "ROUTING",
        "AUTH_CODE_TTL_SECS",
    ] {
        assert!(err.contains(name), "{name} not named in: {err}");
    }
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_publishes_both_keys() {
    let mut stack = Stack::start().await;
    let old = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    let old_kid = common::jwt::header(&old)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let env_file = stack.scratch.0.join("rotate.env");
    std::fs::write(&env_file, "FOO=bar\nJWT_PRIVATE_KEY=old\n").unwrap();
    stack.cli(&["keys", "rotate", "--env-file", env_file.to_str().unwrap()]);
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(text.contains("FOO=bar"), "other lines kept: {text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("JWT_PRIVATE_KEY="))
        .unwrap();
    let new_key = line.strip_prefix("JWT_PRIVATE_KEY=").unwrap().to_owned();
    assert_ne!(new_key, "old");
    stack.restart_authd(&[("JWT_PRIVATE_KEY", &new_key)]);

    let jwks = stack.get_json("/jwks").await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(
        kids.contains(&old_kid.as_str()),
        "previous key not published: {kids:?}"
    );
    assert_eq!(
        stack.verify("memory", Some(&old)).await.status(),
        200,
        "token of the previous key"
    );
    let new = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    let new_kid = common::jwt::header(&new)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(stack.verify("memory", Some(&new)).await.status(), 200);
}

#[tokio::test]
async fn clients_list_and_delete() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let list = stack.cli(&["clients", "list"]);
    assert!(list.lines().any(|l| l.contains(&client.id)), "{list}");
    for l in list.lines() {
        let _: Value = serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}"));
    }
    stack.cli(&["clients", "delete", &client.id]);
    assert!(!stack.cli(&["clients", "list"]).contains(&client.id));
    assert_eq!(
        stack
            .manage(reqwest::Method::GET, &client, None, None)
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn tokens_list_shows_ids_not_token_values() {
    let stack = Stack::start().await;
    let token = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    let jti = common::jwt::claims(&token)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = stack.cli(&["tokens", "list"]);
    assert!(list.contains(&jti), "{list}");
    assert!(!list.contains(&token), "token value listed");
    let sig = token.rsplit('.').next().unwrap();
    assert!(!list.contains(sig));
}

#[tokio::test]
async fn mint_refuses_an_unknown_resource() {
    let stack = Stack::start().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args([
            "token",
            "mint",
            "--user",
            "oidc:alice",
            "--resource",
            "https://evil.example/mcp",
        ])
        .env_clear()
        .envs(stack.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&stack.scratch.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

/// Host routing (DESIGN §5): issuer `https://auth.${BASE_DOMAIN}`, resource
/// `https://mcp-<name>.${BASE_DOMAIN}/mcp`, both derived from the forwarded headers.
#[tokio::test]
async fn host_routing_metadata_and_verify() {
    let stack = Stack::with(&[("ROUTING", "host"), ("BASE_DOMAIN", "example.test")]).await;
    let prm = async |path: &str| -> Value {
        let resp = stack
            .http
            .get(stack.url(path))
            .header("X-Forwarded-Host", "mcp-memory.example.test")
            .header("X-Forwarded-Proto", "https")
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap()
    };
    let m = prm("/.well-known/oauth-protected-resource/mcp").await;
    assert_eq!(m["resource"], "https://mcp-memory.example.test/mcp");
    // CLIENTS.md P1: a host that carries a single resource also answers at the root path.
    assert_eq!(prm("/.well-known/oauth-protected-resource").await, m);
    assert_eq!(
        m["authorization_servers"],
        serde_json::json!(["https://auth.example.test"])
    );
    let asm = stack
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(asm["issuer"], "https://auth.example.test");

    let token = stack.cli(&[
        "token",
        "mint",
        "--user",
        "oidc:alice",
        "--email",
        ALICE.email,
        "--resource",
        "https://mcp-memory.example.test/mcp",
    ]);
    let verify = |host: &'static str| {
        stack
            .forwarded(reqwest::Method::GET, "https", host, "/mcp")
            .bearer_auth(token.trim())
            .send()
    };
    assert_eq!(
        verify("mcp-memory.example.test").await.unwrap().status(),
        200
    );
    let other = verify("mcp-fetch.example.test").await.unwrap();
    assert_eq!(other.status(), 401);
    assert!(
        header(&other, "www-authenticate")
            .contains("https://mcp-fetch.example.test/.well-known/oauth-protected-resource/mcp")
    );
}

/// Client ids and token ids are base64url and may start with `-`: the CLI must take them as values.
#[tokio::test]
async fn ids_starting_with_a_dash_are_values_not_options() {
    let stack = Stack::start().await;
    stack.cli(&["clients", "delete", "-lt2mvJI_a8ohn_OFvFJl9"]);
    stack.cli(&["tokens", "revoke", "-Xq3vYk8Lrj0t4Fb7eMZ0aQ"]);
}

/// DESIGN §4.2: consent is remembered and revocable; after revocation the next login asks again.
#[tokio::test]
async fn revoked_consent_is_asked_again() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let consent_pages = async || {
        let pages = stack.login_pages(&client, &ALICE).await;
        pages
            .iter()
            .filter(|p| p.contains("integration test client"))
            .count()
    };
    assert_eq!(consent_pages().await, 1, "first login asks");
    assert_eq!(consent_pages().await, 0, "consent remembered");
    stack.cli(&[
        "consents",
        "revoke",
        "--user",
        "oidc:alice",
        "--client",
        &client.id,
    ]);
    assert_eq!(consent_pages().await, 1, "asked again after revocation");
}
