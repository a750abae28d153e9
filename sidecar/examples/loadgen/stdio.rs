//! The lower bound: the server driven directly over stdio (MCP 2025-06-18 basic/transports "stdio":
//! newline-delimited JSON-RPC on stdin/stdout). Concurrent requests share the one pipe and are
//! matched to their callers by id, as a bridge must do.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// One server process and the tasks that write its stdin and route its stdout.
pub struct StdioChild {
    lines: mpsc::UnboundedSender<Vec<u8>>,
    waiters: Waiters,
    child: tokio::sync::Mutex<Child>,
    timeout: Duration,
}

impl StdioChild {
    pub fn spawn(command: &[String], timeout: Duration) -> Result<Self, Error> {
        let (program, args) = command
            .split_first()
            .ok_or_else(|| Error::Usage("empty stdio command".into()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::Child("no stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Child("no stdout".into()))?;
        let waiters: Waiters = Arc::default();
        let (lines, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_lines(stdin, queue));
        tokio::spawn(route_answers(stdout, Arc::clone(&waiters)));
        Ok(Self {
            lines,
            waiters,
            child: tokio::sync::Mutex::new(child),
            timeout,
        })
    }

    pub async fn pid(&self) -> Option<u32> {
        self.child.lock().await.id()
    }

    /// Sends request `id` and waits for the message that answers it.
    pub async fn request(&self, message: &Value, id: u64) -> Result<Value, Error> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        if let Err(e) = self.notify(message) {
            self.forget(id);
            return Err(e);
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(Error::Child("stdout closed before the answer".into())),
            Err(_) => {
                self.forget(id);
                Err(Error::Timeout(self.timeout))
            }
        }
    }

    /// Sends a message without waiting for anything.
    pub fn notify(&self, message: &Value) -> Result<(), Error> {
        let mut line = serde_json::to_vec(message)?;
        line.push(b'\n');
        self.lines
            .send(line)
            .map_err(|_| Error::Child("stdin closed".into()))
    }

    fn forget(&self, id: u64) {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Kills the process and reaps it.
    pub async fn close(&self) {
        let mut child = self.child.lock().await;
        let _ = child.kill().await;
    }
}

/// Writes queued lines, flushing only when the queue is empty so that bursts share one write.
async fn write_lines(stdin: ChildStdin, mut queue: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut stdin = BufWriter::new(stdin);
    while let Some(line) = queue.recv().await {
        if stdin.write_all(&line).await.is_err() {
            return;
        }
        while let Ok(line) = queue.try_recv() {
            if stdin.write_all(&line).await.is_err() {
                return;
            }
        }
        if stdin.flush().await.is_err() {
            return;
        }
    }
}

/// Hands each response to the caller waiting for its id; ignores notifications and anything it
/// cannot parse. On EOF every waiter is dropped, so callers see the child's end at once.
async fn route_answers(stdout: tokio::process::ChildStdout, waiters: Waiters) {
    let mut stdout = BufReader::with_capacity(1 << 16, stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdout.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if message.get("method").is_some() {
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let waiter = waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(message);
        }
    }
    waiters
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}
