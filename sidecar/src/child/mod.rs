//! One stdio MCP server process (MCP spec "Transports" > "stdio").
//!
//! Each child runs in its own process group, so the whole tree it starts (npx -> node, uv ->
//! python) is killed together. One supervisor task owns the process: it reads stdout frames and
//! routes them, notices exit or a protocol break, kills the group, reaps the process (no zombies)
//! and fails every pending request. A writer task owns stdin (one writer, no interleaved lines);
//! another drains stderr into the log so a chatty child never blocks on a full pipe. Dropping the
//! last handle kills the child.

use std::ffi::OsString;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::child::groups::{Groups, kill_group};
use crate::child::pending::{Delivery, Peer, Refused};
use crate::child::state::{State, Unsolicited};
use crate::child::supervisor::Supervisor;
use crate::metrics::Metrics;
use crate::protocol::framing::LineCodec;
use crate::protocol::jsonrpc::{self, RpcError};

pub mod groups;
pub mod handshake;
pub mod pending;
pub mod state;
mod stderr;
mod supervisor;

/// Messages queued towards one child's stdin before senders wait (backpressure on clients).
const STDIN_QUEUE: usize = 1024;
/// Queued messages are joined into one write up to about this many bytes.
const STDIN_BURST: usize = 64 * 1024;
/// Initial size of the stdout read buffer; it grows with longer lines. Most messages are short,
/// and every session holds one.
const STDOUT_BUFFER: usize = 2 * 1024;

/// How children are started.
pub struct ChildSpec {
    pub command: Vec<String>,
    pub max_line_bytes: usize,
    /// `SIDECAR_CHILD_START_TIMEOUT_SECS`: time a fresh child gets to start and answer
    /// `initialize`, wherever it is handshaken (sessions, pools, the health probe).
    pub start_timeout: Duration,
    pub metrics: Arc<Metrics>,
    /// Variables of the sidecar's own environment the child must not inherit (those from `.env`).
    pub hidden_env: Vec<OsString>,
    /// Where every started process group is registered until reaped.
    pub groups: Arc<Groups>,
}

/// Handle of a running child; the child is killed when the last handle is dropped.
pub struct Child {
    pub state: Arc<State>,
    stdin: mpsc::Sender<Bytes>,
    kill: CancellationToken,
    gone: CancellationToken,
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill.cancel();
    }
}

