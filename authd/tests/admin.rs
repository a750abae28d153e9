//! The admin CLI and the process contract: key rotation keeping the previous key published,
//! client and token management, and host routing (configuration: `config.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ALICE, Stack, header};
use serde_json::Value;

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
    let out = common::process::authd_output(
        &stack.scratch.0,
        &stack.env,
        &[
            "token",
            "mint",
            "--user",
            "oidc:alice",
            "--resource",
            "https://evil.example/mcp",
        ],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

/// Host routing (docs/architecture/overview.md#one-source-of-truth-for-routes): issuer
/// `https://auth.${BASE_DOMAIN}`, resource `https://mcp-<name>.${BASE_DOMAIN}/mcp`, both derived
/// from the forwarded headers.
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
    // Client requirement P1 (docs/architecture/client-requirements.md): a host that carries a
    // single resource also answers at the root path.
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

/// docs/architecture/security.md#users-consent-and-allow-lists: consent is remembered and
/// revocable; after revocation the next login asks again.
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

fn jti_of(token: &str) -> String {
    common::jwt::claims(token)["jti"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `user_tokens:{user}` index (docs/architecture/security.md#what-redis-holds): one user's
/// access tokens and refresh families are listed and revoked from its index (no keyspace scan),
/// and the revocation holds on the next /verify and the next refresh, without touching another
/// user's tokens.
#[tokio::test]
async fn tokens_of_one_user_are_listed_and_revoked_together() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let grant = stack.login(&client, &ALICE).await;
    let access = grant["access_token"].as_str().unwrap();
    let refresh = grant["refresh_token"].as_str().unwrap();
    let minted = stack.mint("oidc:alice", "fetch", &["--email", ALICE.email]);
    let bob = stack.mint("oidc:bob", "memory", &["--email", common::BOB.email]);

    let list = stack.cli(&["tokens", "list", "--user", "oidc:alice"]);
    let lines: Vec<Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "two access tokens and one family: {list}");
    for jti in [jti_of(access), jti_of(&minted)] {
        assert!(lines.iter().any(|l| l["jti"] == jti.as_str()), "{list}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["family"].is_string() && l["client_id"] == client.id.as_str())
    );
    assert!(!list.contains(&jti_of(&bob)), "another user's token listed");
    assert!(
        !list.contains(refresh) && !list.contains(access),
        "token values listed"
    );

    // Bounded in time: the index expires with the longest-lived grant it holds (the refresh
    // family, REFRESH_TOKEN_TTL_SECS default 30 days).
    let mut c = stack.redis.conn();
    let ttl: i64 = redis::cmd("TTL")
        .arg("oauth:user_tokens:oidc:alice")
        .query(&mut c)
        .unwrap();
    assert!(ttl > 2_592_000 - 60 && ttl <= 2_592_000, "ttl {ttl}");

    stack.cli(&["tokens", "revoke", "--user", "oidc:alice"]);
    for t in [access, minted.as_str()] {
        let service = common::jwt::claims(t)["aud"]
            .as_str()
            .unwrap()
            .contains("/fetch/");
        let service = if service { "fetch" } else { "memory" };
        assert_eq!(stack.verify(service, Some(t)).await.status(), 401);
    }
    let resp = stack.refresh(&client, refresh).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(stack.verify("memory", Some(&bob)).await.status(), 200);
    assert_eq!(stack.cli(&["tokens", "list", "--user", "oidc:alice"]), "");
    // Without --user the full listing still works (SCAN) and shows what is left.
    assert!(stack.cli(&["tokens", "list"]).contains(&jti_of(&bob)));
}

/// The index is bounded in size: expired entries are dropped and only the newest
/// `user_tokens::CAP` (1,000) entries are kept.
#[tokio::test]
async fn user_index_drops_expired_entries_and_keeps_the_newest_thousand() {
    let stack = Stack::start().await;
    let key = "oauth:user_tokens:oidc:carol";
    let now = common::jwt::now();
    let mut c = stack.redis.conn();
    let mut pipe = redis::pipe();
    pipe.zadd(key, "a:expired", now - 10);
    for i in 0..1000 {
        pipe.zadd(key, format!("a:old{i}"), now + 100 + i);
    }
    let _: () = pipe.query(&mut c).unwrap();
    let token = stack.mint("oidc:carol", "memory", &["--ttl", "7200"]);
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(members.len(), 1000);
    assert!(!members.contains(&"a:expired".to_owned()));
    assert!(
        !members.contains(&"a:old0".to_owned()),
        "earliest-expiring kept"
    );
    assert_eq!(members.last().unwrap(), &format!("a:{}", jti_of(&token)));
    let ttl: i64 = redis::cmd("TTL").arg(key).query(&mut c).unwrap();
    assert!(ttl > 7000 && ttl <= 7200, "ttl {ttl}");
}

/// `authd upstream whoami` (the lookup the live GitHub test drives): the token comes only from
/// UPSTREAM_ACCESS_TOKEN, and a token the real provider rejects is a failure, never an identity.
#[tokio::test]
async fn upstream_whoami_needs_a_token_the_provider_accepts() {
    let stack = Stack::start().await;
    let run = |token: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_authd"));
        cmd.args(["upstream", "whoami"])
            .env_clear()
            .envs(stack.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&stack.scratch.0);
        if let Some(t) = token {
            cmd.env("UPSTREAM_ACCESS_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = run(None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("UPSTREAM_ACCESS_TOKEN is not set"));
    let out = run(Some("not-a-token-the-provider-issued"));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401"),
        "userinfo should refuse the token: {err}"
    );
    assert!(
        !err.contains("not-a-token-the-provider-issued"),
        "token logged: {err}"
    );
}
