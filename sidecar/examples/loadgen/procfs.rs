//! Memory and CPU of a process tree, read from Linux `/proc` (proc(5): `stat` for the parent pid
//! and CPU ticks, `status` for `VmRSS`).

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Error;

/// Resident memory of a process tree.
#[derive(Serialize)]
pub struct TreeRss {
    /// Processes in the tree, the root included.
    pub processes: usize,
    /// RSS of the root (the bridge itself), KiB.
    pub root_kib: u64,
    /// RSS of the root and all its descendants, KiB.
    pub tree_kib: u64,
}

struct Stat {
    ppid: u32,
    cpu_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = text
        .get(text.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        ppid: u32::try_from(number(1)?).ok()?,
        cpu_ticks: number(11)? + number(12)?,
    })
}

fn rss_kib(pid: u32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    text.lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// Whether `pid` runs: it exists and is not a zombie (exited, not yet reaped by its parent).
pub fn is_running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|text| {
        text.rfind(')')
            .and_then(|end| text.get(end + 1..))
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Every live descendant of `root` (not `root` itself).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(stat) = stat(pid) {
                children.entry(stat.ppid).or_default().push(pid);
            }
        }
    }
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            found.push(child);
            stack.push(child);
        }
    }
    found
}

pub fn tree_rss(root: u32) -> TreeRss {
    let below = descendants(root);
    let root_kib = rss_kib(root);
    TreeRss {
        processes: below.len() + 1,
        root_kib,
        tree_kib: root_kib + below.iter().map(|&pid| rss_kib(pid)).sum::<u64>(),
    }
}

/// CPU time (user + system, in clock ticks of 10 ms) of `root` alone and of its descendants.
pub fn tree_cpu_ticks(root: u32) -> (u64, u64) {
    let own = stat(root).map_or(0, |s| s.cpu_ticks);
    let below = descendants(root)
        .iter()
        .filter_map(|&pid| stat(pid))
        .map(|s| s.cpu_ticks)
        .sum();
    (own, below)
}

/// Sum of the RSS of `pids`, KiB (the stdio lower bound has no bridge: only its servers count).
pub fn sum_rss(pids: &[u32]) -> u64 {
    pids.iter().map(|&pid| rss_kib(pid)).sum()
}

/// Waits until `root` has at least `min` descendants and their CPU time stopped growing between
/// two polls: spawned children that finished starting up (a filled warm pool). Bounded by `limit`.
pub async fn wait_settled(root: u32, min: usize, limit: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + limit;
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    let mut last: Option<u64> = None;
    loop {
        interval.tick().await;
        let below = descendants(root);
        let ticks: u64 = below
            .iter()
            .filter_map(|&pid| stat(pid))
            .map(|s| s.cpu_ticks)
            .sum();
        if below.len() >= min && last == Some(ticks) {
            return Ok(());
        }
        last = (below.len() >= min).then_some(ticks);
        if Instant::now() >= deadline {
            return Err(Error::Timeout(limit));
        }
    }
}
