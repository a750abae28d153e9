//! What a soak run counts, per kind of client: checked answers with their latency and framing,
//! errors by class, and recoveries (a session re-initialized after 404, a stream resumed with
//! `Last-Event-ID`, a standalone stream re-opened). Errors split into *defined* ones (a status
//! code, a JSON-RPC error, a refused or cut connection while a service restarts: what a client is
//! told and can act on) and *failures* (a request that hung past its deadline, an answer to the
//! wrong request or twice, a wrong or unreadable answer, an unexpected status).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::Error;
use crate::session::Framing;
use crate::stats::percentile_ms;

const SAMPLES: usize = 5;

/// Whether an error is one a client is told about and recovers from by retrying or
/// re-initializing (MCP basic/transports "Session Management": 404 means start a new session).
pub fn is_defined(error: &Error) -> bool {
    match error {
        Error::Status { status, .. } => matches!(status, 404 | 409 | 429 | 502 | 503 | 504),
        Error::Connect(_) | Error::StreamCut(_) | Error::JsonRpc(_) => true,
        _ => false,
    }
}

/// `HH:MM:SS.mmm` of a wall-clock time, UTC (the soak driver logs its faults on the same clock).
fn clock(at: SystemTime) -> String {
    let ms = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        ms % 1000
    )
}

#[derive(Clone, Default)]
pub struct Tally {
    latencies_us: Vec<u32>,
    framings: BTreeMap<Framing, u64>,
    errors: BTreeMap<String, u64>,
    failures: BTreeMap<String, u64>,
    samples: Vec<String>,
    recoveries: BTreeMap<&'static str, u64>,
    /// Server messages received on standalone streams.
    standalone_events: u64,
    /// Workers whose last request before the end failed (did not recover).
    unrecovered: u64,
    workers: u64,
}

impl Tally {
    pub fn ok(&mut self, latency: Duration, framing: Framing) {
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        *self.framings.entry(framing).or_default() += 1;
    }

    /// Counts `error` of a request sent at `sent` (wall clock, so that a failure sample can be laid
    /// next to the soak driver's fault log); returns whether it is a defined one.
    pub fn error(&mut self, error: &Error, sent: SystemTime) -> bool {
        let defined = is_defined(error);
        let bucket = if defined {
            &mut self.errors
        } else {
            &mut self.failures
        };
        *bucket.entry(error.class()).or_default() += 1;
        if !defined && self.samples.len() < SAMPLES {
            self.samples.push(format!(
                "sent {} UTC, failed after {:.1} s: {error}",
                clock(sent),
                sent.elapsed().unwrap_or_default().as_secs_f64()
            ));
        }
        defined
    }

    pub fn recovered(&mut self, how: &'static str) {
        *self.recoveries.entry(how).or_default() += 1;
    }

    pub fn streamed(&mut self, events: u64) {
        self.standalone_events += events;
    }

    /// One worker ended; `last_ok`: its last request succeeded.
    pub fn worker_done(&mut self, last_ok: bool) {
        self.workers += 1;
        if !last_ok {
            self.unrecovered += 1;
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (k, n) in other.framings {
            *self.framings.entry(k).or_default() += n;
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        for (k, n) in other.failures {
            *self.failures.entry(k).or_default() += n;
        }
        for (k, n) in other.recoveries {
            *self.recoveries.entry(k).or_default() += n;
        }
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
        self.standalone_events += other.standalone_events;
        self.unrecovered += other.unrecovered;
        self.workers += other.workers;
    }

    pub fn summary(mut self) -> Summary {
        self.latencies_us.sort_unstable();
        let ok = self.latencies_us.len() as u64;
        let errors = self.errors.values().sum::<u64>();
        let failures = self.failures.values().sum::<u64>();
        Summary {
            requests: ok + errors + failures,
            ok,
            p50_ms: percentile_ms(&self.latencies_us, 0.50),
            p99_ms: percentile_ms(&self.latencies_us, 0.99),
            max_ms: percentile_ms(&self.latencies_us, 1.0),
            framings: self.framings,
            defined_errors: self.errors,
            failures: self.failures,
            failure_samples: self.samples,
            recoveries: self.recoveries,
            standalone_events: self.standalone_events,
            workers: self.workers,
            unrecovered_workers: self.unrecovered,
        }
    }
}

#[derive(Serialize)]
pub struct Summary {
    pub requests: u64,
    pub ok: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub framings: BTreeMap<Framing, u64>,
    pub defined_errors: BTreeMap<String, u64>,
    pub failures: BTreeMap<String, u64>,
    pub failure_samples: Vec<String>,
    pub recoveries: BTreeMap<&'static str, u64>,
    pub standalone_events: u64,
    pub workers: u64,
    pub unrecovered_workers: u64,
}

impl Summary {
    /// The pass criteria of one kind of client: answers came back, no failure, every worker
    /// ended on a good answer.
    pub fn problems(&self, kind: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.ok == 0 {
            out.push(format!("{kind}: no request answered"));
        }
        if !self.failures.is_empty() {
            out.push(format!(
                "{kind}: failures {:?}, e.g. {:?}",
                self.failures, self.failure_samples
            ));
        }
        if self.unrecovered_workers > 0 {
            out.push(format!(
                "{kind}: {} of {} workers did not recover by the end",
                self.unrecovered_workers, self.workers
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hangs_and_wrong_answers_fail_while_restarts_are_defined() {
        let mut tally = Tally::default();
        assert!(tally.error(
            &Error::Status {
                status: 404,
                body: String::new()
            },
            SystemTime::now()
        ));
        assert!(tally.error(&Error::Connect("refused".into()), SystemTime::now()));
        assert!(!tally.error(&Error::Timeout(Duration::from_secs(1)), SystemTime::now()));
        assert!(!tally.error(&Error::Duplicate(3), SystemTime::now()));
        assert!(!tally.error(
            &Error::Status {
                status: 401,
                body: String::new()
            },
            SystemTime::now()
        ));
        tally.ok(Duration::from_millis(2), Framing::Json);
        tally.worker_done(true);
        let summary = tally.summary();
        assert_eq!((summary.requests, summary.ok), (6, 1));
        assert_eq!(summary.failures.len(), 3);
        assert_eq!(summary.problems("json").len(), 1);
    }
}
