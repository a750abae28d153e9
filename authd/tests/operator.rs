//! What an operator and a passer-by see: the status page at `/` (servers, health, login, no
//! secrets) and the admin listings of users, consents and connected clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ALICE, BOB, Stack, header};
use serde_json::Value;

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
        .collect()
}

#[tokio::test]
async fn status_page_lists_servers_and_login_without_secrets_and_tracks_redis() {
    let mut stack = Stack::start().await;
    let resp = stack.http.get(stack.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/html"));
    assert_eq!(header(&resp, "cache-control"), "no-store");
    assert!(header(&resp, "content-security-policy").contains("default-src 'none'"));
    let html = resp.text().await.unwrap();
    for service in common::SERVICES {
        assert!(html.contains(&stack.resource(service)), "{service}: {html}");
    }
    assert!(html.contains("Healthy"), "{html}");
    assert!(html.contains("OpenID Connect provider"), "{html}");
    assert!(html.contains(&stack.idp.issuer), "{html}");
    assert!(!html.contains("<script"), "{html}");
    for secret in ["JWT_PRIVATE_KEY", "OIDC_CLIENT_SECRET", "OIDC_CLIENT_ID"] {
        let value = &stack.env.iter().find(|(k, _)| k == secret).unwrap().1;
        assert!(!html.contains(value.as_str()), "{secret} shown");
    }
    // Nothing about users: the allow list is not shown.
    assert!(!html.contains(ALICE.email) && !html.contains(BOB.email));

    stack.redis.kill();
    let resp = stack.http.get(stack.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("Degraded"));
    stack.redis.restart();
    // authd reconnects by itself; bounded wait on the page itself.
    let start = std::time::Instant::now();
    loop {
        let resp = stack.http.get(stack.url("/")).send().await.unwrap();
        if resp.status() == 200 {
            assert!(resp.text().await.unwrap().contains("Healthy"));
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no recovery"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn users_consents_and_connected_clients_are_listed_without_token_values() {
    let stack = Stack::start().await;
    let client = stack.register("none").await;
    let tokens = stack.login(&client, &ALICE).await;
    let alice = common::jwt::claims(tokens["access_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.cli(&["users", "disable", "oidc:bob"]);

    let users = lines(&stack.cli(&["users", "list"]));
    let a = users.iter().find(|u| u["user"] == alice.as_str()).unwrap();
    assert_eq!(a["access_tokens"], 1, "{a}");
    assert_eq!(a["refresh_families"], 1, "{a}");
    assert_eq!(a["clients"], serde_json::json!([client.id]), "{a}");
    assert_eq!(a["consents"], 1, "{a}");
    assert_eq!(a["disabled"], false);
    let b = users.iter().find(|u| u["user"] == "oidc:bob").unwrap();
    assert_eq!(b["disabled"], true, "{b}");
    assert_eq!(b["access_tokens"], 0, "{b}");

    let consents = lines(&stack.cli(&["consents", "list", "--user", &alice]));
    assert_eq!(consents.len(), 1, "{consents:?}");
    assert_eq!(consents[0]["client_id"], client.id.as_str());
    assert_eq!(consents[0]["client_name"], "integration test client");
    let left = consents[0]["expires_in"].as_i64().unwrap();
    assert!(left > 0 && left <= 7_776_000, "{left}");
    assert!(lines(&stack.cli(&["consents", "list", "--user", "oidc:bob"])).is_empty());

    let connected = lines(&stack.cli(&["clients", "connected"]));
    assert_eq!(connected.len(), 1, "{connected:?}");
    assert_eq!(connected[0]["client_id"], client.id.as_str());
    assert_eq!(connected[0]["users"], serde_json::json!([alice]));
    assert_eq!(connected[0]["access_tokens"], 1);

    for out in [
        stack.cli(&["users", "list"]),
        stack.cli(&["clients", "connected"]),
    ] {
        for secret in ["access_token", "refresh_token"] {
            let value = tokens[secret].as_str().unwrap();
            assert!(!out.contains(value), "{secret} listed");
        }
    }

    // Revoking everything alice holds disconnects the client; her consent stays until revoked.
    stack.cli(&["tokens", "revoke", "--user", &alice]);
    assert!(lines(&stack.cli(&["clients", "connected"])).is_empty());
    assert_eq!(lines(&stack.cli(&["consents", "list"])).len(), 1);
    stack.cli(&[
        "consents", "revoke", "--user", &alice, "--client", &client.id,
    ]);
    assert!(lines(&stack.cli(&["consents", "list"])).is_empty());
}

/// `authd check` (what `just doctor` runs): 0 for valid settings, 64 naming every bad one.
#[tokio::test]
async fn check_validates_settings_without_serving() {
    let stack = Stack::start().await;
    let run = |env: &[(String, String)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
            .arg("check")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&stack.scratch.0)
            .output()
            .unwrap()
    };
    let ok = run(&stack.env);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let mut bad = stack.env.clone();
    bad.retain(|(k, _)| k != "ALLOWED_EMAILS" && k != "REDIS_URL");
    bad.push(("ACCESS_TOKEN_TTL_SECS".into(), "soon".into()));
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in ["ALLOWED_EMAILS", "REDIS_URL", "ACCESS_TOKEN_TTL_SECS"] {
        assert!(err.contains(name), "{name} not named: {err}");
    }
}
