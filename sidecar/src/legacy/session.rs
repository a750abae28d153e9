//! One legacy-era MCP session (MCP spec "Transports" > "Session Management"): a dedicated child,
//! the user it belongs to, the negotiated revision, its SSE streams and its last client activity.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::child::Child;
use crate::clock;
use crate::error::HttpError;
use crate::legacy::resumable::SseStream;
use crate::pool::shared::SharedPool;
use crate::protocol::sse;
use crate::protocol::version::{self, VersionError};

/// Finished request streams kept for resumption, newest first. Delivered ones too: an event
/// written to the connection may still be lost before the client reads it (a proxy in between, a
/// connection that breaks), and the client can only tell by resuming (MCP basic/transports
/// "Resumability and Redelivery"). Bounds the memory of a session to this many answers.
const RETAINED_STREAMS: usize = 16;

/// A fresh session id: 192 bits from the OS-seeded CSPRNG, URL-safe base64 (visible ASCII only,
/// as the spec requires for `Mcp-Session-Id`).
pub fn new_id() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Where a session's requests go.
pub enum Backend {
    /// Isolated mode: a dedicated child, killed when the session ends.
    Own(Arc<Child>),
    /// Shared mode: the shared pool, which outlives every session.
    Shared(Arc<SharedPool>),
}

/// Tags sessions in the waiters of shared children (cancellation by client id).
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

pub struct Session {
    pub id: String,
    /// `X-User-Id` of the creator ("" when the edge sent none); other users get 404.
    pub user: String,
    pub tag: u64,
    pub backend: Backend,
    pub standalone: Arc<SseStream>,
    version: OnceLock<String>,
    streams: Mutex<BTreeMap<u64, Arc<SseStream>>>,
    next_stream: AtomicU64,
    last_activity_ms: AtomicU64,
    buffer_events: usize,
}

impl Session {
    /// A session named `id` (`new_id`, sealed by `cluster` when there are replicas).
    pub fn new(
        id: String,
        user: &str,
        backend: Backend,
        standalone_queue: usize,
        buffer_events: usize,
    ) -> Self {
        let standalone = Arc::new(SseStream::new(sse::STANDALONE, standalone_queue));
        if let Backend::Own(child) = &backend {
            child.attach(&id, standalone.clone());
        }
        Self {
            id,
            user: user.to_owned(),
            tag: NEXT_TAG.fetch_add(1, Ordering::Relaxed),
            backend,
            standalone,
            version: OnceLock::new(),
            streams: Mutex::new(BTreeMap::new()),
            next_stream: AtomicU64::new(sse::STANDALONE + 1),
            last_activity_ms: AtomicU64::new(clock::now_ms()),
            buffer_events,
        }
    }

    /// The child for the next request: the own one, or the least busy shared one.
    pub fn child(&self) -> Option<Arc<Child>> {
        match &self.backend {
            Backend::Own(child) => Some(child.clone()),
            Backend::Shared(pool) => pool.pick(),
        }
    }

    /// Every child that may hold a request of this session.
    pub fn children(&self) -> Vec<Arc<Child>> {
        match &self.backend {
            Backend::Own(child) => vec![child.clone()],
            Backend::Shared(pool) => pool.all(),
        }
    }

    /// False once the own child is gone (then the session is over: 404).
    pub fn is_alive(&self) -> bool {
        match &self.backend {
            Backend::Own(child) => child.is_alive(),
            Backend::Shared(_) => true,
        }
    }

    /// Ends the session's own child (a shared pool is left alone).
    pub fn end(&self) {
        if let Backend::Own(child) = &self.backend {
            child.kill();
        }
    }

    /// Like `end`, waiting up to `wait` for the child to be reaped.
    pub async fn stop(&self, wait: Duration) {
        if let Backend::Own(child) = &self.backend {
            child.stop(wait).await;
        }
    }

    /// The revision the child answered to `initialize`.
    pub fn version(&self) -> &str {
        self.version.get().map_or(version::DEFAULT, String::as_str)
    }

    pub fn set_version(&self, negotiated: String) {
        let _ = self.version.set(negotiated);
    }

    /// Checks a request's `MCP-Protocol-Version` against the negotiated revision.
    pub fn check_version(&self, header: Option<&str>) -> Result<(), HttpError> {
        version::check(header, self.version()).map_err(|e| match e {
            VersionError::Unsupported(v) => HttpError::UnsupportedVersion(v),
            VersionError::Mismatch { header, negotiated } => {
                HttpError::VersionMismatch { header, negotiated }
            }
        })
    }

    /// Records client activity (the idle timeout counts from here).
    pub fn touch(&self) {
        self.last_activity_ms
            .store(clock::now_ms(), Ordering::Relaxed);
    }

    /// Whether the session has seen no client activity for `idle_ms` and runs no request.
    pub fn is_idle(&self, now_ms: u64, idle_ms: u64) -> bool {
        let last = self.last_activity_ms.load(Ordering::Relaxed);
        // A shared child's requests are not counted per session; ending an idle shared session
        // loses nothing (its answers still reach the waiting client).
        let busy = match &self.backend {
            Backend::Own(child) => child.peer().in_flight() > 0,
            Backend::Shared(_) => false,
        };
        now_ms.saturating_sub(last) >= idle_ms && !busy
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<SseStream>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new stream for one POST, registered for resumption.
    pub fn open_stream(&self) -> Arc<SseStream> {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let stream = Arc::new(SseStream::new(id, self.buffer_events));
        self.streams().insert(id, stream.clone());
        stream
    }

    /// A stream by id, for `Last-Event-ID`.
    pub fn stream(&self, id: u64) -> Option<Arc<SseStream>> {
        if id == sse::STANDALONE {
            return Some(self.standalone.clone());
        }
        self.streams().get(&id).cloned()
    }

    /// Called when a POST stream has finished: kept, with the `RETAINED_STREAMS` newest finished
    /// ones, so that its client can resume it; older finished streams are forgotten.
    pub fn release_stream(&self) {
        let mut streams = self.streams();
        let finished: Vec<u64> = streams
            .iter()
            .filter(|(_, s)| s.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in finished
            .iter()
            .take(finished.len().saturating_sub(RETAINED_STREAMS))
        {
            streams.remove(id);
        }
    }

    /// Ends every stream (session over or server shutting down).
    pub fn close_streams(&self) {
        self.standalone.finish();
        for stream in self.streams().values() {
            stream.finish();
        }
    }
}
