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
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde_json::value::RawValue;
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::framing::{FrameError, LineCodec};
use crate::groups::{Groups, kill_group};
use crate::jsonrpc::{self, Envelope, Kind};
use crate::metrics::Metrics;
use crate::pending::{Delivery, Peer, Refused};
use crate::sse::SseStream;
use crate::stderr;

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
    pub metrics: Arc<Metrics>,
    /// Variables of the sidecar's own environment the child must not inherit (those from `.env`).
    pub hidden_env: Vec<OsString>,
    /// Where every started process group is registered until reaped.
    pub groups: Arc<Groups>,
}

/// State shared by the handle and the child's tasks.
pub struct Shared {
    pub pid: u32,
    pub peer: Peer,
    /// Session id, for logs (set when a pooled child joins a session).
    label: OnceLock<String>,
    /// Where unsolicited messages go: the session's standalone stream.
    unsolicited: OnceLock<Arc<SseStream>>,
}

impl Shared {
    pub fn label(&self) -> &str {
        self.label.get().map(String::as_str).unwrap_or("")
    }
}

/// Handle of a running child; the child is killed when the last handle is dropped.
pub struct Child {
    pub shared: Arc<Shared>,
    stdin: mpsc::Sender<Bytes>,
    kill: CancellationToken,
    gone: CancellationToken,
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill.cancel();
    }
}

