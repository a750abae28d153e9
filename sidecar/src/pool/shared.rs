//! The shared pool (`SIDECAR_SESSION_MODE=shared`, DESIGN §3.3): `SIDECAR_SHARED_POOL` children
//! that the sidecar initialized itself and that serve every session. Sessions are virtual:
//! `initialize` is answered from the cached result, each POST goes to the child with the least
//! outstanding work, and ids are remapped per child as always. Only for servers without
//! per-client state; server-to-client requests are not offered (the children were initialized
//! without client capabilities), and unsolicited server messages have no session to go to.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::child::handshake;
use crate::child::{Child, ChildSpec};

/// Time a fresh child gets to start and answer `initialize`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often dead children are replaced.
const CHECK_EVERY: Duration = Duration::from_secs(1);

pub struct SharedPool {
    spec: Arc<ChildSpec>,
    size: usize,
    children: RwLock<Vec<Arc<Child>>>,
    /// `initialize` result of the first child, answered to every client.
    init: OnceLock<Box<RawValue>>,
    ready: Notify,
}

impl SharedPool {
    pub fn new(spec: Arc<ChildSpec>, size: usize) -> Self {
        Self {
            spec,
            size,
            children: RwLock::new(Vec::with_capacity(size)),
            init: OnceLock::new(),
            ready: Notify::new(),
        }
    }

    /// The live child with the fewest requests in flight.
    pub fn pick(&self) -> Option<Arc<Child>> {
        let children = self.children.read().unwrap_or_else(|e| e.into_inner());
        children
            .iter()
            .filter(|c| c.is_alive())
            .min_by_key(|c| c.peer().in_flight())
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<Child>> {
        self.children
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The cached `initialize` result, waiting up to `wait` for the first child.
    pub async fn initialize_result(&self, wait: Duration) -> Option<&RawValue> {
        if self.init.get().is_none() {
            let notified = self.ready.notified();
            if self.init.get().is_none() {
                let _ = tokio::time::timeout(wait, notified).await;
            }
        }
        self.init.get().map(AsRef::as_ref)
    }

    /// Keeps `size` initialized children until shutdown, then stops them.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let alive = self.all().iter().filter(|c| c.is_alive()).count();
            for _ in alive..self.size {
                match handshake::spawn_initialized(&self.spec, START_TIMEOUT).await {
                    Ok((child, result)) => {
                        let mut children = self.children.write().unwrap_or_else(|e| e.into_inner());
                        children.retain(|c| c.is_alive());
                        children.push(child);
                        drop(children);
                        if self.init.set(result).is_ok() {
                            self.ready.notify_waiters();
                        }
                    }
                    Err(error) => {
                        tracing::error!(error = %error, "cannot start a shared-pool child");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        Child::stop_all(&self.all(), Duration::from_secs(2)).await;
    }
}
