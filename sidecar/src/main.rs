//! `sidecar`: serves one stdio MCP server as a Streamable HTTP endpoint (MCP 2025-03-26,
//! 2025-06-18, 2025-11-25), one child process per session, behind an edge that does OAuth.
//!
//! `sidecar serve [OPTIONS] -- CMD [ARGS...]` runs the bridge; `sidecar healthcheck --url URL`
//! exits 0 when `/health` answers 200 (for Docker HEALTHCHECK: images have no curl).

mod app;
mod child;
mod clock;
mod config;
mod exchange;
mod framing;
mod groups;
mod health;
mod http;
mod initialize;
mod jsonrpc;
mod lifecycle;
mod listen;
mod metrics;
mod pending;
mod pool;
mod post;
mod session;
mod sessions;
mod shared;
mod shutdown;
mod sse;
mod stderr;
mod trace;
mod version;

use std::collections::HashSet;
use std::ffi::OsString;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::child::ChildSpec;
use crate::config::{Config, ServeArgs};
use crate::groups::Groups;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::pool::WarmPool;
use crate::sessions::Sessions;
use crate::shared::SharedPool;

/// sysexits(3) `EX_USAGE`: bad command line or settings.
const EX_USAGE: u8 = 64;
/// Time children get to be reaped at shutdown.
const CHILD_STOP_WAIT: Duration = Duration::from_secs(3);

#[derive(Parser)]
#[command(
    name = "sidecar",
    version,
    about = "Streamable HTTP bridge for one stdio MCP server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over Streamable HTTP in front of `-- CMD [ARGS...]`.
    Serve(Box<ServeArgs>),
    /// Exit 0 when the health endpoint answers 200, else 1.
    Healthcheck {
        #[arg(
            long,
            env = "SIDECAR_HEALTHCHECK_URL",
            default_value = "http://127.0.0.1:3000/health"
        )]
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
}

fn main() -> ExitCode {
    let inherited = match http::listener::take_inherited() {
        Ok(inherited) => inherited,
        Err(problem) => {
            eprintln!("sidecar: invalid configuration:\n  - {problem}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let from_dotenv = load_dotenv();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Serve(args) => match args.validate() {
            Ok(config) => serve(config, inherited, from_dotenv),
            Err(problems) => {
                eprintln!("sidecar: invalid configuration:");
                for problem in problems {
                    eprintln!("  - {problem}");
                }
                ExitCode::from(EX_USAGE)
            }
        },
        Command::Healthcheck { url, timeout_secs } => {
            healthcheck(&url, Duration::from_secs(timeout_secs))
        }
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

/// Loads `.env` (a missing file is normal: settings may come from the real environment) and returns
/// the names it added. Children never see those: the gateway's `.env` also holds authd's secrets,
/// and an MCP server (the everything server's `get-env` tool, say) could print its whole environment.
fn load_dotenv() -> Vec<OsString> {
    let before: HashSet<OsString> = std::env::vars_os().map(|(name, _)| name).collect();
    let _ = dotenvy::dotenv();
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| !before.contains(name))
        .collect()
}

fn serve(config: Config, inherited: Option<TcpListener>, hidden_env: Vec<OsString>) -> ExitCode {
    trace::init(&config.log_level, config.log_format);
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
    config: Config,
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
    let local = listener
        .local_addr()
        .map_or_else(|_| config.listen.to_string(), |a| a.to_string());
    let metrics = Arc::new(Metrics::default());
    let spec = Arc::new(ChildSpec {
        command: config.command.clone(),
        max_line_bytes: config.max_line_bytes,
        metrics: metrics.clone(),
        hidden_env,
        groups: groups.clone(),
    });
    // Shared mode needs no warm pool: sessions never get a child of their own.
    let warm = if config.shared { 0 } else { config.warm_pool };
    let shared = config
        .shared
        .then(|| Arc::new(SharedPool::new(spec.clone(), config.shared_pool)));
    let app = Arc::new(App {
        sessions: Sessions::new(config.max_sessions, config.max_sessions_per_user),
        pool: Arc::new(WarmPool::new(spec.clone(), warm)),
        shared: shared.clone(),
        health: Arc::new(Health::new(config.probe_interval)),
        metrics,
        shutdown: CancellationToken::new(),
        config,
    });
    let mut background = vec![
        tokio::spawn(app.pool.clone().run(app.shutdown.clone())),
        tokio::spawn(app.health.clone().run(spec, app.shutdown.clone())),
        tokio::spawn(app::reap(app.clone())),
    ];
    if let Some(pool) = shared {
        background.push(tokio::spawn(pool.run(app.shutdown.clone())));
    }
    tracing::info!(listen = %local, path = %app.config.mcp_path,
        command = ?app.config.command, "sidecar listening");
    let server = tokio::spawn(http::server::serve(app.clone(), listener));
    shutdown::signalled().await;
    tracing::info!("shutting down: no new connections");
    app.shutdown.cancel();
    let _ = server.await;
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

fn healthcheck(url: &str, timeout: Duration) -> ExitCode {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let Ok(uri) = url.parse::<hyper::Uri>() else {
        eprintln!("sidecar healthcheck: invalid url {url:?}");
        return ExitCode::from(EX_USAGE);
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let healthy = runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
        matches!(
            tokio::time::timeout(timeout, client.get(uri)).await,
            Ok(Ok(response)) if response.status() == hyper::StatusCode::OK
        )
    });
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
