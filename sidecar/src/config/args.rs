//! The raw options of `sidecar serve`, exactly as given on the command line or in the environment
//! (clap reads both); `Config` is what validating them yields.

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
    /// Seconds a fresh child gets to start and answer `initialize`.
    #[arg(long, env = "SIDECAR_CHILD_START_TIMEOUT_SECS", default_value = "120")]
    pub child_start_timeout_secs: String,
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
    /// Calls held at most while stateless clients gather input (multi-round-trip requests).
    #[arg(long, env = "SIDECAR_MAX_HELD_CALLS", default_value = "256")]
    pub max_held_calls: String,
    /// Seconds a held call waits for the client's retry before it is cancelled.
    #[arg(long, env = "SIDECAR_HELD_CALL_TIMEOUT_SECS", default_value = "600")]
    pub held_call_timeout_secs: String,
    /// HMAC key of `requestState` (at least 32 characters); empty: a random key per start.
    #[arg(
        long,
        env = "SIDECAR_REQUEST_STATE_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub request_state_key: String,
    /// The same, read from this file (a Docker or Kubernetes secret); not both.
    #[arg(long, env = "SIDECAR_REQUEST_STATE_KEY_FILE", default_value = "")]
    pub request_state_key_file: String,
    /// Key the replicas of one service share to seal the owner into session ids (base64 of at
    /// least 32 random bytes); empty: one replica, ids unsealed, nothing forwarded.
    #[arg(
        long,
        env = "SIDECAR_SESSION_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub session_key: String,
    /// The same, read from this file; not both.
    #[arg(long, env = "SIDECAR_SESSION_KEY_FILE", default_value = "")]
    pub session_key_file: String,
    /// `http://host:port` at which the other replicas reach this one; empty: the local address of
    /// the connection that carried `initialize`.
    #[arg(long, env = "SIDECAR_ADVERTISE_URL", default_value = "")]
    pub advertise_url: String,
    /// Whether a request for another replica's session is forwarded to it (`false`: 404).
    #[arg(long, env = "SIDECAR_FORWARD_SESSIONS", default_value = "true")]
    pub forward_sessions: String,
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
