//! Settings of `sidecar serve`: every option comes from the command line or from the environment
//! variable of the same name (`.env` is loaded by dotenvy first). Options are read as raw strings and
//! validated in one pass, so that a misconfigured deployment learns about every bad variable at once
//! (exit code 64, `EX_USAGE` of sysexits(3)).

use std::net::SocketAddr;
use std::time::Duration;

/// Raw `sidecar serve` options, exactly as given; defaults equal the values of `.env.example`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (host:port).
    #[arg(long, env = "SIDECAR_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: String,
    /// Path of the MCP endpoint.
    #[arg(long, env = "SIDECAR_MCP_PATH", default_value = "/mcp")]
    pub mcp_path: String,
    /// `isolated` (one child per session) or `shared` (virtual sessions over the shared pool).
    #[arg(long, env = "SIDECAR_SESSION_MODE", default_value = "isolated")]
    pub session_mode: String,
    /// Spawned, not yet initialized children kept ready for new sessions.
    #[arg(long, env = "SIDECAR_WARM_POOL", default_value = "2")]
    pub warm_pool: String,
    /// Children initialized by the sidecar itself, serving every session in shared mode.
    #[arg(long, env = "SIDECAR_SHARED_POOL", default_value = "2")]
    pub shared_pool: String,
    /// Open sessions at most (then 503 with Retry-After).
    #[arg(long, env = "SIDECAR_MAX_SESSIONS", default_value = "256")]
    pub max_sessions: String,
    /// Open sessions at most per user (then 429 with Retry-After).
    #[arg(long, env = "SIDECAR_MAX_SESSIONS_PER_USER", default_value = "32")]
    pub max_sessions_per_user: String,
    /// Largest request body in bytes (then 413).
    #[arg(long, env = "SIDECAR_MAX_BODY_BYTES", default_value = "4194304")]
    pub max_body_bytes: String,
    /// Largest stdout line of a child in bytes (then the child is killed as broken).
    #[arg(long, env = "SIDECAR_MAX_LINE_BYTES", default_value = "16777216")]
    pub max_line_bytes: String,
    /// Requests in flight at most per session (then a JSON-RPC error).
    #[arg(long, env = "SIDECAR_MAX_CONCURRENT_REQUESTS", default_value = "64")]
    pub max_concurrent_requests: String,
    /// Seconds a child may take to answer one request.
    #[arg(long, env = "SIDECAR_REQUEST_TIMEOUT_SECS", default_value = "300")]
    pub request_timeout_secs: String,
    /// Seconds without client activity after which a session ends.
    #[arg(long, env = "SIDECAR_IDLE_TIMEOUT_SECS", default_value = "1800")]
    pub idle_timeout_secs: String,
    /// Seconds between SSE keep-alive comments.
    #[arg(long, env = "SIDECAR_KEEPALIVE_SECS", default_value = "15")]
    pub keepalive_secs: String,
    /// Events kept per SSE stream for `Last-Event-ID` resumption.
    #[arg(long, env = "SIDECAR_SSE_BUFFER_EVENTS", default_value = "256")]
    pub sse_buffer_events: String,
    /// Messages queued for a standalone GET stream that is not open yet.
    #[arg(long, env = "SIDECAR_STANDALONE_QUEUE", default_value = "256")]
    pub standalone_queue: String,
    /// Reconnection delay announced to SSE clients (`retry:` field, milliseconds).
    #[arg(long, env = "SIDECAR_SSE_RETRY_MS", default_value = "1000")]
    pub sse_retry_ms: String,
    /// Allowed `Origin` values, comma-separated (`*` allows any).
    #[arg(
        long,
        env = "SIDECAR_ALLOWED_ORIGINS",
        default_value = "http://127.0.0.1:8080,http://localhost:8080"
    )]
    pub allowed_origins: String,
    /// Allowed `Host` values, comma-separated (loopback names always allowed).
    #[arg(
        long,
        env = "SIDECAR_ALLOWED_HOSTS",
        default_value = "127.0.0.1:8080,localhost:8080"
    )]
    pub allowed_hosts: String,
    /// Seconds between health probes.
    #[arg(long, env = "SIDECAR_PROBE_INTERVAL_SECS", default_value = "10")]
    pub probe_interval_secs: String,
    /// Seconds given to in-flight requests on SIGTERM.
    #[arg(long, env = "SIDECAR_SHUTDOWN_GRACE_SECS", default_value = "10")]
    pub shutdown_grace_secs: String,
    /// Async runtime threads; 1: a single-threaded runtime; 0: one per CPU core.
    #[arg(long, env = "SIDECAR_WORKER_THREADS", default_value = "1")]
    pub worker_threads: String,
    /// tracing filter (e.g. info, sidecar=debug).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// `json` or `pretty`.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    pub log_format: String,
    /// The stdio MCP server to run, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Validated settings.
#[derive(Debug, Clone)]
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
    pub log_level: String,
    pub log_format: LogFormat,
    pub command: Vec<String>,
}

