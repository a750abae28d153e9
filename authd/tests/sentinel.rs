//! Redis Sentinel with real processes (one master, one replica, three sentinels on loopback):
//! authd finds the master through the sentinels and, after a failover (asked for with `SENTINEL
//! FAILOVER`, then forced by SIGKILL of the master), reconnects to the new master by itself.
//! Throughout, a stream of requests gets only defined answers: `/verify` 200 for a live token and
//! 401 for a revoked one, or 503 with `Retry-After` while no master is reachable (never 200 for
//! the revoked token, never 401 for the live one); `/token` 401 `invalid_client` for an unknown
//! client, or 503 `temporarily_unavailable`. The 503 windows are printed (`--nocapture`).
//! Sentinels protected by their own password (`REDIS_SENTINEL_PASSWORD`, distinct from the data
//! servers' `REDIS_PASSWORD`): the right one works through a failover; a wrong or missing one
//! leaves authd serving 503 (never a wrong answer) and says why in its log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{Scratch, wait_for};
use common::sentinel::{Deployment, FAILOVER_LIMIT, MASTER, Passwords};
use common::{ALICE, Stack};

/// One round of the stream: the statuses of the three requests, and when.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    live: u16,
    revoked: u16,
    token: u16,
}

/// Statuses allowed for each request, and the 503's headers checked, in one place.
async fn sample(stack: &Stack, live: &str, revoked: &str) -> Sample {
    let at = Instant::now();
    let mut statuses = Vec::new();
    for (token, allowed) in [(live, 200), (revoked, 401)] {
        statuses.push(common::verify_or_unavailable(stack, token, allowed).await);
    }
    let resp = stack
        .http
        .post(stack.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-token"),
            ("client_id", "no-such-client"),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    match status {
        401 => assert_eq!(body["error"], "invalid_client"),
        503 => assert_eq!(body["error"], "temporarily_unavailable"),
        other => panic!("/token gave {other}: {body}"),
    }
    Sample {
        at,
        live: statuses[0],
        revoked: statuses[1],
        token: status,
    }
}

/// Two of alice's tokens: one live, one revoked.
fn live_and_revoked(stack: &Stack) -> (String, String) {
    let live = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    let revoked = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    let jti = common::jwt::claims(&revoked)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.cli(&["tokens", "revoke", &jti]);
    (live, revoked)
}

/// A background stream of samples until `stop`.
fn stream(
    stack: Arc<Stack>,
    live: String,
    revoked: String,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let s = sample(&stack, &live, &revoked).await;
            samples.lock().unwrap().push(s);
        }
    })
}

/// Whether the last 20 samples taken since `since` all passed (the stream recovered).
fn recovered(samples: &Mutex<Vec<Sample>>, since: Instant) -> bool {
    let s = samples.lock().unwrap();
    let after: Vec<&Sample> = s.iter().filter(|s| s.at >= since).collect();
    after.len() >= 20
        && after[after.len() - 20..]
            .iter()
            .all(|s| s.live == 200 && s.revoked == 401 && s.token == 401)
}

