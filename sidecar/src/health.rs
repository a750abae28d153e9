//! `/health`: backed by a background probe that sends a real MCP request (`ping`, MCP spec
//! "Utilities" > "Ping") to a child the sidecar initialized itself, every
//! `SIDECAR_PROBE_INTERVAL_SECS`. A health request only reads the last result; it never spawns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use serde_json::value::RawValue;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::child::{Child, ChildSpec};
use crate::clock;
use crate::jsonrpc::{self, Envelope};

/// Time a fresh probe child gets to start and answer `initialize`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
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
}

impl Health {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
        }
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
            let result = probe(&mut child, &spec).await;
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

/// Checks that a response is a result, not an error.
fn expect_result(response: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(response).map_err(|e| e.to_string())?;
    let env = Envelope::parse(text).map_err(|e| e.to_string())?;
    match (env.result, env.error) {
        (Some(_), _) => Ok(()),
        (None, Some(error)) => Err(error.get().to_owned()),
        (None, None) => Err("empty response".to_owned()),
    }
}

async fn probe(slot: &mut Option<Arc<Child>>, spec: &ChildSpec) -> Result<(), String> {
    let id = RawValue::from_string("\"sidecar-probe\"".to_owned()).map_err(|e| e.to_string())?;
    let child = match slot.as_ref().filter(|c| c.is_alive()) {
        Some(child) => child.clone(),
        None => {
            let child = Child::spawn(spec).map_err(|e| format!("spawn failed: {e}"))?;
            let params = json!({
                "protocolVersion": crate::version::LEGACY[2],
                "capabilities": {},
                "clientInfo": { "name": "sidecar-probe", "version": env!("CARGO_PKG_VERSION") },
            });
            let params = RawValue::from_string(params.to_string()).map_err(|e| e.to_string())?;
            let init = child
                .call(&id, "initialize", Some(&params), 1, START_TIMEOUT)
                .await;
            expect_result(&init)?;
            child
                .send(jsonrpc::notification_line(
                    "notifications/initialized",
                    None,
                ))
                .await;
            *slot = Some(child.clone());
            child
        }
    };
    expect_result(&child.call(&id, "ping", None, 1, PING_TIMEOUT).await)
}
