//! Pools of children that the sidecar initialized itself and that serve many requests each: the
//! shared pool (`SIDECAR_SESSION_MODE=shared`, docs/architecture/overview.md#children: every legacy
//! session is virtual over it, and it serves every stateless request) and, in isolated mode, one
//! pool per user for that user's stateless requests. Requests go to the child with the least
//! outstanding work; ids are remapped per child as always. A pool keeps its size, replaces children
//! that die, and subscribes every child to the resources its clients listen to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::child::state::Unsolicited;
use crate::child::{Child, ChildSpec, handshake};
use crate::clock;
use crate::pool::warm::WarmPool;

/// How often dead children are replaced.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Time a resource (un)subscription may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a pool is for.
pub struct PoolSettings {
    /// Children kept.
    pub size: usize,
    /// Names the pool's children in logs.
    pub label: String,
    /// Client capabilities declared in the sidecar's `initialize`: what server-to-client
    /// requests the children may send.
    pub capabilities: serde_json::Value,
}

pub struct SharedPool {
    spec: Arc<ChildSpec>,
    /// Spawned children to start from (a user's pool), or none (spawn directly).
    warm: Option<Arc<WarmPool>>,
    settings: PoolSettings,
    children: RwLock<Vec<Arc<Child>>>,
    /// `initialize` result of the first child, answered to every client.
    init: OnceLock<Box<RawValue>>,
    /// A child became ready.
    ready: Notify,
    /// Where the children's unsolicited messages go.
    unsolicited: Arc<dyn Unsolicited>,
    /// Resources the pool's clients listen to, with how many listeners want each.
    resources: Mutex<HashMap<String, usize>>,
    last_used_ms: AtomicU64,
}

impl SharedPool {
    pub fn new(
        spec: Arc<ChildSpec>,
        warm: Option<Arc<WarmPool>>,
        settings: PoolSettings,
        unsolicited: Arc<dyn Unsolicited>,
    ) -> Self {
        Self {
            spec,
            warm,
            children: RwLock::new(Vec::with_capacity(settings.size)),
            settings,
            init: OnceLock::new(),
            ready: Notify::new(),
            unsolicited,
            resources: Mutex::new(HashMap::new()),
            last_used_ms: AtomicU64::new(clock::now_ms()),
        }
    }

    /// The live child with the fewest requests in flight.
    pub fn pick(&self) -> Option<Arc<Child>> {
        self.last_used_ms.store(clock::now_ms(), Ordering::Relaxed);
        let children = self.children.read().unwrap_or_else(|e| e.into_inner());
        children
            .iter()
            .filter(|c| c.is_alive())
            .min_by_key(|c| c.peer().in_flight())
            .cloned()
    }

    /// `pick`, waiting up to `wait` for a first child to become ready.
    pub async fn pick_ready(&self, wait: Duration) -> Option<Arc<Child>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.ready.notified();
            if let Some(child) = self.pick() {
                return Some(child);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    pub fn all(&self) -> Vec<Arc<Child>> {
        self.children
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests in flight on all children (held multi-round-trip calls included).
    pub fn in_flight(&self) -> usize {
        self.all().iter().map(|c| c.peer().in_flight()).sum()
    }

    /// When a request last picked a child (milliseconds of `clock`).
    pub fn last_used_ms(&self) -> u64 {
        self.last_used_ms.load(Ordering::Relaxed)
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

    fn resources(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.resources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more listener wants updates of `uris`: children subscribe to those nobody wanted yet
    /// (`resources/subscribe`, MCP spec "Server Features" > "Resources" > "Subscriptions").
    pub fn subscribe(&self, uris: &[String]) {
        let new: Vec<String> = {
            let mut wanted = self.resources();
            uris.iter()
                .filter(|uri| {
                    let n = wanted.entry((*uri).clone()).or_default();
                    *n += 1;
                    *n == 1
                })
                .cloned()
                .collect()
        };
        self.tell_children(&self.all(), "resources/subscribe", new);
    }

    /// A listener of `uris` left: children unsubscribe from those nobody wants any more.
    pub fn unsubscribe(&self, uris: &[String]) {
        let gone: Vec<String> = {
            let mut wanted = self.resources();
            uris.iter()
                .filter(|uri| match wanted.get_mut(*uri) {
                    Some(n) if *n > 1 => {
                        *n -= 1;
                        false
                    }
                    Some(_) => {
                        wanted.remove(*uri);
                        true
                    }
                    None => false,
                })
                .cloned()
                .collect()
        };
        self.tell_children(&self.all(), "resources/unsubscribe", gone);
    }

    /// Sends `method` for each of `uris` to `children`, in the background.
    fn tell_children(&self, children: &[Arc<Child>], method: &'static str, uris: Vec<String>) {
        for child in children {
            for uri in &uris {
                let child = child.clone();
                let params = serde_json::json!({ "uri": uri }).to_string();
                tokio::spawn(async move {
                    let params = RawValue::from_string(params).ok();
                    child
                        .call(
                            RawValue::NULL,
                            method,
                            params.as_deref(),
                            usize::MAX,
                            SUBSCRIBE_TIMEOUT,
                        )
                        .await;
                });
            }
        }
    }

    /// A new child for the pool: from the warm pool or spawned, attached, initialized.
    async fn start_child(&self) -> Result<(Arc<Child>, Box<RawValue>), String> {
        let child = match &self.warm {
            Some(warm) => warm.take().await,
            None => Child::spawn_off_runtime(self.spec.clone()).await,
        }
        .map_err(|e| format!("spawn failed: {e}"))?;
        // Attached first: a child may send requests right after `initialize` (roots/list).
        child.attach(&self.settings.label, self.unsolicited.clone());
        let result =
            handshake::initialize(&child, &self.settings.capabilities, self.spec.start_timeout)
                .await;
        if let Some(warm) = &self.warm {
            warm.refill();
        }
        Ok((child, result?))
    }

    /// Keeps `size` initialized children until `stop` is cancelled, then stops them.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let alive = self.all().iter().filter(|c| c.is_alive()).count();
            for _ in alive..self.settings.size {
                match self.start_child().await {
                    Ok((child, result)) => {
                        let mut children = self.children.write().unwrap_or_else(|e| e.into_inner());
                        children.retain(|c| c.is_alive());
                        children.push(child.clone());
                        drop(children);
                        let wanted: Vec<String> = self.resources().keys().cloned().collect();
                        self.tell_children(&[child], "resources/subscribe", wanted);
                        let _ = self.init.set(result);
                        self.ready.notify_waiters();
                    }
                    Err(error) => {
                        tracing::error!(error = %error, pool = %self.settings.label,
                            "cannot start a pool child");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = stop.cancelled() => break,
            }
        }
        Child::stop_all(&self.all(), Duration::from_secs(2)).await;
    }
}
