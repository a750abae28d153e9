//! Settings of `sidecar serve`: every option comes from the command line or from the environment
//! variable of the same name (`.env` is loaded by dotenvy first). Options are read as raw strings and
//! validated in one pass, so that a misconfigured deployment learns about every bad variable at once
//! (exit code 64, `EX_USAGE` of sysexits(3)).

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretSlice;

pub use args::ServeArgs;
use check::{Checker, list};

use crate::cluster;

/// Settings that are secrets: never passed on to the MCP server's environment, wherever they came
/// from (an MCP server may print its whole environment: the everything server's `get-env`).
pub const SECRETS: [&str; 4] = [
    "SIDECAR_REQUEST_STATE_KEY",
    "SIDECAR_REQUEST_STATE_KEY_FILE",
    "SIDECAR_SESSION_KEY",
    "SIDECAR_SESSION_KEY_FILE",
];

/// Upper bounds of the numeric settings (each setting also has a lower one, at its use below).
/// Children one pool may hold (warm pool, shared pool).
pub const MAX_POOL: u64 = 64;
/// Sessions, queued and buffered messages, requests in flight.
pub const MAX_COUNT: u64 = 100_000;
/// Request bodies and stdout lines: 1 GiB.
pub const MAX_BYTES: u64 = 1 << 30;
/// Time one request may take: a day.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Time an idle session is kept: a week.
pub const MAX_IDLE_SECS: u64 = 604_800;
/// Keep-alive and probe intervals, child start, shutdown grace: an hour.
pub const MAX_INTERVAL_SECS: u64 = 3_600;
/// Reconnection delay announced to SSE clients: an hour.
pub const MAX_RETRY_MS: u64 = 3_600_000;
/// Async runtime threads.
pub const MAX_THREADS: u64 = 1_024;

mod args;
mod check;
#[cfg(test)]
mod tests;

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Validated settings.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub mcp_path: String,
    /// `SIDECAR_SESSION_MODE=shared`.
    pub shared: bool,
    pub warm_pool: usize,
    pub shared_pool: usize,
    pub max_sessions: usize,
    pub max_sessions_per_user: usize,
    pub max_body_bytes: usize,
    pub max_line_bytes: usize,
    pub max_concurrent_requests: usize,
    pub request_timeout: Duration,
    /// `SIDECAR_CHILD_START_TIMEOUT_SECS`.
    pub child_start_timeout: Duration,
    pub idle_timeout: Duration,
    pub keepalive: Duration,
    pub sse_buffer_events: usize,
    pub standalone_queue: usize,
    pub sse_retry_ms: u64,
    pub allowed_origins: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub probe_interval: Duration,
    pub shutdown_grace: Duration,
    /// 0: one per CPU core (tokio's default).
    pub worker_threads: usize,
    pub max_held_calls: usize,
    pub held_call_timeout: Duration,
    /// `SIDECAR_REQUEST_STATE_KEY`; `None`: a random key per start.
    pub request_state_key: Option<SecretSlice<u8>>,
    /// `SIDECAR_SESSION_KEY`, `SIDECAR_ADVERTISE_URL`, `SIDECAR_FORWARD_SESSIONS`.
    pub cluster: cluster::Settings,
    pub log_level: String,
    pub log_format: LogFormat,
    pub command: Vec<String>,
}

