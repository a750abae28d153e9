//! Validation of `sidecar serve` settings: defaults, every problem at once, bounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::check::list;
use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

fn parse(argv: &[&str]) -> ServeArgs {
    Cli::try_parse_from(std::iter::once("sidecar").chain(argv.iter().copied()))
        .unwrap()
        .args
}

#[test]
fn defaults_with_a_command_are_valid() {
    let config = parse(&["--listen", "127.0.0.1:4000", "--", "srv", "--flag"])
        .validate()
        .unwrap();
    assert_eq!(config.listen.port(), 4000);
    assert_eq!(config.command, vec!["srv", "--flag"]);
    assert_eq!(config.mcp_path, "/mcp");
    assert_eq!(config.max_line_bytes, 16 * 1024 * 1024);
}

#[test]
fn every_bad_setting_is_reported_at_once() {
    let errors = parse(&[
        "--listen",
        "nowhere",
        "--max-sessions",
        "0",
        "--keepalive-secs",
        "soon",
        "--session-mode",
        "weird",
        "--log-format",
        "xml",
        "--worker-threads",
        "many",
    ])
    .validate()
    .unwrap_err();
    let joined = errors.join("\n");
    for var in [
        "SIDECAR_LISTEN",
        "SIDECAR_MAX_SESSIONS",
        "SIDECAR_KEEPALIVE_SECS",
        "SIDECAR_SESSION_MODE",
        "LOG_FORMAT",
        "SIDECAR_WORKER_THREADS",
        "command",
    ] {
        assert!(joined.contains(var), "{var} missing in {joined}");
    }
    assert_eq!(errors.len(), 7);
}

#[test]
fn lists_are_normalised() {
    assert_eq!(
        list(" HTTP://A.example/ ,, b:1"),
        vec!["http://a.example".to_owned(), "b:1".to_owned()]
    );
}

/// Every numeric setting with its largest valid value (its flag is its name in kebab case).
const NUMBERS: [(&str, u64); 19] = [
    ("SIDECAR_WARM_POOL", MAX_POOL),
    ("SIDECAR_SHARED_POOL", MAX_POOL),
    ("SIDECAR_MAX_SESSIONS", MAX_COUNT),
    ("SIDECAR_MAX_SESSIONS_PER_USER", MAX_COUNT),
    ("SIDECAR_MAX_BODY_BYTES", MAX_BYTES),
    ("SIDECAR_MAX_LINE_BYTES", MAX_BYTES),
    ("SIDECAR_MAX_CONCURRENT_REQUESTS", MAX_COUNT),
    ("SIDECAR_REQUEST_TIMEOUT_SECS", MAX_TIMEOUT_SECS),
    ("SIDECAR_CHILD_START_TIMEOUT_SECS", MAX_INTERVAL_SECS),
    ("SIDECAR_IDLE_TIMEOUT_SECS", MAX_IDLE_SECS),
    ("SIDECAR_KEEPALIVE_SECS", MAX_INTERVAL_SECS),
    ("SIDECAR_SSE_BUFFER_EVENTS", MAX_COUNT),
    ("SIDECAR_STANDALONE_QUEUE", MAX_COUNT),
    ("SIDECAR_SSE_RETRY_MS", MAX_RETRY_MS),
    ("SIDECAR_PROBE_INTERVAL_SECS", MAX_INTERVAL_SECS),
    ("SIDECAR_SHUTDOWN_GRACE_SECS", MAX_INTERVAL_SECS),
    ("SIDECAR_WORKER_THREADS", MAX_THREADS),
    ("SIDECAR_MAX_HELD_CALLS", MAX_COUNT),
    ("SIDECAR_HELD_CALL_TIMEOUT_SECS", MAX_TIMEOUT_SECS),
];

fn flag(var: &str) -> String {
    let name = var.trim_start_matches("SIDECAR_").to_ascii_lowercase();
    format!("--{}", name.replace('_', "-"))
}

/// Issue 8 item 5: a huge duration or size is refused at start, naming the variable, instead of
/// overflowing later (`Instant + timeout` panicked on every request).
#[test]
fn every_number_has_an_upper_bound() {
    for (var, max) in NUMBERS {
        let (flag, at_max) = (flag(var), max.to_string());
        assert!(
            parse(&[&flag, &at_max, "--", "srv"]).validate().is_ok(),
            "{var}={max} must be accepted"
        );
        for too_big in [max + 1, u64::MAX] {
            let raw = too_big.to_string();
            let errors = parse(&[&flag, &raw, "--", "srv"]).validate().unwrap_err();
            assert_eq!(errors.len(), 1, "{var}={raw}: {errors:?}");
            assert!(
                errors[0].starts_with(var) && errors[0].contains(&max.to_string()),
                "{var}={raw}: {}",
                errors[0]
            );
        }
    }
}

/// 32 random bytes, base64 (as `openssl rand -base64 32` prints them).
const SESSION_KEY: &str = "q83vEjRWeJC8V8t1z3rJ1E3l2b8cN0pZsQ2wYv5m6aE=";

#[test]
fn replica_settings_are_validated_together() {
    let config = parse(&[
        "--session-key",
        SESSION_KEY,
        "--advertise-url",
        "http://10.0.0.7:3000/",
        "--forward-sessions",
        "false",
        "--",
        "srv",
    ])
    .validate()
    .unwrap();
    assert!(config.cluster.key.is_some());
    assert_eq!(
        config.cluster.advertise.as_deref(),
        Some("http://10.0.0.7:3000")
    );
    assert!(!config.cluster.forward);
    let errors = parse(&[
        "--session-key",
        "c2hvcnQ=",
        "--advertise-url",
        "https://10.0.0.7:3000/mcp",
        "--forward-sessions",
        "maybe",
        "--",
        "srv",
    ])
    .validate()
    .unwrap_err();
    let joined = errors.join("\n");
    for var in [
        "SIDECAR_SESSION_KEY",
        "SIDECAR_ADVERTISE_URL",
        "SIDECAR_FORWARD_SESSIONS",
    ] {
        assert!(joined.contains(var), "{var} missing in {joined}");
    }
    assert_eq!(errors.len(), 3);
    assert!(
        !joined.contains("c2hvcnQ"),
        "a secret in a message: {joined}"
    );
}

#[test]
fn secrets_come_from_files_but_never_from_both() {
    let dir = std::env::temp_dir().join(format!("sidecar-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("session_key");
    std::fs::write(&file, format!("{SESSION_KEY}\n")).unwrap();
    let path = file.display().to_string();
    let state = dir.join("state_key");
    std::fs::write(&state, "k".repeat(40)).unwrap();
    let config = parse(&[
        "--session-key-file",
        &path,
        "--request-state-key-file",
        &state.display().to_string(),
        "--",
        "srv",
    ])
    .validate()
    .unwrap();
    assert!(config.cluster.key.is_some() && config.request_state_key.is_some());
    let errors = parse(&[
        "--session-key",
        SESSION_KEY,
        "--session-key-file",
        &path,
        "--request-state-key-file",
        "/nonexistent/key",
        "--",
        "srv",
    ])
    .validate()
    .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("SIDECAR_REQUEST_STATE_KEY_FILE: cannot read"));
    assert!(errors[1].contains("SIDECAR_SESSION_KEY and SIDECAR_SESSION_KEY_FILE"));
    std::fs::remove_dir_all(&dir).unwrap();
}
