//! Which children serve a user's stateless requests.
//!
//! Stateless requests carry no session, so nothing ties one of them to a child except the user the
//! edge names (`X-User-Id`). Servers with per-process state (memory's graph, filesystem's roots,
//! git's working tree, everything's subscriptions and log level) would let one user's requests see
//! or change what another user's did if they shared a child, so in isolated mode (the default,
//! for such servers) each user gets a pool of their own: one child the sidecar initialized with the
//! client capabilities a stateless client may have (sampling, elicitation, roots), kept while the
//! user is active and ended after `SIDECAR_IDLE_TIMEOUT_SECS` without requests, held calls or
//! listeners. At most `SIDECAR_MAX_SESSIONS` users have one at a time (then 503).
//!
//! In shared mode the operator declared the server free of per-client state: every stateless
//! request goes to the one shared pool, which legacy sessions use too. Its children were
//! initialized without client capabilities, so server-to-client requests are not offered there
//! (stdio cannot say which client request caused one, and a shared child serves everyone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::child::ChildSpec;
use crate::error::HttpError;
use crate::modern::hub::Hub;
use crate::pool::shared::{PoolSettings, SharedPool};
use crate::pool::warm::WarmPool;

/// Children of one user's pool.
const CHILDREN_PER_USER: usize = 1;

/// A pool serving stateless requests, with its listeners.
pub struct StatelessPool {
    pub pool: Arc<SharedPool>,
    pub hub: Arc<Hub>,
    /// Whether its children may ask the client for input (multi-round-trip requests).
    pub takes_input: bool,
    stop: CancellationToken,
}

impl StatelessPool {
    /// Whether nothing of the pool is in use: no request, held call or listener.
    fn is_unused(&self) -> bool {
        self.pool.in_flight() == 0 && self.hub.count() == 0
    }
}

pub struct Pools {
    /// Shared mode: the one pool.
    shared: Option<Arc<StatelessPool>>,
    /// Isolated mode: a pool per user.
    by_user: Mutex<HashMap<String, Arc<StatelessPool>>>,
    spec: Arc<ChildSpec>,
    warm: Arc<WarmPool>,
    max_users: usize,
    shutdown: CancellationToken,
}

impl Pools {
    /// `shared`: the shared pool and its hub, in shared mode.
    pub fn new(
        shared: Option<(Arc<SharedPool>, Arc<Hub>)>,
        spec: Arc<ChildSpec>,
        warm: Arc<WarmPool>,
        max_users: usize,
        shutdown: CancellationToken,
    ) -> Self {
        let shared = shared.map(|(pool, hub)| {
            Arc::new(StatelessPool {
                pool,
                hub,
                takes_input: false,
                stop: shutdown.clone(),
            })
        });
        Self {
            shared,
            by_user: Mutex::new(HashMap::new()),
            spec,
            warm,
            max_users,
            shutdown,
        }
    }

    fn by_user(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<StatelessPool>>> {
        self.by_user.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pool of `user`'s stateless requests, started on first use.
    pub fn for_user(&self, user: &str) -> Result<Arc<StatelessPool>, HttpError> {
        if let Some(shared) = &self.shared {
            return Ok(shared.clone());
        }
        let mut by_user = self.by_user();
        if let Some(pool) = by_user.get(user) {
            return Ok(pool.clone());
        }
        if self.shutdown.is_cancelled() {
            return Err(HttpError::ShuttingDown);
        }
        if by_user.len() >= self.max_users {
            return Err(HttpError::TooManySessions);
        }
        let hub = Arc::new(Hub::default());
        let settings = PoolSettings {
            size: CHILDREN_PER_USER,
            label: format!("stateless:{user}"),
            capabilities: serde_json::json!({ "sampling": {}, "elicitation": {}, "roots": {} }),
        };
        let pool = Arc::new(SharedPool::new(
            self.spec.clone(),
            Some(self.warm.clone()),
            settings,
            hub.clone(),
        ));
        let stop = self.shutdown.child_token();
        tokio::spawn(pool.clone().run(stop.clone()));
        tracing::info!(user, "stateless children started for a user");
        let entry = Arc::new(StatelessPool {
            pool,
            hub,
            takes_input: true,
            stop,
        });
        by_user.insert(user.to_owned(), entry.clone());
        Ok(entry)
    }

    /// Ends the pools of users idle for `idle_ms` (nothing in use, no request since); returns how
    /// many.
    pub fn expire(&self, now_ms: u64, idle_ms: u64) -> usize {
        let mut by_user = self.by_user();
        let before = by_user.len();
        by_user.retain(|user, pool| {
            let idle = now_ms.saturating_sub(pool.pool.last_used_ms()) >= idle_ms;
            let keep = !(idle && pool.is_unused());
            if !keep {
                tracing::info!(user = %user, "stateless children of an idle user ended");
                pool.stop.cancel();
            }
            keep
        });
        before - by_user.len()
    }

    /// Users with a pool of their own right now.
    pub fn users(&self) -> usize {
        self.by_user().len()
    }
}
