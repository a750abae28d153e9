//! Configuration validated in one pass (exit 64): every duration and size is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ALICE, Stack};

/// Every duration and size at its upper bound: authd starts and serves a whole flow, and the
/// expiry times it computes are the configured ones (`now + ttl` does not overflow). One past
/// the bound is refused at start with the variable named (exit 64), and so is a `--ttl` past
/// a year at `token mint`.
#[tokio::test]
async fn largest_settings_serve_a_full_flow_and_larger_ones_are_refused() {
    let largest = [
        ("ACCESS_TOKEN_TTL_SECS", "86400"),
        ("REFRESH_TOKEN_TTL_SECS", "31536000"),
        ("AUTH_CODE_TTL_SECS", "60"),
        ("REFRESH_GRACE_SECS", "300"),
        ("CONSENT_TTL_SECS", "31536000"),
        ("REGISTER_RATE_WINDOW_SECS", "86400"),
        ("AUTHD_MAX_BODY_BYTES", "16777216"),
        ("CIMD_FETCH_TIMEOUT_SECS", "30"),
        ("CIMD_MAX_BYTES", "1048576"),
        ("CIMD_CACHE_SECS", "86400"),
    ];
    let stack = Stack::with(&largest).await;
    let client = stack.register("none").await;
    let tokens = stack.login(&client, &ALICE).await;
    assert_eq!(tokens["expires_in"], 86400);
    let access = tokens["access_token"].as_str().unwrap();
    let claims = common::jwt::claims(access);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86400
    );
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);
    let refreshed = stack
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 200);
    let mut conn = stack.redis.conn();
    let family_ttl: Vec<i64> = stack
        .redis_keys()
        .iter()
        .filter(|k| k.contains(":family:"))
        .map(|k| redis::cmd("TTL").arg(k).query(&mut conn).unwrap())
        .collect();
    assert!(
        family_ttl
            .iter()
            .all(|t| *t > 31_536_000 - 60 && *t <= 31_536_000),
        "{family_ttl:?}"
    );

    for (name, value) in largest {
        let past = (value.parse::<u64>().unwrap() + 1).to_string();
        let mut env = stack.env.clone();
        env.retain(|(k, _)| k != name);
        env.push((name.to_owned(), past));
        let out = common::process::authd_output(&stack.scratch.0, &env, &["serve"]);
        assert_eq!(out.status.code(), Some(64), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{name}: must be between")),
            "{name}: {err}"
        );
    }
    let huge = u64::MAX.to_string();
    let resource = stack.resource("memory");
    let out = common::process::authd_output(
        &stack.scratch.0,
        &stack.env,
        &[
            "token",
            "mint",
            "--user",
            "oidc:alice",
            "--ttl",
            &huge,
            "--resource",
            &resource,
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ttl"));
    let year = stack.mint("oidc:alice", "memory", &["--ttl", "31536000"]);
    let c = common::jwt::claims(&year);
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        31_536_000
    );
}

/// Secrets from files (Docker and Kubernetes secrets): authd serves with `JWT_PRIVATE_KEY_FILE`
/// (the PEM itself) and `OIDC_CLIENT_SECRET_FILE`; a variable given both
/// ways, an unreadable file and an empty file are each listed in the one start-up message (64).
#[tokio::test]
async fn secrets_are_read_from_files_and_file_problems_are_listed() {
    let mut stack = Stack::start().await;
    let dir = stack.scratch.0.clone();
    let key = dir.join("jwt.pem");
    std::fs::write(&key, &stack.key_pem).unwrap();
    let secret = dir.join("oidc-secret");
    std::fs::write(
        &secret,
        format!("{}\n", common::process::UPSTREAM_CLIENT_SECRET),
    )
    .unwrap();
    let key_path = key.to_str().unwrap().to_owned();
    let secret_path = secret.to_str().unwrap().to_owned();
    stack
        .env
        .retain(|(k, _)| k != "JWT_PRIVATE_KEY" && k != "OIDC_CLIENT_SECRET");
    stack.restart_authd(&[
        ("JWT_PRIVATE_KEY_FILE", &key_path),
        ("OIDC_CLIENT_SECRET_FILE", &secret_path),
    ]);
    // The upstream secret from the file works: a whole login, then the token passes /verify.
    let client = stack.register("none").await;
    let tokens = stack.login(&client, &ALICE).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);

    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let mut env = stack.env.clone();
    env.push(("OIDC_CLIENT_SECRET".into(), "also-given".into()));
    env.push((
        "REDIS_PASSWORD_FILE".into(),
        dir.join("absent").to_str().unwrap().into(),
    ));
    env.retain(|(k, _)| k != "JWT_PRIVATE_KEY_FILE");
    env.push((
        "JWT_PRIVATE_KEY_FILE".into(),
        empty.to_str().unwrap().into(),
    ));
    let out = common::process::authd_output(&dir, &env, &["check"]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for problem in [
        "OIDC_CLIENT_SECRET and OIDC_CLIENT_SECRET_FILE: both set",
        "REDIS_PASSWORD_FILE: cannot read ",
        "JWT_PRIVATE_KEY_FILE: ",
    ] {
        assert!(err.contains(problem), "{problem} missing from {err}");
    }
    assert!(err.contains("is empty"), "{err}");
    assert!(
        !err.contains("JWT_PRIVATE_KEY: missing"),
        "named twice: {err}"
    );
}
