//! Live GitHub test (`just test-github-live`, cargo feature `github-live`): the real GitHub
//! adapter's identity lookup (`GET /user`, `GET /user/orgs`) with a real personal access token,
//! and the login-time allow-list decisions, through the code path `/callback` uses after the
//! code exchange (`Upstream::lookup`, then `AllowPolicy`), driven via `authd upstream whoami`.
//!
//! Environment: `GITHUB_TEST_TOKEN` (required: the test fails when it is missing; scopes
//! `read:user` and `read:org`), `GITHUB_TEST_BASE_URL` (optional, default https://github.com;
//! an Enterprise URL tests the `/api/v3` endpoints).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

fn authd(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap()
}

/// `authd upstream whoami` with GitHub as the upstream and `allow` as the allow-list settings.
fn whoami(token: &str, key: &str, allow: &[(&str, &str)]) -> (bool, Value) {
    let base =
        std::env::var("GITHUB_TEST_BASE_URL").unwrap_or_else(|_| "https://github.com".into());
    let mut env = vec![
        ("MCP_SERVICES", "memory,fetch"),
        ("ROUTING", "path"),
        ("PUBLIC_URL", "http://127.0.0.1:8000"),
        // Not contacted: whoami needs no Redis.
        ("REDIS_URL", "redis://127.0.0.1:1/0"),
        ("JWT_PRIVATE_KEY", key),
        ("UPSTREAM", "github"),
        ("GITHUB_CLIENT_ID", "authd-live-test"),
        ("GITHUB_CLIENT_SECRET", "not-used-by-the-lookup"),
        ("GITHUB_BASE_URL", &base),
        ("UPSTREAM_ACCESS_TOKEN", token),
    ];
    env.extend_from_slice(allow);
    let out = authd(&["upstream", "whoami"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "whoami failed: {stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (v["may_login"].as_bool().unwrap(), v)
}

#[test]
fn github_identity_and_allow_lists() {
    let token = std::env::var("GITHUB_TEST_TOKEN").unwrap_or_default();
    assert!(
        !token.is_empty(),
        "GITHUB_TEST_TOKEN is not set: this live test needs a GitHub personal access token \
         (scopes read:user, read:org); it is run only by `just test-github-live`"
    );
    let key_line = String::from_utf8(authd(&["keygen"], &[]).stdout).unwrap();
    let key = key_line
        .trim()
        .strip_prefix("JWT_PRIVATE_KEY=")
        .unwrap()
        .to_owned();

    // Nobody on the list: the lookup works and the login is refused.
    let (allowed, who) = whoami(&token, &key, &[("ALLOWED_USERS", "nobody-authd-live-test")]);
    assert!(!allowed, "{who}");
    let id = who["id"].as_str().unwrap();
    let digits = id.strip_prefix("github:").unwrap();
    assert!(
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    let login = who["name"].as_str().unwrap().to_owned();
    assert!(!login.is_empty());
    assert_eq!(who["may_use"]["memory"], false);

    // The login on the global list (case-insensitive, as GitHub logins are).
    let (allowed, who) = whoami(&token, &key, &[("ALLOWED_USERS", &login.to_uppercase())]);
    assert!(allowed, "{who}");
    assert_eq!(who["may_use"]["memory"], true);
    // The stable id works too.
    assert!(whoami(&token, &key, &[("ALLOWED_USERS", id)]).0);

    // A per-service list that names someone else closes that service only.
    let (allowed, who) = whoami(
        &token,
        &key,
        &[
            ("ALLOWED_USERS", &login),
            ("ALLOWED_USERS_FETCH", "nobody-authd-live-test"),
        ],
    );
    assert!(allowed);
    assert_eq!(who["may_use"]["memory"], true);
    assert_eq!(who["may_use"]["fetch"], false);

    // Organisations (from /user/orgs): membership of one opens the login, another org does not.
    let orgs: Vec<String> = who["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_owned())
        .collect();
    assert!(
        !whoami(
            &token,
            &key,
            &[("ALLOWED_GITHUB_ORGS", "no-such-org-authd-live-test")]
        )
        .0
    );
    if let Some(org) = orgs.first() {
        assert!(
            whoami(&token, &key, &[("ALLOWED_GITHUB_ORGS", org)]).0,
            "org {org}"
        );
    }

    // A token GitHub does not know is a failure, not an identity.
    let out = authd(
        &["upstream", "whoami"],
        &[
            ("MCP_SERVICES", "memory"),
            ("ROUTING", "path"),
            ("PUBLIC_URL", "http://127.0.0.1:8000"),
            ("REDIS_URL", "redis://127.0.0.1:1/0"),
            ("JWT_PRIVATE_KEY", &key),
            ("UPSTREAM", "github"),
            ("GITHUB_CLIENT_ID", "authd-live-test"),
            ("GITHUB_CLIENT_SECRET", "x"),
            ("ALLOW_ALL_USERS", "true"),
            (
                "UPSTREAM_ACCESS_TOKEN",
                "gho_not_a_real_token_0000000000000000",
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
}
