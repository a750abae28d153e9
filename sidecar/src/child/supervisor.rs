//! The task that owns one child process: it reads stdout frames and routes them, notices exit or a
//! protocol break, kills the process group, reaps the process (no zombies) and fails every pending
//! request.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::child::groups::{Groups, kill_group};
use crate::child::pending::Delivery;
use crate::child::state::State;
use crate::metrics::Metrics;
use crate::protocol::framing::{FrameError, LineCodec};
use crate::protocol::jsonrpc::{self, Envelope, Kind, RpcError};

/// Kills the group if the supervisor is dropped without finishing (runtime shutdown).
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

pub struct Supervisor {
    pub state: Arc<State>,
    /// For answering server-to-client requests nobody can take.
    pub stdin: mpsc::Sender<Bytes>,
    pub kill: CancellationToken,
    pub gone: CancellationToken,
    pub metrics: Arc<Metrics>,
    pub groups: Arc<Groups>,
}

impl Supervisor {
    pub async fn run(
        self,
        mut proc: tokio::process::Child,
        mut frames: FramedRead<tokio::process::ChildStdout, LineCodec>,
    ) {
        let pid = self.state.pid;
        let _guard = GroupGuard(pid);
        let mut exited = false;
        let (reason, unasked) = loop {
            tokio::select! {
                biased;
                _ = self.kill.cancelled() => break ("mcp server stopped by the sidecar", false),
                frame = frames.next() => match frame {
                    Some(Ok(line)) => if !dispatch(&self.state, &line, &self.stdin) {
                        // MCP spec "Transports" > "stdio": the server MUST NOT write anything
                        // to stdout that is not a valid MCP message.
                        break ("mcp server broke the protocol: stdout line is not JSON-RPC", true);
                    },
                    Some(Err(FrameError::LineTooLong(max))) => {
                        tracing::warn!(mcp.session.id = self.state.label(), child.pid = pid, max,
                            "child broke the protocol: stdout line too long");
                        break ("mcp server broke the protocol: stdout line too long", true);
                    }
                    Some(Err(FrameError::Io(e))) => {
                        tracing::warn!(mcp.session.id = self.state.label(), child.pid = pid,
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
        self.state.peer.close(reason);
        if let Some(unsolicited) = self.state.unsolicited() {
            unsolicited.closed();
        }
        self.metrics.children_alive.fetch_sub(1, Ordering::Relaxed);
        if unasked {
            self.metrics.child_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(mcp.session.id = self.state.label(), child.pid = pid,
                status = ?status.ok(), reason, "child gone");
        } else {
            tracing::debug!(
                mcp.session.id = self.state.label(),
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
fn dispatch(state: &State, line: &Bytes, stdin: &mpsc::Sender<Bytes>) -> bool {
    let Ok(env) = std::str::from_utf8(line)
        .map_err(|_| ())
        .and_then(|t| Envelope::parse(t).map_err(|_| ()))
    else {
        tracing::warn!(
            mcp.session.id = state.label(),
            child.pid = state.pid,
            bytes = line.len(),
            "child printed a line that is not JSON"
        );
        return false;
    };
    let peer = &state.peer;
    let target = match env.kind() {
        Kind::Response => {
            match env.id.and_then(jsonrpc::own_id) {
                Some(own) if peer.complete(own, env.result, env.error) => {}
                _ => tracing::debug!(child.pid = state.pid, "response nobody waits for dropped"),
            }
            return true;
        }
        Kind::Notification if env.method() == "notifications/progress" => {
            jsonrpc::progress_token(env.params).and_then(|t| peer.progress_target(&t))
        }
        Kind::Request => peer.server_request_target(env.method()),
        Kind::Notification => None,
        Kind::Invalid => {
            tracing::warn!(
                mcp.session.id = state.label(),
                child.pid = state.pid,
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
        let taken = state.unsolicited().is_some_and(|u| u.deliver(line));
        match (taken, env.kind(), env.id) {
            (true, _, _) => {}
            // A request must be answered, or the child waits for ever (MCP spec "Base Protocol":
            // requests MUST get a response).
            (false, Kind::Request, Some(id)) => {
                let refusal = RpcError::new(
                    jsonrpc::METHOD_NOT_FOUND,
                    format!(
                        "{}: no client request in progress can answer this request",
                        env.method()
                    ),
                );
                let _ = stdin.try_send(refusal.response_line(id));
            }
            _ => tracing::debug!(child.pid = state.pid, "message nobody takes dropped"),
        }
    }
    true
}
