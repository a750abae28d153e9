//! The running sidecar: its shared state, start-up (runtime, listener, pools, background tasks),
//! graceful shutdown, and the idle-session reaper.

use std::ffi::OsString;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::child::ChildSpec;
use crate::child::groups::Groups;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::health::Health;
use crate::legacy::sessions::Sessions;
use crate::metrics::Metrics;
use crate::modern::Modern;
use crate::modern::hub::Hub;
use crate::modern::mrtr::HeldCalls;
use crate::modern::pools::Pools;
use crate::pool::shared::{PoolSettings, SharedPool};
use crate::pool::warm::WarmPool;
use crate::shutdown::Drain;
use crate::{clock, config, http, shutdown, trace};

/// Time children get to be reaped at shutdown.
const CHILD_STOP_WAIT: Duration = Duration::from_secs(3);

pub struct App {
    pub config: Config,
    pub sessions: Sessions,
    pub pool: Arc<WarmPool>,
    /// Present in shared mode.
    pub shared: Option<Arc<SharedPool>>,
    /// The stateless era: children per user (or the shared pool), held calls.
    pub modern: Modern,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// The replicas of this service: session ids that name their owner, forwarding to it.
    pub cluster: Cluster,
    /// Draining after SIGTERM/SIGINT: requests in flight, `/health` 503, no new sessions.
    pub drain: Arc<Drain>,
    /// Cancelled once the drain is over: stop accepting, end the background tasks.
    pub shutdown: CancellationToken,
    /// The port served (a request's own loopback origin names it).
    pub port: u16,
}

/// Ends sessions idle for `SIDECAR_IDLE_TIMEOUT_SECS` (counted from the last client request, not
/// from open streams; MCP spec "Session Management": the server MAY terminate sessions at any
/// time, the client then gets 404) and sessions whose child died; cancels the calls held past
/// `SIDECAR_HELD_CALL_TIMEOUT_SECS`; ends the stateless children of idle users.
pub async fn reap(app: Arc<App>) {
    let idle = app.config.idle_timeout;
    let shortest = idle.min(app.config.held_call_timeout);
    let every = (shortest / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = app.shutdown.cancelled() => return,
        }
        let now_ms = clock::now_ms();
        for session in app.sessions.expire(now_ms, idle_ms) {
            tracing::info!(mcp.session.id = %session.id, alive = session.is_alive(),
                "session ended (idle or mcp server gone)");
            session.end();
        }
        let expired = app.modern.held.expire(now_ms);
        if expired > 0 {
            tracing::info!(calls = expired, "held calls expired and were cancelled");
        }
        app.modern.pools.expire(now_ms, idle_ms);
    }
}

/// One thread (the default, as in linkerd2-proxy): the sidecar's work per request is small next
/// to its children's, and a single thread saves the cross-thread wake-ups that dominate a request's
/// cost on small machines. More threads (0: one per core) for sidecars whose children are fast.
fn runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if worker_threads > 1 {
        builder.worker_threads(worker_threads);
    }
    builder.enable_all().build()
}