/// Collects every problem instead of stopping at the first.
struct Checker(Vec<String>);

impl Checker {
    fn number(&mut self, var: &str, raw: &str, min: u64) -> u64 {
        match raw.trim().parse::<u64>() {
            Ok(n) if n >= min => n,
            _ => {
                self.0
                    .push(format!("{var}: expected an integer >= {min}, got {raw:?}"));
                min
            }
        }
    }

    fn count(&mut self, var: &str, raw: &str, min: u64) -> usize {
        usize::try_from(self.number(var, raw, min)).unwrap_or(usize::MAX)
    }

    fn secs(&mut self, var: &str, raw: &str, min: u64) -> Duration {
        Duration::from_secs(self.number(var, raw, min))
    }
}

/// Comma-separated list, trimmed, lowercased, without empty entries or trailing slashes.
fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

impl ServeArgs {
    /// Validates everything in one pass; the error lists every bad setting.
    pub fn validate(self) -> Result<Config, Vec<String>> {
        let mut c = Checker(Vec::new());
        let listen = self
            .listen
            .trim()
            .parse::<SocketAddr>()
            .unwrap_or_else(|_| {
                c.0.push(format!(
                    "SIDECAR_LISTEN: expected host:port with an IP address, got {:?}",
                    self.listen
                ));
                SocketAddr::from(([127, 0, 0, 1], 0))
            });
        if !self.mcp_path.starts_with('/') || self.mcp_path.len() < 2 {
            c.0.push(format!(
                "SIDECAR_MCP_PATH: expected a path such as /mcp, got {:?}",
                self.mcp_path
            ));
        }
        let shared = match self.session_mode.trim() {
            "isolated" => false,
            "shared" => true,
            other => {
                c.0.push(format!(
                    "SIDECAR_SESSION_MODE: expected isolated or shared, got {other:?}"
                ));
                false
            }
        };
        let log_format = match self.log_format.trim() {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                c.0.push(format!(
                    "LOG_FORMAT: expected json or pretty, got {other:?}"
                ));
                LogFormat::Json
            }
        };
        if tracing_subscriber::EnvFilter::try_new(self.log_level.trim()).is_err() {
            c.0.push(format!(
                "LOG_LEVEL: not a valid tracing filter: {:?}",
                self.log_level
            ));
        }
        if self.command.is_empty() {
            c.0.push("command: missing the stdio MCP server to run after `--`".to_owned());
        }
        let config = Config {
            listen,
            mcp_path: self.mcp_path.trim_end_matches('/').to_owned(),
            shared,
            warm_pool: c.count("SIDECAR_WARM_POOL", &self.warm_pool, 0),
            shared_pool: c.count("SIDECAR_SHARED_POOL", &self.shared_pool, 1),
            max_sessions: c.count("SIDECAR_MAX_SESSIONS", &self.max_sessions, 1),
            max_sessions_per_user: c.count(
                "SIDECAR_MAX_SESSIONS_PER_USER",
                &self.max_sessions_per_user,
                1,
            ),
            max_body_bytes: c.count("SIDECAR_MAX_BODY_BYTES", &self.max_body_bytes, 1),
            max_line_bytes: c.count("SIDECAR_MAX_LINE_BYTES", &self.max_line_bytes, 1024),
            max_concurrent_requests: c.count(
                "SIDECAR_MAX_CONCURRENT_REQUESTS",
                &self.max_concurrent_requests,
                1,
            ),
            request_timeout: c.secs(
                "SIDECAR_REQUEST_TIMEOUT_SECS",
                &self.request_timeout_secs,
                1,
            ),
            idle_timeout: c.secs("SIDECAR_IDLE_TIMEOUT_SECS", &self.idle_timeout_secs, 1),
            keepalive: c.secs("SIDECAR_KEEPALIVE_SECS", &self.keepalive_secs, 1),
            sse_buffer_events: c.count("SIDECAR_SSE_BUFFER_EVENTS", &self.sse_buffer_events, 1),
            standalone_queue: c.count("SIDECAR_STANDALONE_QUEUE", &self.standalone_queue, 1),
            sse_retry_ms: c.number("SIDECAR_SSE_RETRY_MS", &self.sse_retry_ms, 0),
            allowed_origins: list(&self.allowed_origins),
            allowed_hosts: list(&self.allowed_hosts),
            probe_interval: c.secs("SIDECAR_PROBE_INTERVAL_SECS", &self.probe_interval_secs, 1),
            shutdown_grace: c.secs("SIDECAR_SHUTDOWN_GRACE_SECS", &self.shutdown_grace_secs, 0),
            worker_threads: c.count("SIDECAR_WORKER_THREADS", &self.worker_threads, 0),
            log_level: self.log_level.trim().to_owned(),
            log_format,
            command: self.command,
        };
        if c.0.is_empty() { Ok(config) } else { Err(c.0) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
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
}
