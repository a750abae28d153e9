//! `loadgen soak`: mixed, checked load on several MCP endpoints at once for a fixed time, while
//! something else (scripts/soak.py) injects faults into the stack serving them. Every request ends
//! in its checked answer or a defined error within its deadline; the run fails on any other
//! outcome, on a kind of client that never got an answer, and on a worker whose last request
//! failed (it did not recover). Prints one JSON summary.

mod malformed;
mod stream;
mod tally;
mod worker;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::error::Error;
use crate::http::Endpoint;
use crate::session::Target;
use crate::workload::Tool;
use tally::Tally;
use worker::Kind;

pub use malformed::burst;

/// Protocol revision of the legacy sessions: 2025-11-25 streams start with a priming event, so
/// every stream can be resumed.
const LEGACY_VERSION: &str = "2025-11-25";

/// What to run, written by the driver (JSON).
#[derive(Deserialize)]
pub struct Plan {
    pub secs: f64,
    pub request_timeout_secs: u64,
    pub targets: Vec<PlanTarget>,
}

#[derive(Deserialize)]
pub struct PlanTarget {
    pub name: String,
    pub url: String,
    pub tool: Tool,
    /// Bearer token for this endpoint (its audience).
    pub token: String,
    /// Workers per kind of client.
    pub workers: BTreeMap<Kind, usize>,
}

impl Plan {
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Runs the plan; writes the summary to `out` and fails if any pass criterion is not met.
pub async fn run(plan: &Plan, out: &Path) -> Result<(), Error> {
    let until = Instant::now() + Duration::from_secs_f64(plan.secs);
    let timeout = Duration::from_secs(plan.request_timeout_secs);
    let mut tasks = Vec::new();
    for spec in &plan.targets {
        let endpoint = Endpoint::new(&spec.url, timeout)?.with_token(spec.token.clone());
        let endpoint = Arc::new(endpoint);
        let sessions = Arc::new(Target::sessions(
            &spec.name,
            spec.tool,
            Arc::clone(&endpoint),
            LEGACY_VERSION,
        ));
        let stateless = Arc::new(Target::stateless_on(&spec.name, spec.tool, endpoint));
        for (&kind, &count) in &spec.workers {
            let target = if kind == Kind::Stateless {
                &stateless
            } else {
                &sessions
            };
            for _ in 0..count {
                let task = tokio::spawn(worker::run(kind, Arc::clone(target), until));
                tasks.push((spec.name.clone(), kind, task));
            }
        }
    }
    let mut by_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut totals = Tally::default();
    for (name, kind, task) in tasks {
        let tally = task.await.map_err(|e| Error::Child(e.to_string()))?;
        let key = format!("{name}/{}", kind.name());
        totals.merge(tally.clone());
        by_kind.entry(key).or_default().merge(tally);
    }
    let mut problems = Vec::new();
    let mut kinds = serde_json::Map::new();
    for (key, tally) in by_kind {
        let summary = tally.summary();
        problems.extend(summary.problems(&key));
        kinds.insert(key, serde_json::to_value(summary)?);
    }
    let report = json!({"secs": plan.secs, "pass": problems.is_empty(), "problems": problems,
        "total": totals.summary(), "kinds": kinds});
    std::fs::write(out, serde_json::to_vec_pretty(&report)?)?;
    println!("{}", serde_json::to_string(&report["total"])?);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(problems.join("; ")))
    }
}
