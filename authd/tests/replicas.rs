//! authd replicas through a two-phase key rotation done replica by replica: two authd processes
//! on one Redis, every phase mixed (old config / prepared / committed). Every access token either
//! replica signs (a refresh grant at that replica) passes `/verify` at both, and so does every
//! token signed earlier: no replica ever rejects a token another replica signed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::Client;
use common::process::{Authd, authd_output};
use common::{ALICE, Stack};

/// The two replicas: `a` is the stack's own authd, `b` a second process with its own settings.
struct Replicas {
    stack: Stack,
    b: Authd,
    b_env: Vec<(String, String)>,
    client: Client,
    refresh_token: String,
    /// Every access token signed so far, with the phase that signed it.
    signed: Vec<(String, String)>,
}

impl Replicas {
    /// A refresh grant at each replica: the new access token is signed with that replica's key
    /// (`kid` as expected); then every token signed so far passes `/verify` at both.
    async fn round(&mut self, phase: &str, kid_a: &str, kid_b: &str) {
        for (base, kid) in [(self.stack.authd.base(), kid_a), (self.b.base(), kid_b)] {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", self.refresh_token.as_str()),
            ];
            let resp = self.stack.token_at(&base, &self.client, &form).await;
            assert_eq!(resp.status(), 200, "{phase}: refresh at {base}");
            let body: serde_json::Value = resp.json().await.unwrap();
            self.refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
            let access = body["access_token"].as_str().unwrap().to_owned();
            assert_eq!(
                common::jwt::header(&access)["kid"],
                kid,
                "{phase}: signing key at {base}"
            );
            self.signed.push((format!("{phase} at {base}"), access));
        }
        for base in [self.stack.authd.base(), self.b.base()] {
            for (signed_at, token) in &self.signed {
                let status = self
                    .stack
                    .verify_at(&base, "memory", Some(token))
                    .await
                    .status();
                assert_eq!(status, 200, "{phase}: token signed {signed_at}, at {base}");
            }
        }
    }

    fn restart_a(&mut self, changes: &[(&str, &str)]) {
        self.stack.restart_authd(changes);
    }

    fn restart_b(&mut self, changes: &[(&str, &str)]) {
        for (k, v) in changes {
            self.b_env.retain(|(name, _)| name != k);
            self.b_env.push(((*k).to_owned(), (*v).to_owned()));
        }
        self.b.start(&self.b_env);
        self.stack.http = common::plain_client();
    }

    /// The key ids `/jwks` of the replica at `base` lists, in order.
    async fn kids(&self, base: &str) -> Vec<String> {
        let jwks: serde_json::Value = self
            .stack
            .http
            .get(format!("{base}/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn value_of(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

#[tokio::test]
async fn tokens_signed_by_either_replica_pass_both_through_every_phase_of_a_rotation() {
    let stack = Stack::start().await;
    let b_dir = stack.scratch.0.join("b");
    std::fs::create_dir_all(&b_dir).unwrap();
    let mut b = Authd::new(&b_dir);
    let b_env = stack.env.clone();
    b.start(&b_env);
    let client = stack.register("none").await;
    let tokens = stack.login(&client, &ALICE).await;
    let first = tokens["access_token"].as_str().unwrap().to_owned();
    let old_kid = common::jwt::header(&first)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_key = value_of(
        &stack
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        "JWT_PRIVATE_KEY",
    )
    .unwrap();
    let mut r = Replicas {
        refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
        signed: vec![("by the first login".into(), first)],
        stack,
        b,
        b_env,
        client,
    };
    let dir = r.stack.scratch.0.clone();
    r.round("old config on both", &old_kid, &old_kid).await;

    // A commit before any prepare is refused, nothing changed.
    let env_file = dir.join("replicas.env");
    std::fs::write(
        &env_file,
        format!("LOG_LEVEL=info\nJWT_PRIVATE_KEY={old_key}\n"),
    )
    .unwrap();
    let path = env_file.to_str().unwrap();
    let out = authd_output(
        &dir,
        &r.stack.env,
        &["keys", "rotate", "--commit", "--env-file", path],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prepare"));

    // Phase 1, as in a container whose environment cannot be edited: the line to set is printed.
    let unwritable = dir.join("no-such-dir/.env");
    let out = authd_output(
        &dir,
        &r.stack.env,
        &[
            "keys",
            "rotate",
            "--prepare",
            "--env-file",
            unwritable.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let next_key = value_of(&printed, "JWT_NEXT_PRIVATE_KEY").expect("the line to set");
    r.restart_a(&[("JWT_NEXT_PRIVATE_KEY", &next_key)]);
    let a_kids = r.kids(&r.stack.authd.base()).await;
    assert_eq!(a_kids[0], old_kid, "the current key still comes first");
    let new_kid = a_kids[1].clone();
    r.round("A prepared, B old config", &old_kid, &old_kid)
        .await;
    r.restart_b(&[("JWT_NEXT_PRIVATE_KEY", &next_key)]);
    r.round("both prepared", &old_kid, &old_kid).await;
    assert_eq!(
        r.kids(&r.b.base()).await[..2],
        [old_kid.clone(), new_kid.clone()]
    );

    // A one-step rotation while a prepared key waits is refused.
    let out = authd_output(&dir, &r.stack.env, &["keys", "rotate", "--env-file", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--commit"));

    // Phase 2: the env file now names the prepared key as the signing key.
    r.stack
        .cli(&["keys", "rotate", "--commit", "--env-file", path]);
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(text.starts_with("LOG_LEVEL=info\n"), "{text}");
    assert_eq!(value_of(&text, "JWT_NEXT_PRIVATE_KEY"), None, "{text}");
    let committed = value_of(&text, "JWT_PRIVATE_KEY").unwrap();
    r.restart_a(&[
        ("JWT_PRIVATE_KEY", &committed),
        ("JWT_NEXT_PRIVATE_KEY", ""),
    ]);
    r.round("A committed, B prepared", &new_kid, &old_kid).await;
    // A client's retry of a refresh within the grace window (REFRESH_GRACE_SECS) that lands on the
    // other replica, which signs with the other key, still gets the same pair.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r.refresh_token.as_str()),
    ];
    let first = r
        .stack
        .token_at(&r.stack.authd.base(), &r.client, &form)
        .await;
    let retry = r.stack.token_at(&r.b.base(), &r.client, &form).await;
    assert_eq!(
        (first.status().as_u16(), retry.status().as_u16()),
        (200, 200)
    );
    let first: serde_json::Value = first.json().await.unwrap();
    let retry: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(first["refresh_token"], retry["refresh_token"]);
    assert_eq!(first["access_token"], retry["access_token"]);
    r.refresh_token = first["refresh_token"].as_str().unwrap().to_owned();
    r.restart_b(&[
        ("JWT_PRIVATE_KEY", &committed),
        ("JWT_NEXT_PRIVATE_KEY", ""),
    ]);
    r.round("both committed", &new_kid, &new_kid).await;
    for base in [r.stack.authd.base(), r.b.base()] {
        assert_eq!(
            r.kids(&base).await,
            [new_kid.clone(), old_kid.clone()],
            "{base}"
        );
    }
}

/// The negative control: a token signed with a key that was neither prepared nor published is
/// rejected, so the rounds above fail when a replica does not know the other's key.
#[tokio::test]
async fn a_key_neither_prepared_nor_published_is_rejected() {
    let stack = Stack::start().await;
    let key_line = stack.cli(&["keygen"]);
    let other = key_line
        .trim()
        .strip_prefix("JWT_PRIVATE_KEY=")
        .unwrap()
        .to_owned();
    let mut env = stack.env.clone();
    env.retain(|(k, _)| k != "JWT_PRIVATE_KEY");
    env.push(("JWT_PRIVATE_KEY".into(), other));
    let foreign = common::process::authd_cli(
        &stack.scratch.0,
        &env,
        &[
            "token",
            "mint",
            "--user",
            "oidc:alice",
            "--resource",
            &stack.resource("memory"),
            "--email",
            ALICE.email,
        ],
    );
    let status = stack.verify("memory", Some(foreign.trim())).await.status();
    assert_eq!(status, 401, "a key nobody published or prepared");
}
