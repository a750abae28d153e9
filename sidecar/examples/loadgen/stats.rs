//! Latency and error accounting. Latencies are kept exactly (a sorted `Vec` of microseconds: a run
//! of a few seconds yields at most a few hundred thousand samples, so a histogram crate would buy
//! nothing but a dependency).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::session::Framing;

/// Error samples kept per run, enough to see what went wrong without flooding the report.
const ERROR_SAMPLES: usize = 3;

#[derive(Default)]
pub struct Recorder {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    samples: Vec<String>,
    framings: BTreeMap<Framing, u64>,
}

impl Recorder {
    pub fn ok(&mut self, latency: Duration, framing: Framing) {
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.push(micros);
        *self.framings.entry(framing).or_default() += 1;
    }

    pub fn error(&mut self, error: &Error) {
        *self.errors.entry(error.class()).or_default() += 1;
        if self.samples.len() < ERROR_SAMPLES {
            self.samples.push(error.to_string());
        }
    }

    pub fn merge(&mut self, other: Recorder) {
        self.latencies_us.extend(other.latencies_us);
        for (class, n) in other.errors {
            *self.errors.entry(class).or_default() += n;
        }
        for sample in other.samples {
            if self.samples.len() < ERROR_SAMPLES {
                self.samples.push(sample);
            }
        }
        for (framing, n) in other.framings {
            *self.framings.entry(framing).or_default() += n;
        }
    }

    /// Summary of everything recorded over `elapsed`.
    pub fn summary(mut self, elapsed: Duration) -> Summary {
        self.latencies_us.sort_unstable();
        let ok = self.latencies_us.len() as u64;
        let errors: u64 = self.errors.values().sum();
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        Summary {
            requests: ok + errors,
            ok,
            errors,
            rps: round1(ok as f64 / secs),
            p50_ms: percentile_ms(&self.latencies_us, 0.50),
            p99_ms: percentile_ms(&self.latencies_us, 0.99),
            max_ms: percentile_ms(&self.latencies_us, 1.0),
            error_classes: self.errors,
            error_samples: self.samples,
            framings: self.framings,
            seconds: round1(secs),
        }
    }
}

#[derive(Serialize)]
pub struct Summary {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    /// Successful, checked requests per second.
    pub rps: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub error_classes: BTreeMap<String, u64>,
    pub error_samples: Vec<String>,
    pub framings: BTreeMap<Framing, u64>,
    pub seconds: f64,
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], q: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    sorted_us
        .get(index)
        .map(|&us| (f64::from(us) / 1000.0 * 1000.0).round() / 1000.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&samples, 0.50), Some(50.0));
        assert_eq!(percentile_ms(&samples, 0.99), Some(99.0));
        assert_eq!(percentile_ms(&samples, 1.0), Some(100.0));
        assert_eq!(percentile_ms(&[], 0.5), None);
    }
}