/// The 503 answers between `from` and `to`: how many samples had one, and from the first to the
/// last of them.
fn window(samples: &Mutex<Vec<Sample>>, from: Instant, to: Instant) -> (usize, usize, Duration) {
    let s = samples.lock().unwrap();
    let phase: Vec<&Sample> = s.iter().filter(|s| s.at >= from && s.at < to).collect();
    let down: Vec<&&Sample> = phase
        .iter()
        .filter(|s| s.live == 503 || s.revoked == 503 || s.token == 503)
        .collect();
    let span = match (down.first(), down.last()) {
        (Some(a), Some(b)) => b.at - a.at,
        _ => Duration::ZERO,
    };
    (down.len(), phase.len(), span)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failovers_give_only_defined_answers_and_authd_reconnects_by_itself() {
    let scratch = Scratch::new();
    let mut d = Deployment::start(&scratch.0);
    let sentinels = d.sentinels_var();
    // REDIS_URL stays set (to the stack's own standalone Redis): the sentinels take precedence.
    let stack = Stack::with(&[
        ("REDIS_SENTINELS", &sentinels),
        ("REDIS_SENTINEL_MASTER", MASTER),
    ])
    .await;
    let (live, revoked) = live_and_revoked(&stack);
    d.sync_replicas(1);
    let stack = Arc::new(stack);
    let (stop, samples) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let task = stream(
        Arc::clone(&stack),
        live.clone(),
        revoked,
        Arc::clone(&stop),
        Arc::clone(&samples),
    );
    wait_for("stream before failover", FAILOVER_LIMIT, || {
        recovered(&samples, Instant::now() - Duration::from_secs(3600))
    });

    // 1. A failover asked of the sentinels: the old master is demoted and becomes a replica.
    let first = d.master_port().unwrap();
    let asked = Instant::now();
    d.failover();
    wait_for("failover", FAILOVER_LIMIT, || {
        d.master_port().is_some_and(|p| p != first)
    });
    let switched = Instant::now();
    wait_for("authd on the new master", FAILOVER_LIMIT, || {
        recovered(&samples, switched)
    });
    let asked_window = window(&samples, asked, Instant::now());
    // Writes reach the new master: a fresh token is recorded and accepted.
    let fresh = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    assert_eq!(stack.verify("memory", Some(&fresh)).await.status(), 200);
    d.wait_ready(1);
    d.sync_replicas(1);

    // 2. The master dies (SIGKILL): the sentinels notice after 1 s and promote the replica.
    let second = d.master_port().unwrap();
    let killed = Instant::now();
    d.master().kill();
    wait_for("failover after the kill", FAILOVER_LIMIT, || {
        d.master_port().is_some_and(|p| p != second)
    });
    let switched = Instant::now();
    wait_for("authd on the surviving server", FAILOVER_LIMIT, || {
        recovered(&samples, switched)
    });
    let killed_window = window(&samples, killed, Instant::now());
    stop.store(true, Ordering::Relaxed);
    task.await
        .expect("every answer in the stream was a defined one");
    assert!(
        killed_window.0 > 0,
        "no 503 while the master was dead: the stream did not reach Redis"
    );
    for token in [&live, &fresh] {
        assert_eq!(stack.verify("memory", Some(token)).await.status(), 200);
    }
    let health = stack.http.get(stack.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    for (what, (down, total, span)) in [
        ("SENTINEL FAILOVER", asked_window),
        ("kill -9 of the master", killed_window),
    ] {
        eprintln!(
            "sentinel {what}: {down} of {total} rounds had a 503, first to last 503 {span:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_sentinels_take_their_own_password() {
    const DATA: &str = "the-data-servers-password";
    const SENTINELS: &str = "the-sentinels-own-password";
    let scratch = Scratch::new();
    let passwords = Passwords {
        data: Some(DATA.to_owned()),
        sentinels: Some(SENTINELS.to_owned()),
    };
    let mut d = Deployment::start_with(&scratch.0, &passwords);
    let sentinels = d.sentinels_var();
    // The right passwords: authd (and its admin commands) find the master through the sentinels.
    let mut stack = Stack::with(&[
        ("REDIS_SENTINELS", &sentinels),
        ("REDIS_SENTINEL_MASTER", MASTER),
        ("REDIS_PASSWORD", DATA),
        ("REDIS_SENTINEL_PASSWORD", SENTINELS),
    ])
    .await;
    let (live, revoked) = live_and_revoked(&stack);
    d.sync_replicas(1);

    // ...and again after a failover, with only defined answers in between.
    let shared = Arc::new(stack);
    let (stop, samples) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let task = stream(
        Arc::clone(&shared),
        live.clone(),
        revoked.clone(),
        Arc::clone(&stop),
        Arc::clone(&samples),
    );
    let first = d.master_port().unwrap();
    d.failover();
    wait_for("failover", FAILOVER_LIMIT, || {
        d.master_port().is_some_and(|p| p != first)
    });
    let switched = Instant::now();
    wait_for("authd on the new master", FAILOVER_LIMIT, || {
        recovered(&samples, switched)
    });
    stop.store(true, Ordering::Relaxed);
    task.await
        .expect("every answer in the stream was a defined one");
    stack = Arc::into_inner(shared).expect("the stream is over");
    let fresh = stack.mint("oidc:alice", "memory", &["--email", ALICE.email]);
    assert_eq!(stack.verify("memory", Some(&fresh)).await.status(), 200);

    // A wrong sentinel password (the data servers' is right), then none: authd serves, /health
    // and /verify say 503 with Retry-After, never 200 for a live token nor 401 for a revoked
    // one, and the log names the sentinels' refusal.
    for (wrong, refusal) in [(DATA, "AuthenticationFailed"), ("", "NOAUTH")] {
        let before = stack.authd.log().len();
        stack.restart_authd_without_redis(&[("REDIS_SENTINEL_PASSWORD", wrong)]);
        for _ in 0..3 {
            assert_eq!(common::verify_or_unavailable(&stack, &live, 200).await, 503);
            assert_eq!(
                common::verify_or_unavailable(&stack, &revoked, 401).await,
                503
            );
        }
        let health = stack.http.get(stack.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 503);
        wait_for("the sentinels' refusal in the log", FAILOVER_LIMIT, || {
            let log = stack.authd.log();
            log[before..].lines().any(|l| {
                l.contains("cannot follow the sentinel's master switches") && l.contains(refusal)
            })
        });
    }

    // The right one again: served again.
    stack.restart_authd(&[("REDIS_SENTINEL_PASSWORD", SENTINELS)]);
    for token in [&live, &fresh] {
        assert_eq!(stack.verify("memory", Some(token)).await.status(), 200);
    }
    assert_eq!(stack.verify("memory", Some(&revoked)).await.status(), 401);
}
