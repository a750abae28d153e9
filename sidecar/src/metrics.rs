//! Prometheus metrics (text exposition format 0.0.4), kept in fixed arrays of atomics: labels come
//! from closed lists, so recording is lock-free and a client cannot grow the label space.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `method` label values: MCP methods we know, then the kinds of message without one.
const METHODS: [&str; 22] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
    "notification",
    "response",
    "batch",
    "stream",
    "delete",
    "forwarded",
    "other",
];
const STATUSES: [u16; 16] = [
    200, 202, 204, 400, 403, 404, 405, 406, 409, 413, 415, 429, 500, 502, 503, 0,
];
/// Latency histogram bucket bounds in microseconds.
const BUCKETS_US: [u64; 14] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000, 2_500_000,
    10_000_000, 60_000_000,
];

/// Index of a `method` label.
pub fn method_label(method: &str) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

pub const NOTIFICATION: &str = "notification";
pub const RESPONSE: &str = "response";
pub const BATCH: &str = "batch";
pub const STREAM: &str = "stream";
pub const DELETE: &str = "delete";
/// A request sent on to the replica that owns its session.
pub const FORWARDED: &str = "forwarded";

/// Gauges of state kept outside the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub sessions: usize,
    pub stateless_users: usize,
    pub held_calls: usize,
}

/// All counters of the process.
pub struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; METHODS.len()],
    buckets: [AtomicU64; BUCKETS_US.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    pub children_alive: AtomicU64,
    pub children_spawned: AtomicU64,
    /// Children that exited or broke the protocol without being told to stop.
    pub child_failures: AtomicU64,
    pub sessions_created: AtomicU64,
    pub request_timeouts: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            children_alive: AtomicU64::new(0),
            children_spawned: AtomicU64::new(0),
            child_failures: AtomicU64::new(0),
            sessions_created: AtomicU64::new(0),
            request_timeouts: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Records one answered MCP endpoint request (latency up to the response head).
    pub fn record(&self, method: usize, status: u16, elapsed: Duration) {
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.requests[method.min(METHODS.len() - 1)][s].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(b) = BUCKETS_US.iter().position(|bound| us <= *bound) {
            self.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The exposition text; the gauges of state kept elsewhere are read by the caller.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "sidecar_sessions",
            "Open MCP sessions.",
            "gauge",
            gauges.sessions as u64,
        );
        gauge(
            &mut out,
            "sidecar_stateless_users",
            "Users with stateless children of their own (isolated mode).",
            "gauge",
            gauges.stateless_users as u64,
        );
        gauge(
            &mut out,
            "sidecar_held_calls",
            "Calls held while stateless clients gather input (multi-round-trip requests).",
            "gauge",
            gauges.held_calls as u64,
        );
        gauge(
            &mut out,
            "sidecar_children",
            "Live child processes (sessions, warm pool, probe).",
            "gauge",
            get(&self.children_alive),
        );
        gauge(
            &mut out,
            "sidecar_children_spawned_total",
            "Child processes started.",
            "counter",
            get(&self.children_spawned),
        );
        gauge(
            &mut out,
            "sidecar_child_restarts_total",
            "Children that exited or broke the protocol unasked (and were replaced on demand).",
            "counter",
            get(&self.child_failures),
        );
        gauge(
            &mut out,
            "sidecar_sessions_created_total",
            "Sessions started by initialize.",
            "counter",
            get(&self.sessions_created),
        );
        gauge(
            &mut out,
            "sidecar_request_timeouts_total",
            "Requests the child did not answer in time.",
            "counter",
            get(&self.request_timeouts),
        );
        out.push_str("# HELP sidecar_requests_total MCP endpoint requests by method and status.\n");
        out.push_str("# TYPE sidecar_requests_total counter\n");
        for (m, row) in self.requests.iter().enumerate() {
            for (s, count) in row.iter().enumerate() {
                let n = get(count);
                if n > 0 {
                    let status = match STATUSES[s] {
                        0 => "other".to_owned(),
                        code => code.to_string(),
                    };
                    let _ = writeln!(
                        out,
                        "sidecar_requests_total{{method=\"{}\",status=\"{status}\"}} {n}",
                        METHODS[m]
                    );
                }
            }
        }
        out.push_str("# HELP sidecar_request_duration_seconds Time to the response head.\n");
        out.push_str("# TYPE sidecar_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (b, bound) in BUCKETS_US.iter().enumerate() {
            cumulative += get(&self.buckets[b]);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "sidecar_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let count = get(&self.latency_count);
        let sum = get(&self.latency_sum_us) as f64 / 1e6;
        let _ = writeln!(
            out,
            "sidecar_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             sidecar_request_duration_seconds_sum {sum}\n\
             sidecar_request_duration_seconds_count {count}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.record(method_label("tools/call"), 200, Duration::from_micros(300));
        m.record(method_label("made/up"), 418, Duration::from_secs(100));
        let text = m.render(Gauges {
            sessions: 3,
            stateless_users: 2,
            held_calls: 1,
        });
        assert!(text.contains("sidecar_sessions 3"));
        assert!(text.contains("sidecar_stateless_users 2"));
        assert!(text.contains("sidecar_held_calls 1"));
        assert!(text.contains(r#"sidecar_requests_total{method="tools/call",status="200"} 1"#));
        assert!(text.contains(r#"sidecar_requests_total{method="other",status="other"} 1"#));
        assert!(text.contains(r#"sidecar_request_duration_seconds_bucket{le="0.0005"} 1"#));
        assert!(text.contains(r#"sidecar_request_duration_seconds_bucket{le="+Inf"} 2"#));
    }
}