/// Kills the group if the supervisor is dropped without finishing (runtime shutdown).
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0);
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
        let shared = Arc::new(Shared {
            pid,
            peer: Peer::default(),
            label: OnceLock::new(),
            unsolicited: OnceLock::new(),
        });
        let (tx, rx) = mpsc::channel(STDIN_QUEUE);
        let kill = CancellationToken::new();
        let gone = CancellationToken::new();
        tokio::spawn(write_stdin(stdin, rx));
        tokio::spawn(stderr::drain(stderr, shared.clone()));
        let frames =
            FramedRead::with_capacity(stdout, LineCodec::new(spec.max_line_bytes), STDOUT_BUFFER);
        let supervisor = Supervisor {
            shared: shared.clone(),
            kill: kill.clone(),
            gone: gone.clone(),
            metrics: spec.metrics.clone(),
            groups: spec.groups.clone(),
        };
        tokio::spawn(supervisor.run(proc, frames));
        tracing::debug!(child.pid = pid, "child spawned");
        Ok(Arc::new(Child {
            shared,
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

    /// Joins a session: names it in logs and sends its unsolicited messages to `standalone`.
    pub fn attach(&self, session_id: &str, standalone: Arc<SseStream>) {
        let _ = self.shared.label.set(session_id.to_owned());
        let _ = self.shared.unsolicited.set(standalone);
    }

    pub fn peer(&self) -> &Peer {
        &self.shared.peer
    }

    pub fn is_alive(&self) -> bool {
        !self.gone.is_cancelled() && !self.shared.peer.is_closed()
    }

    /// Writes one newline-terminated message to stdin; false when the child is gone.
    pub async fn send(&self, line: Bytes) -> bool {
        self.stdin.send(line).await.is_ok()
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
            Err(refused) => return refusal(client_id, refused),
        };
        if !self.send(jsonrpc::request_line(own, method, params)).await {
            self.peer()
                .fail(own, jsonrpc::SERVER_GONE, "mcp server exited");
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Delivery::Response { body, .. })) => return body,
                Ok(Some(Delivery::Message(_))) => {}
                Ok(None) => return refusal(client_id, Refused::Gone("mcp server exited")),
                Err(_) => {
                    self.time_out(own);
                    // The timeout error, or the answer that raced it.
                    while let Ok(delivery) = rx.try_recv() {
                        if let Delivery::Response { body, .. } = delivery {
                            return body;
                        }
                    }
                    return refusal(client_id, Refused::Gone("mcp server exited"));
                }
            }
        }
    }

    /// Gives up on request `own`: answers its waiter with a timeout error and tells the child
    /// (MCP spec "Utilities" > "Cancellation"). False if it was answered meanwhile.
    pub fn time_out(&self, own: u64) -> bool {
        let failed = self.peer().fail(
            own,
            jsonrpc::REQUEST_TIMEOUT,
            "mcp server did not answer in time",
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

/// The JSON-RPC error response for a request the peer refused.
pub fn refusal(client_id: &RawValue, refused: Refused) -> Bytes {
    match refused {
        Refused::Busy => jsonrpc::error_response(
            Some(client_id),
            jsonrpc::OVERLOADED,
            "too many requests in flight in this session (SIDECAR_MAX_CONCURRENT_REQUESTS)",
            None,
        ),
        Refused::Gone(reason) => {
            jsonrpc::error_response(Some(client_id), jsonrpc::SERVER_GONE, reason, None)
        }
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

struct Supervisor {
    shared: Arc<Shared>,
    kill: CancellationToken,
    gone: CancellationToken,
    metrics: Arc<Metrics>,
    groups: Arc<Groups>,
}

impl Supervisor {
    async fn run(
        self,
        mut proc: tokio::process::Child,
        mut frames: FramedRead<tokio::process::ChildStdout, LineCodec>,
    ) {
        let pid = self.shared.pid;
        let _guard = GroupGuard(pid);
        let mut exited = false;
        let (reason, unasked) = loop {
            tokio::select! {
                biased;
                _ = self.kill.cancelled() => break ("mcp server stopped by the sidecar", false),
                frame = frames.next() => match frame {
                    Some(Ok(line)) => if !dispatch(&self.shared, &line) {
                        // MCP spec "Transports" > "stdio": the server MUST NOT write anything
                        // to stdout that is not a valid MCP message.
                        break ("mcp server broke the protocol: stdout line is not JSON-RPC", true);
                    },
                    Some(Err(FrameError::LineTooLong(max))) => {
                        tracing::warn!(mcp.session.id = self.shared.label(), child.pid = pid, max,
                            "child broke the protocol: stdout line too long");
                        break ("mcp server broke the protocol: stdout line too long", true);
                    }
                    Some(Err(FrameError::Io(e))) => {
                        tracing::warn!(mcp.session.id = self.shared.label(), child.pid = pid,
                            error = %e, "reading child stdout failed");
                        break ("mcp server stdout failed", true);
                    }
                    None => break ("mcp server exited", true),
                },
                status = proc.wait(), if !exited => {
                    exited = true;
                    tracing::debug!(child.pid = pid, status = ?status.ok(), "child exited");
                    // Descendants may still hold stdout open; they go with the group. What the
                    // child wrote before exiting is still read until end of file.
                    kill_group(pid);
                }
            }
        };
        kill_group(pid);
        let status = proc.wait().await;
        if status.is_ok() {
            self.groups.reaped(pid);
        }
        self.shared.peer.close(reason);
        if let Some(stream) = self.shared.unsolicited.get() {
            // Ends an open GET stream: the session is over (next request gets 404).
            stream.finish();
        }
        self.metrics.children_alive.fetch_sub(1, Ordering::Relaxed);
        if unasked {
            self.metrics.child_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(mcp.session.id = self.shared.label(), child.pid = pid,
                status = ?status.ok(), reason, "child gone");
        } else {
            tracing::debug!(
                mcp.session.id = self.shared.label(),
                child.pid = pid,
                "child stopped"
            );
        }
        self.gone.cancel();
    }
}

/// Routes one stdout message: responses to their waiter, progress to the request that announced
/// the token, server-to-client requests to an SSE exchange, everything else to the standalone
/// stream (MCP spec "Transports" > "Streamable HTTP" > "Listening for Messages from the Server").
/// False when the line is not a JSON-RPC message.
fn dispatch(shared: &Shared, line: &Bytes) -> bool {
    let Ok(env) = std::str::from_utf8(line)
        .map_err(|_| ())
        .and_then(|t| Envelope::parse(t).map_err(|_| ()))
    else {
        tracing::warn!(
            mcp.session.id = shared.label(),
            child.pid = shared.pid,
            bytes = line.len(),
            "child printed a line that is not JSON"
        );
        return false;
    };
    let peer = &shared.peer;
    let target = match env.kind() {
        Kind::Response => {
            match env.id.and_then(jsonrpc::own_id) {
                Some(own) if peer.complete(own, env.result, env.error) => {}
                _ => tracing::debug!(child.pid = shared.pid, "response nobody waits for dropped"),
            }
            return true;
        }
        Kind::Notification if env.method() == "notifications/progress" => {
            jsonrpc::progress_token(env.params).and_then(|t| peer.progress_target(&t))
        }
        Kind::Request => peer.server_request_target(),
        Kind::Notification => None,
        Kind::Invalid => {
            tracing::warn!(
                mcp.session.id = shared.label(),
                child.pid = shared.pid,
                "child sent JSON that is not a JSON-RPC message"
            );
            return false;
        }
    };
    let undelivered = match target {
        Some(tx) => tx.send(Delivery::Message(line.clone())).is_err(),
        None => true,
    };
    if undelivered {
        match shared.unsolicited.get() {
            Some(stream) => stream.push(line),
            None => tracing::debug!(
                child.pid = shared.pid,
                "message from a pooled child dropped"
            ),
        }
    }
    true
}
