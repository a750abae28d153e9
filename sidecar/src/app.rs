//! Shared state of the running sidecar, and the idle-session reaper.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock;
use crate::config::Config;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::pool::WarmPool;
use crate::sessions::Sessions;
use crate::shared::SharedPool;

pub struct App {
    pub config: Config,
    pub sessions: Sessions,
    pub pool: Arc<WarmPool>,
    /// Present in shared mode.
    pub shared: Option<Arc<SharedPool>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Cancelled on SIGTERM/SIGINT.
    pub shutdown: CancellationToken,
}

/// Ends sessions idle for `SIDECAR_IDLE_TIMEOUT_SECS` (counted from the last client request, not
/// from open streams; MCP spec "Session Management": the server MAY terminate sessions at any
/// time, the client then gets 404) and sessions whose child died.
pub async fn reap(app: Arc<App>) {
    let idle = app.config.idle_timeout;
    let every = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = app.shutdown.cancelled() => return,
        }
        for session in app.sessions.expire(clock::now_ms(), idle_ms) {
            tracing::info!(mcp.session.id = %session.id, alive = session.is_alive(),
                "session ended (idle or mcp server gone)");
            session.end();
        }
    }
}
