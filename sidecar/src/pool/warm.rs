//! The warm pool: children spawned ahead of time but not initialized, so that a new session only
//! waits for the `initialize` round trip, not for a process (and its runtime) to start. A
//! background task tops the pool up after every session start and replaces pooled children that
//! died.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::child::{Child, ChildSpec};

/// How often the pool is checked for dead children even without takes.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// A burst of session starts is served from the pool first: refilling waits until the takes pause
/// for this long, because starting a runtime (node: ~100 ms of CPU) next to the burst's
/// `initialize` round trips makes each of them several times slower (issue 2 "Performance").
const REFILL_QUIET: Duration = Duration::from_millis(100);
/// ...but no longer than this, so that a steady stream of session starts still finds a pool.
const REFILL_AT_MOST_AFTER: Duration = Duration::from_secs(1);

pub struct WarmPool {
    spec: Arc<ChildSpec>,
    target: usize,
    ready: Mutex<VecDeque<Arc<Child>>>,
    refill: Notify,
}

impl WarmPool {
    pub fn new(spec: Arc<ChildSpec>, target: usize) -> Self {
        Self {
            spec,
            target,
            ready: Mutex::new(VecDeque::with_capacity(target)),
            refill: Notify::new(),
        }
    }

    fn ready(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Child>>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A live, uninitialized child: from the pool when one is ready, else spawned now (cold).
    /// The caller calls `refill` once its `initialize` is answered.
    pub async fn take(&self) -> std::io::Result<Arc<Child>> {
        let pooled = {
            let mut ready = self.ready();
            std::iter::from_fn(|| ready.pop_front()).find(|c| c.is_alive())
        };
        match pooled {
            Some(child) => Ok(child),
            None => Child::spawn_off_runtime(self.spec.clone()).await,
        }
    }

    /// Tops the pool up in the background. Called after a taken child's `initialize` is answered,
    /// not at the take: a spawn at that moment competes for the CPU with the session being
    /// created (issue 2 follow-up 2).
    pub fn refill(&self) {
        self.refill.notify_one();
    }

    /// Keeps the pool at its target size until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            self.ready().retain(|c| c.is_alive());
            while self.ready().len() < self.target && !shutdown.is_cancelled() {
                match Child::spawn_off_runtime(self.spec.clone()).await {
                    Ok(child) => self.ready().push_back(child),
                    Err(e) => {
                        tracing::error!(error = %e, command = ?self.spec.command,
                            "cannot spawn the mcp server for the warm pool");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = self.refill.notified() => self.until_takes_pause(&shutdown).await,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        let children: Vec<Arc<Child>> = self.ready().drain(..).collect();
        Child::stop_all(&children, Duration::from_secs(2)).await;
    }

    /// Returns once no refill was asked for during `REFILL_QUIET` (or after `REFILL_AT_MOST_AFTER`,
    /// or at shutdown).
    async fn until_takes_pause(&self, shutdown: &CancellationToken) {
        let at_most = tokio::time::sleep(REFILL_AT_MOST_AFTER);
        tokio::pin!(at_most);
        loop {
            tokio::select! {
                _ = self.refill.notified() => {}
                _ = tokio::time::sleep(REFILL_QUIET) => return,
                _ = &mut at_most => return,
                _ = shutdown.cancelled() => return,
            }
        }
    }
}