/// Serves until SIGTERM/SIGINT, then shuts down gracefully; `hidden_env` names the variables the
/// children must not inherit.
pub fn serve(
    config: Config,
    inherited: Option<TcpListener>,
    mut hidden_env: Vec<OsString>,
) -> ExitCode {
    trace::init(&config.log_level, config.log_format);
    hidden_env.extend(config::SECRETS.iter().map(OsString::from));
    let runtime = match runtime(config.worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let groups = Arc::new(Groups::default());
    let code = runtime.block_on(run(config, inherited, hidden_env, groups.clone()));
    // Tasks still running are abandoned here; any child they owned is killed and reaped below.
    runtime.shutdown_background();
    let left = groups.reap_remaining(CHILD_STOP_WAIT);
    if !left.is_empty() {
        tracing::error!(pids = ?left, "children could not be reaped at shutdown");
    }
    code
}

async fn run(
    mut config: Config,
    inherited: Option<TcpListener>,
    hidden_env: Vec<OsString>,
    groups: Arc<Groups>,
) -> ExitCode {
    let listener = match http::listener::listen(inherited, config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, listen = %config.listen, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    // The address actually served: the handed-over socket's, or the bound one's (port 0 picks one).
    let local = listener.local_addr().unwrap_or(config.listen);
    let metrics = Arc::new(Metrics::default());
    let spec = Arc::new(ChildSpec {
        command: config.command.clone(),
        max_line_bytes: config.max_line_bytes,
        start_timeout: config.child_start_timeout,
        metrics: metrics.clone(),
        hidden_env,
        groups: groups.clone(),
    });
    // Shared mode needs no warm pool: sessions never get a child of their own.
    let warm = if config.shared { 0 } else { config.warm_pool };
    let warm_pool = Arc::new(WarmPool::new(spec.clone(), warm));
    let hub = Arc::new(Hub::default());
    let shared = config.shared.then(|| {
        // Initialized without client capabilities: no server-to-client requests
        // (docs/architecture/overview.md#children).
        let settings = PoolSettings {
            size: config.shared_pool,
            label: "shared".to_owned(),
            capabilities: serde_json::json!({}),
        };
        Arc::new(SharedPool::new(spec.clone(), None, settings, hub.clone()))
    });
    let shutdown = CancellationToken::new();
    let modern = Modern {
        pools: Pools::new(
            shared.clone().map(|pool| (pool, hub)),
            spec.clone(),
            warm_pool.clone(),
            config.max_sessions,
            shutdown.clone(),
        ),
        held: HeldCalls::new(
            config.max_held_calls,
            config.held_call_timeout,
            config.request_state_key.take(),
        ),
    };
    let cluster = Cluster::new(std::mem::take(&mut config.cluster), &config.command);
    let app = Arc::new(App {
        cluster,
        drain: Arc::new(Drain::default()),
        sessions: Sessions::new(config.max_sessions, config.max_sessions_per_user),
        pool: warm_pool,
        shared: shared.clone(),
        modern,
        health: Arc::new(Health::new(config.probe_interval)),
        metrics,
        shutdown,
        port: local.port(),
        config,
    });
    let mut background = vec![
        tokio::spawn(app.pool.clone().run(app.shutdown.clone())),
        tokio::spawn(app.health.clone().run(spec, app.shutdown.clone())),
        tokio::spawn(reap(app.clone())),
    ];
    if let Some(pool) = shared {
        background.push(tokio::spawn(pool.run(app.shutdown.clone())));
    }
    tracing::info!(listen = %local, path = %app.config.mcp_path,
        command = ?app.config.command, "sidecar listening");
    let server = tokio::spawn(http::server::serve(app.clone(), listener));
    shutdown::signalled().await;
    let grace = app.config.shutdown_grace;
    tracing::info!(
        grace_secs = grace.as_secs(),
        "draining: /health 503, no new sessions"
    );
    app.drain.start(grace);
    app.sessions.close_standalone_streams();
    if tokio::time::timeout(grace, app.drain.idle()).await.is_ok() {
        tracing::info!("drained: no request in flight");
    }
    tracing::info!("shutting down: no new connections");
    app.shutdown.cancel();
    let _ = server.await;
    app.modern.held.clear();
    let sessions = app.sessions.drain();
    tracing::info!(sessions = sessions.len(), "stopping session children");
    futures::future::join_all(sessions.iter().map(|s| s.stop(CHILD_STOP_WAIT))).await;
    let _ = tokio::time::timeout(CHILD_STOP_WAIT, futures::future::join_all(background)).await;
    // Whatever is still running (a request that outlived the grace period and spawned a child,
    // a task stuck past its timeout) loses its children here, all at once.
    let unreaped = groups.kill_all(CHILD_STOP_WAIT).await;
    if !unreaped.is_empty() {
        tracing::warn!(pids = ?unreaped, "children not reaped by their supervisors");
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
