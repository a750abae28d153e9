//! `/health`: backed by a background probe that sends a real MCP request (`ping`, MCP spec
//! "Utilities" > "Ping") to a child the sidecar initialized itself, every
//! `SIDECAR_PROBE_INTERVAL_SECS`. A health request only reads the last result; it never spawns.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::child::handshake;
use crate::child::{Child, ChildSpec};
use crate::clock;

/// Time the probe's `ping` gets.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Outcome {
    ok: bool,
    at_ms: u64,
    at_unix: u64,
    latency_ms: u64,
    error: Option<String>,
}

pub struct Health {
    interval: Duration,
    last: Mutex<Option<Outcome>>,
    /// The probe child's `initialize` result: what the server is and can do, whoever asks
    /// (`server/discover`, `subscriptions/listen`).
    init: OnceLock<Box<RawValue>>,
    initialized: Notify,
}

impl Health {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
            init: OnceLock::new(),
            initialized: Notify::new(),
        }
    }

    /// The server's `initialize` result, waiting up to `wait` for the first probe child.
    pub async fn initialize_result(&self, wait: Duration) -> Option<&RawValue> {
        let notified = self.initialized.notified();
        if self.init.get().is_none() {
            let _ = tokio::time::timeout(wait, notified).await;
        }
        self.init.get().map(AsRef::as_ref)
    }

    fn last(&self) -> Option<Outcome> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `(healthy, body)`: healthy when the last probe succeeded within two intervals plus the
    /// probe's own timeout.
    pub fn report(&self, sessions: usize, children: u64) -> (bool, serde_json::Value) {
        let last = self.last();
        let fresh_ms = (2 * self.interval + PING_TIMEOUT).as_millis() as u64;
        let healthy = last
            .as_ref()
            .is_some_and(|o| o.ok && clock::now_ms().saturating_sub(o.at_ms) <= fresh_ms);
        let status = match (&last, healthy) {
            (None, _) => "starting",
            (Some(_), true) => "ok",
            (Some(_), false) => "failing",
        };
        let last_probe = last.map(|o| {
            json!({ "ok": o.ok, "at": o.at_unix, "latency_ms": o.latency_ms, "error": o.error })
        });
        let body = json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "sessions": sessions,
            "children": children,
            "last_probe": last_probe,
        });
        (healthy, body)
    }

    /// Probes until shutdown; the probe child is replaced whenever it dies.
    pub async fn run(self: Arc<Self>, spec: Arc<ChildSpec>, shutdown: CancellationToken) {
        let mut child: Option<Arc<Child>> = None;
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            let started = Instant::now();
            let result = probe(&mut child, &spec, &self.init).await;
            if self.init.get().is_some() {
                self.initialized.notify_waiters();
            }
            if let Err(error) = &result {
                tracing::warn!(error = %error, "health probe failed");
                child = None;
            }
            let outcome = Outcome {
                ok: result.is_ok(),
                at_ms: clock::now_ms(),
                at_unix: clock::unix_secs(),
                latency_ms: started.elapsed().as_millis() as u64,
                error: result.err(),
            };
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        }
        if let Some(child) = child {
            child.stop(Duration::from_secs(2)).await;
        }
    }
}

async fn probe(
    slot: &mut Option<Arc<Child>>,
    spec: &Arc<ChildSpec>,
    init: &OnceLock<Box<RawValue>>,
) -> Result<(), String> {
    let child = match slot.as_ref().filter(|c| c.is_alive()) {
        Some(child) => child.clone(),
        None => {
            let (child, result) = handshake::spawn_initialized(spec, spec.start_timeout).await?;
            let _ = init.set(result);
            *slot = Some(child.clone());
            child
        }
    };
    let answer = child
        .call(RawValue::NULL, "ping", None, 1, PING_TIMEOUT)
        .await;
    handshake::result_of(&answer).map(|_| ())
}

/// `sidecar healthcheck`: whether `url` answers 200 within `timeout` (for Docker HEALTHCHECK:
/// images have no curl). `Err` when the URL is not valid.
pub fn check(url: &str, timeout: Duration) -> Result<bool, String> {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let uri = url
        .parse::<hyper::Uri>()
        .map_err(|_| format!("invalid url {url:?}"))?;
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Ok(false);
    };
    let healthy = runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
        matches!(
            tokio::time::timeout(timeout, client.get(uri)).await,
            Ok(Ok(response)) if response.status() == hyper::StatusCode::OK
        )
    });
    Ok(healthy)
}
