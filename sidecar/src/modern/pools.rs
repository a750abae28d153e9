//! Which children serve a user's stateless requests.
//!
//! Stateless requests carry no session, so nothing ties one of them to a child except the user the
//! edge names (`X-User-Id`). Servers with per-process state (memory's graph, filesystem's roots,
//! git's working tree, everything's subscriptions and log level) would let one user's requests see
//! or change what another user's did if they shared a child, so in isolated mode (the default,
//! for such servers) each user gets a pool of their own: one child the sidecar initialized with the
//! client capabilities a stateless client may use during a call (sampling, elicitation), kept while the
//! user is active and ended after `SIDECAR_IDLE_TIMEOUT_SECS` without requests, held calls or
//! listeners. At most `SIDECAR_MAX_SESSIONS` users have one at a time (then 503).
//!
//! In shared mode the operator declared the server free of per-client state: every stateless
//! request goes to the one shared pool, which legacy sessions use too. Its children were
//! initialized without client capabilities, so server-to-client requests are not offered there
//! (stdio cannot say which client request caused one, and a shared child serves everyone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::child::ChildSpec;
use crate::child::handshake;
use crate::error::HttpError;
use crate::modern::hub::Hub;
use crate::pool::shared::{PoolSettings, SharedPool};
use crate::pool::warm::WarmPool;
use crate::protocol::param_headers::{self, Annotation};

/// Pages of `tools/list` read at most when learning the tools' header annotations.
const TOOL_PAGES: usize = 100;

/// What the pool's tools declare as `Mcp-Param-*` headers, and the `tools_changed` count it was
/// learnt at.
type ToolHeaders = (u64, Arc<HashMap<String, Vec<Annotation>>>);

/// Children of one user's pool.
const CHILDREN_PER_USER: usize = 1;

/// A pool serving stateless requests, with its listeners.
pub struct StatelessPool {
    pub pool: Arc<SharedPool>,
    pub hub: Arc<Hub>,
    /// Whether its children may ask the client for input (multi-round-trip requests).
    pub takes_input: bool,
    stop: CancellationToken,
    tool_headers: Mutex<Option<ToolHeaders>>,
}

impl StatelessPool {
    fn new(
        pool: Arc<SharedPool>,
        hub: Arc<Hub>,
        takes_input: bool,
        stop: CancellationToken,
    ) -> Self {
        Self {
            pool,
            hub,
            takes_input,
            stop,
            tool_headers: Mutex::new(None),
        }
    }

    /// The `Mcp-Param-*` annotations of `tool` (MCP 2026-07-28 "Custom headers"), learnt from
    /// the children's `tools/list` and learnt again after they say the list changed. A listing
    /// that fails checks nothing (the call itself then reports what is wrong).
    pub async fn param_annotations(&self, tool: &str, timeout: Duration) -> Vec<Annotation> {
        let changed = self.hub.tools_changed();
        let known = self
            .tool_headers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|(at, _)| *at == changed);
        let tools = match known {
            Some((_, tools)) => tools,
            None => {
                let tools = Arc::new(self.list_tool_headers(timeout).await);
                *self.tool_headers.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((changed, tools.clone()));
                tools
            }
        };
        tools.get(tool).cloned().unwrap_or_default()
    }

    async fn list_tool_headers(&self, timeout: Duration) -> HashMap<String, Vec<Annotation>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tools: Vec<Tool>,
            #[serde(rename = "nextCursor")]
            next: Option<String>,
        }
        #[derive(Deserialize)]
        struct Tool {
            name: String,
            #[serde(rename = "inputSchema", default)]
            schema: Value,
        }
        let mut out = HashMap::new();
        let Some(child) = self.pool.pick_ready(timeout).await else {
            return out;
        };
        let mut cursor: Option<String> = None;
        for _ in 0..TOOL_PAGES {
            let params = cursor.as_ref().and_then(|c| {
                RawValue::from_string(serde_json::json!({ "cursor": c }).to_string()).ok()
            });
            let answer = child
                .call(
                    RawValue::NULL,
                    "tools/list",
                    params.as_deref(),
                    usize::MAX,
                    timeout,
                )
                .await;
            let Ok(page) = handshake::result_of(&answer)
                .and_then(|r| serde_json::from_str::<Page>(r.get()).map_err(|e| e.to_string()))
            else {
                tracing::warn!("tools/list for the Mcp-Param headers failed; headers not checked");
                return out;
            };
            for tool in page.tools {
                if let Some(found) =
                    param_headers::annotations(&tool.schema).filter(|found| !found.is_empty())
                {
                    out.insert(tool.name, found);
                }
            }
            match page.next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => break,
            }
        }
        out
    }
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
        let shared = shared
            .map(|(pool, hub)| Arc::new(StatelessPool::new(pool, hub, false, shutdown.clone())));
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
            // Sampling and elicitation: what servers ask for while they serve a call. Not roots:
            // servers ask for those on their own, right after `initialize` (the everything server
            // 350 ms later), where no stateless client can answer, and the request would be taken
            // for part of whatever call runs then. A roots/list during a call is still bridged.
            capabilities: serde_json::json!({ "sampling": {}, "elicitation": {} }),
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
        let entry = Arc::new(StatelessPool::new(pool, hub, true, stop));
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