impl ServeArgs {
    /// Validates everything in one pass; the error lists every bad setting.
    pub fn validate(self) -> Result<Config, Vec<String>> {
        let mut c = Checker::default();
        let listen = self
            .listen
            .trim()
            .parse::<SocketAddr>()
            .unwrap_or_else(|_| {
                c.fail(format!(
                    "SIDECAR_LISTEN: expected host:port with an IP address, got {:?}",
                    self.listen
                ));
                SocketAddr::from(([127, 0, 0, 1], 0))
            });
        if !self.mcp_path.starts_with('/') || self.mcp_path.len() < 2 {
            c.fail(format!(
                "SIDECAR_MCP_PATH: expected a path such as /mcp, got {:?}",
                self.mcp_path
            ));
        }
        let shared = match self.session_mode.trim() {
            "isolated" => false,
            "shared" => true,
            other => {
                c.fail(format!(
                    "SIDECAR_SESSION_MODE: expected isolated or shared, got {other:?}"
                ));
                false
            }
        };
        let log_format = match self.log_format.trim() {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                c.fail(format!(
                    "LOG_FORMAT: expected json or pretty, got {other:?}"
                ));
                LogFormat::Json
            }
        };
        if tracing_subscriber::EnvFilter::try_new(self.log_level.trim()).is_err() {
            c.fail(format!(
                "LOG_LEVEL: not a valid tracing filter: {:?}",
                self.log_level
            ));
        }
        if self.command.is_empty() {
            c.fail("command: missing the stdio MCP server to run after `--`".to_owned());
        }
        let config = Config {
            listen,
            mcp_path: self.mcp_path.trim_end_matches('/').to_owned(),
            shared,
            warm_pool: c.count("SIDECAR_WARM_POOL", &self.warm_pool, 0..=MAX_POOL),
            shared_pool: c.count("SIDECAR_SHARED_POOL", &self.shared_pool, 1..=MAX_POOL),
            max_sessions: c.count("SIDECAR_MAX_SESSIONS", &self.max_sessions, 1..=MAX_COUNT),
            max_sessions_per_user: c.count(
                "SIDECAR_MAX_SESSIONS_PER_USER",
                &self.max_sessions_per_user,
                1..=MAX_COUNT,
            ),
            max_body_bytes: c.count(
                "SIDECAR_MAX_BODY_BYTES",
                &self.max_body_bytes,
                1..=MAX_BYTES,
            ),
            max_line_bytes: c.count(
                "SIDECAR_MAX_LINE_BYTES",
                &self.max_line_bytes,
                1024..=MAX_BYTES,
            ),
            max_concurrent_requests: c.count(
                "SIDECAR_MAX_CONCURRENT_REQUESTS",
                &self.max_concurrent_requests,
                1..=MAX_COUNT,
            ),
            request_timeout: c.secs(
                "SIDECAR_REQUEST_TIMEOUT_SECS",
                &self.request_timeout_secs,
                1..=MAX_TIMEOUT_SECS,
            ),
            child_start_timeout: c.secs(
                "SIDECAR_CHILD_START_TIMEOUT_SECS",
                &self.child_start_timeout_secs,
                1..=MAX_INTERVAL_SECS,
            ),
            idle_timeout: c.secs(
                "SIDECAR_IDLE_TIMEOUT_SECS",
                &self.idle_timeout_secs,
                1..=MAX_IDLE_SECS,
            ),
            keepalive: c.secs(
                "SIDECAR_KEEPALIVE_SECS",
                &self.keepalive_secs,
                1..=MAX_INTERVAL_SECS,
            ),
            sse_buffer_events: c.count(
                "SIDECAR_SSE_BUFFER_EVENTS",
                &self.sse_buffer_events,
                1..=MAX_COUNT,
            ),
            standalone_queue: c.count(
                "SIDECAR_STANDALONE_QUEUE",
                &self.standalone_queue,
                1..=MAX_COUNT,
            ),
            sse_retry_ms: c.number("SIDECAR_SSE_RETRY_MS", &self.sse_retry_ms, 0..=MAX_RETRY_MS),
            allowed_origins: list(&self.allowed_origins),
            allowed_hosts: list(&self.allowed_hosts),
            probe_interval: c.secs(
                "SIDECAR_PROBE_INTERVAL_SECS",
                &self.probe_interval_secs,
                1..=MAX_INTERVAL_SECS,
            ),
            shutdown_grace: c.secs(
                "SIDECAR_SHUTDOWN_GRACE_SECS",
                &self.shutdown_grace_secs,
                0..=MAX_INTERVAL_SECS,
            ),
            worker_threads: c.count(
                "SIDECAR_WORKER_THREADS",
                &self.worker_threads,
                0..=MAX_THREADS,
            ),
            max_held_calls: c.count(
                "SIDECAR_MAX_HELD_CALLS",
                &self.max_held_calls,
                1..=MAX_COUNT,
            ),
            held_call_timeout: c.secs(
                "SIDECAR_HELD_CALL_TIMEOUT_SECS",
                &self.held_call_timeout_secs,
                1..=MAX_TIMEOUT_SECS,
            ),
            request_state_key: {
                let raw = c.secret(
                    "SIDECAR_REQUEST_STATE_KEY",
                    &self.request_state_key,
                    &self.request_state_key_file,
                );
                c.key("SIDECAR_REQUEST_STATE_KEY", &raw)
            },
            cluster: cluster::Settings {
                key: {
                    let raw = c.secret(
                        "SIDECAR_SESSION_KEY",
                        &self.session_key,
                        &self.session_key_file,
                    );
                    c.session_key("SIDECAR_SESSION_KEY", &raw)
                },
                advertise: c.advertise_url("SIDECAR_ADVERTISE_URL", &self.advertise_url),
                forward: c.flag("SIDECAR_FORWARD_SESSIONS", &self.forward_sessions),
            },
            log_level: self.log_level.trim().to_owned(),
            log_format,
            command: self.command,
        };
        if c.0.is_empty() { Ok(config) } else { Err(c.0) }
    }
}
