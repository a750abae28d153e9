//! `SIDECAR_CHILD_START_TIMEOUT_SECS`: a child that does not start and answer `initialize` within
//! the configured time is given up on, everywhere a child is handshaken (a session's `initialize`,
//! the stateless pools, the health probe), with a defined error, and the sidecar keeps serving.
//! The slow child is a real process: the fault-injection server (`tests/fixtures/faulty_server.py`,
//! behaving) behind a shell that holds its start until the test opens a gate file, so it is slow
//! for exactly as long as the test wants and then starts in a fraction of the timeout even on a
//! loaded machine (an official Python server takes about 2 s of CPU there).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// The configured start timeout of these tests.
const START_TIMEOUT: Duration = Duration::from_secs(3);
/// A start given up on within this (generous under load, and shorter than the 30 s that were fixed
/// before the timeout became a setting).
const GAVE_UP_WITHIN: Duration = Duration::from_secs(20);

/// The behaving fixture, started only once `gate` exists.
fn gated_server(gate: &Path) -> Vec<String> {
    let mut command = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        r#"while [ ! -e "$0" ]; do sleep 0.05; done; exec "$@""#.to_owned(),
        gate.display().to_string(),
    ];
    command.extend(fixture("echo"));
    command
}

#[tokio::test]
async fn a_child_that_starts_too_late_gets_the_start_timeout_and_the_sidecar_keeps_serving() {
    let gate = std::env::temp_dir().join(unique("sidecar-start-gate"));
    let sc = sidecar(gated_server(&gate))
        .env("SIDECAR_CHILD_START_TIMEOUT_SECS", START_TIMEOUT.as_secs())
        // Long enough that only the start timeout can answer within the test's bounds.
        .env("SIDECAR_REQUEST_TIMEOUT_SECS", 600)
        .env("SIDECAR_PROBE_INTERVAL_SECS", 1)
        .spawn();

    // A session's initialize: a JSON-RPC timeout error after the start timeout, and no session.
    let started = Instant::now();
    let resp = within(
        ANSWER_WITHIN,
        "initialize of a child that does not start",
        sc.post_raw(&initialize_body(1, V_2025_11_25)).send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "log:\n{}", sc.log_tail());
    assert!(
        resp.headers().get("mcp-session-id").is_none(),
        "no session for a child that never started"
    );
    let answer = response_for(resp, &json!(1)).await;
    assert_eq!(answer["error"]["code"], -32001, "timeout error: {answer}");
    // The configured timeout answered: not before it, and well before any fixed one (30 s).
    let waited = started.elapsed();
    assert!(
        (START_TIMEOUT..GAVE_UP_WITHIN).contains(&waited),
        "answered after {waited:?}"
    );

    // A stateless request: its pool's children cannot start, so no child is ready in time (502).
    let stateless = Stateless::new(&sc);
    let started = Instant::now();
    let answer = within(
        ANSWER_WITHIN,
        "stateless request while no child starts",
        stateless.request("tools/list", json!({})),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_GATEWAY,
        "{:?}",
        answer.messages
    );
    assert_eq!(answer.error_code(), Some(-32603), "{:?}", answer.messages);
    let waited = started.elapsed();
    assert!(
        (START_TIMEOUT..GAVE_UP_WITHIN).contains(&waited),
        "stateless: answered after {waited:?}"
    );

    // The health probe gives up on its child too: never healthy while nothing starts.
    let (status, body) = sc.health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        sc.log().contains("health probe failed"),
        "the probe's start timed out: log:\n{}",
        sc.log_tail()
    );

    // Children start again: everything recovers without a restart of the sidecar.
    std::fs::write(&gate, "").unwrap();
    sc.assert_still_serves().await;
    let listed = stateless.request("tools/list", json!({})).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.messages);
    assert!(!listed.result()["tools"].as_array().unwrap().is_empty());
    assert!(sc.exit_status().is_none(), "the sidecar kept running");
    let _ = std::fs::remove_file(&gate);
}

#[tokio::test]
async fn the_start_timeout_is_validated_at_start() {
    for bad in ["0", "3601", "soon"] {
        let sc = sidecar(time_server())
            .env("SIDECAR_CHILD_START_TIMEOUT_SECS", bad)
            .spawn();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = sc.exit_status() {
                break status;
            }
            assert!(
                start.elapsed() < ANSWER_WITHIN,
                "sidecar did not refuse {bad}"
            );
            tokio::time::sleep(POLL).await;
        };
        assert_eq!(status.code(), Some(64), "{bad}: log:\n{}", sc.log());
        assert!(
            sc.log().contains("SIDECAR_CHILD_START_TIMEOUT_SECS"),
            "{bad}: the message names the variable: {}",
            sc.log()
        );
    }
}
