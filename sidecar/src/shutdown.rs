//! Graceful shutdown: the trigger (SIGTERM from docker stop, systemd or Kubernetes; SIGINT from
//! Ctrl-C) and the drain that follows it. While draining, the sidecar keeps accepting connections,
//! so that the balancer's next health check sees `/health` answer 503 and stops sending new work
//! (rather than connection errors it may retry on this replica), refuses new sessions (503 with
//! Retry-After: the client retries and lands on another replica), and lets the requests in flight
//! finish; it stops once none is left or the grace period is over.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Resolves on the first SIGTERM or SIGINT.
pub async fn signalled() {
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the sidecar");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Requests in flight (a streamed answer counts until its last byte) and whether the sidecar is
/// draining.
#[derive(Default)]
pub struct Drain {
    draining: AtomicBool,
    /// When the grace period ends (set when draining starts).
    deadline: OnceLock<Instant>,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// One request in flight, until dropped.
pub struct InFlight(Arc<Drain>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Drain {
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Starts draining; the requests in flight get `grace` to finish.
    pub fn start(&self, grace: Duration) {
        let _ = self.deadline.set(Instant::now() + grace);
        self.draining.store(true, Ordering::Release);
    }

    /// The end of the grace period (now when draining has not started).
    pub fn deadline(&self) -> Instant {
        self.deadline.get().copied().unwrap_or_else(Instant::now)
    }

    /// Resolves once no request is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a drop in between still wakes us.
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}