impl Child {
    /// Starts the server; its stdio is wired to the tasks described in the module docs.
    fn spawn(spec: &ChildSpec) -> std::io::Result<Arc<Child>> {
        let (program, args) = spec
            .command
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty command"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        for name in &spec.hidden_env {
            command.env_remove(name);
        }
        let mut proc = spec.groups.spawn(&mut command)?;
        let pid = proc.id().unwrap_or(0);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (proc.stdin.take(), proc.stdout.take(), proc.stderr.take())
        else {
            kill_group(pid);
            return Err(std::io::Error::other("child stdio not captured"));
        };
        spec.metrics
            .children_spawned
            .fetch_add(1, Ordering::Relaxed);
        spec.metrics.children_alive.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(State::new(pid));
        let (tx, rx) = mpsc::channel(STDIN_QUEUE);
        let kill = CancellationToken::new();
        let gone = CancellationToken::new();
        tokio::spawn(write_stdin(stdin, rx));
        tokio::spawn(stderr::drain(stderr, state.clone()));
        let frames =
            FramedRead::with_capacity(stdout, LineCodec::new(spec.max_line_bytes), STDOUT_BUFFER);
        let supervisor = Supervisor {
            state: state.clone(),
            stdin: tx.clone(),
            kill: kill.clone(),
            gone: gone.clone(),
            metrics: spec.metrics.clone(),
            groups: spec.groups.clone(),
        };
        tokio::spawn(supervisor.run(proc, frames));
        tracing::debug!(child.pid = pid, "child spawned");
        Ok(Arc::new(Child {
            state,
            stdin: tx,
            kill,
            gone,
        }))
    }

    /// `spawn` on a blocking-pool thread: fork/exec of a large runtime (node) blocks its thread
    /// for milliseconds, which must not stall the runtime worker serving requests meanwhile.
    pub async fn spawn_off_runtime(spec: Arc<ChildSpec>) -> std::io::Result<Arc<Child>> {
        tokio::task::spawn_blocking(move || Child::spawn(&spec))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Joins a session: names it in logs and sends its unsolicited messages to `unsolicited`.
    pub fn attach(&self, label: &str, unsolicited: Arc<dyn Unsolicited>) {
        self.state.attach(label, unsolicited);
    }

    pub fn peer(&self) -> &Peer {
        &self.state.peer
    }

    pub fn is_alive(&self) -> bool {
        !self.gone.is_cancelled() && !self.state.peer.is_closed()
    }

    /// Writes one newline-terminated message to stdin; false when the child is gone.
    pub async fn send(&self, line: Bytes) -> bool {
        self.stdin.send(line).await.is_ok()
    }

    /// Queues one newline-terminated message without waiting (usable from `Drop`); false when
    /// the queue is full or the child is gone.
    pub fn try_send(&self, line: Bytes) -> bool {
        self.stdin.try_send(line).is_ok()
    }

    /// Stops the child (whole process group); returns once it is reaped, or after `wait`.
    pub async fn stop(&self, wait: Duration) {
        self.kill.cancel();
        let _ = tokio::time::timeout(wait, self.gone.cancelled()).await;
    }

    /// Stops `children` concurrently: one `wait` in all, not one per child.
    pub async fn stop_all(children: &[Arc<Child>], wait: Duration) {
        futures::future::join_all(children.iter().map(|c| c.stop(wait))).await;
    }

    /// One request/response round trip under `client_id`; the answer is always a JSON-RPC
    /// response for the client (an error response when the child is busy, gone or too slow).
    pub async fn call(
        &self,
        client_id: &RawValue,
        method: &str,
        params: Option<&RawValue>,
        limit: usize,
        timeout: Duration,
    ) -> Bytes {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let own = match self.peer().register(0, client_id, &tx, None, limit) {
            Ok(own) => own,
            Err(refused) => return RpcError::from(refused).response(Some(client_id)),
        };
        if !self.send(jsonrpc::request_line(own, method, params)).await {
            self.peer()
                .fail(own, RpcError::server_gone("mcp server exited"));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let gone = RpcError::from(Refused::Gone("mcp server exited"));
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Delivery::Response { body, .. })) => return body,
                Ok(Some(Delivery::Message(_))) => {}
                Ok(None) => return gone.response(Some(client_id)),
                Err(_) => {
                    self.time_out(own);
                    // The timeout error, or the answer that raced it.
                    while let Ok(delivery) = rx.try_recv() {
                        if let Delivery::Response { body, .. } = delivery {
                            return body;
                        }
                    }
                    return gone.response(Some(client_id));
                }
            }
        }
    }

    /// Gives up on request `own`: answers its waiter with a timeout error and tells the child
    /// (MCP spec "Utilities" > "Cancellation"). False if it was answered meanwhile.
    pub fn time_out(&self, own: u64) -> bool {
        let failed = self.peer().fail(
            own,
            RpcError::new(
                jsonrpc::REQUEST_TIMEOUT,
                "mcp server did not answer in time",
            ),
        );
        if failed {
            self.notify_cancelled(own, "request timed out");
        }
        failed
    }

    /// Sends `notifications/cancelled` for `own` without waiting (usable from `Drop`); if stdin's
    /// queue is full the notice is dropped: cancellation is advisory in MCP anyway.
    pub fn notify_cancelled(&self, own: u64, reason: &str) {
        let _ = self.stdin.try_send(jsonrpc::cancelled_line(own, reason));
    }

    /// Asks the supervisor to kill the child, without waiting.
    pub fn kill(&self) {
        self.kill.cancel();
    }
}

async fn write_stdin(mut stdin: ChildStdin, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(first) = rx.recv().await {
        // What queued up behind the first message goes out with it: one syscall for a burst. No
        // buffer is kept between bursts (it would cost every idle session its size).
        let data = match rx.try_recv() {
            Err(_) => first,
            Ok(second) => {
                let mut burst = BytesMut::with_capacity(first.len() + second.len());
                burst.extend_from_slice(&first);
                burst.extend_from_slice(&second);
                while burst.len() < STDIN_BURST
                    && let Ok(next) = rx.try_recv()
                {
                    burst.extend_from_slice(&next);
                }
                burst.freeze()
            }
        };
        if stdin.write_all(&data).await.is_err() {
            return;
        }
    }
}
