//! Every process group the sidecar started and has not reaped yet, in one place. Shutdown closes
//! the registry (no spawn can start after that), SIGKILLs every group at once and reaps the
//! leaders, whatever state the tasks that own them are in: a task abandoned at a timeout or dropped
//! with the runtime must not leave its child behind (issue 2, follow-up item 1).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// How often the last reap looks again for leaders nobody else reaped.
const REAP_POLL: Duration = Duration::from_millis(5);

#[derive(Default)]
pub struct Groups {
    /// True once shutdown began. Spawners hold the read side across spawn + register, so the
    /// final sweep (write side) sees every group that was ever started.
    closed: RwLock<bool>,
    /// Leader pid -> how many registrations (a pid can be reused right after a reap).
    live: Mutex<HashMap<u32, usize>>,
    emptied: Notify,
}

/// Kills a whole process group; it may be gone already.
pub fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

impl Groups {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u32, usize>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns `command` (which must start a new process group) and registers the group; refused
    /// once shutdown began.
    pub fn spawn(&self, command: &mut Command) -> std::io::Result<Child> {
        let closed = self.closed.read().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return Err(std::io::Error::other("the sidecar is shutting down"));
        }
        let child = command.spawn()?;
        if let Some(pid) = child.id() {
            *self.live().entry(pid).or_default() += 1;
        }
        drop(closed);
        Ok(child)
    }

    /// The leader `pid` was reaped: its group is no longer ours to kill.
    pub fn reaped(&self, pid: u32) {
        let mut live = self.live();
        if let Some(count) = live.get_mut(&pid) {
            *count -= 1;
            if *count == 0 {
                live.remove(&pid);
            }
        }
        if live.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    fn pids(&self) -> Vec<u32> {
        self.live().keys().copied().collect()
    }

    /// Shutdown: refuses new spawns, kills every live group at once and waits up to `wait` for
    /// their supervisors to reap the leaders. Returns the leaders still unreaped.
    pub async fn kill_all(&self, wait: Duration) -> Vec<u32> {
        *self.closed.write().unwrap_or_else(|e| e.into_inner()) = true;
        let pids = self.pids();
        pids.iter().copied().for_each(kill_group);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let emptied = self.emptied.notified();
            if self.live().is_empty() || tokio::time::Instant::now() >= deadline {
                break;
            }
            let _ = tokio::time::timeout_at(deadline, emptied).await;
        }
        self.pids()
    }

    /// Last resort once the runtime is gone (its tasks can no longer reap): kills the groups
    /// again and reaps each leader directly, for at most `wait` in all. Returns those left.
    pub fn reap_remaining(&self, wait: Duration) -> Vec<u32> {
        let deadline = Instant::now() + wait;
        let mut left = self.pids();
        left.iter().copied().for_each(kill_group);
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(|&pid| {
                let Ok(raw) = i32::try_from(pid) else {
                    return false;
                };
                // ECHILD: someone reaped it already; StillAlive: look again.
                matches!(
                    waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)),
                    Ok(WaitStatus::StillAlive)
                )
            });
            if !left.is_empty() {
                std::thread::sleep(REAP_POLL);
            }
        }
        left
    }
}
