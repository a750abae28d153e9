//! `sidecar connect` under test as an MCP client runs it: the real binary with piped stdin and
//! stdout, fed JSON-RPC lines and read line by line, every wait bounded.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Upper bound for one answer (children start slowly on a busy machine).
pub const WITHIN: Duration = Duration::from_secs(60);

pub struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    pub dir: PathBuf,
    /// Notifications and requests seen while waiting for a response.
    pub others: Vec<Value>,
}

impl Bridge {
    /// `sidecar connect URL ARGS` with a token file of its own.
    pub fn start(url: &str, args: &[&str]) -> Bridge {
        let dir = std::env::temp_dir().join(format!(
            "connect-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sidecar"))
            .arg("connect")
            .arg(url)
            .arg("--token-file")
            .arg(dir.join("tokens.json"))
            .args(args)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Bridge {
            stdin: child.stdin.take(),
            child,
            lines,
            dir,
            others: Vec::new(),
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).await.unwrap();
        stdin.flush().await.unwrap();
    }

    pub async fn send(&mut self, msg: &Value) {
        let mut line = serde_json::to_vec(msg).unwrap();
        line.push(b'\n');
        self.send_raw(&line).await;
    }

    /// The next line on stdout, as JSON (every line must be one JSON-RPC message).
    pub async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(WITHIN, self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no output within {WITHIN:?}; stderr:\n{}", self.stderr()))
            .unwrap_or_else(|| panic!("stdout closed; stderr:\n{}", self.stderr()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// The response to `id`, keeping what came before it in `others`.
    pub async fn response(&mut self, id: Value) -> Value {
        loop {
            let msg = self.next().await;
            if msg["id"] == id && msg.get("method").is_none() {
                return msg;
            }
            self.others.push(msg);
        }
    }

    pub async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.response(json!(id)).await
    }

    /// `initialize` and `notifications/initialized`.
    pub async fn initialize(&mut self, version: &str) -> Value {
        let init = self
            .request(
                0,
                "initialize",
                json!({"protocolVersion": version,
                       "capabilities": {"sampling": {}, "elicitation": {}},
                       "clientInfo": {"name": "connect-test", "version": "1"}}),
            )
            .await;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        init
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Closes stdin (the client leaves) and waits for the exit.
    pub async fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let status = tokio::time::timeout(WITHIN, self.child.wait())
            .await
            .expect("sidecar connect did not exit after stdin closed")
            .unwrap();
        let stderr = self.stderr();
        (status, stderr)
    }
}

/// Polls `ready` every 100 ms until it holds, for at most `WITHIN`.
pub async fn eventually<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !ready().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP relay in front of the gateway that breaks, once, the first connection whose answer
/// carries `marker`, right after passing that part on: a network failure in the middle of an SSE
/// answer, between two real processes. Its listener is bound before anything learns its port.
pub struct BreakingRelay {
    pub port: u16,
    listener: Option<tokio::net::TcpListener>,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BreakingRelay {
    pub async fn bind() -> BreakingRelay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        BreakingRelay {
            port: listener.local_addr().unwrap().port(),
            listener: Some(listener),
            cut: Default::default(),
        }
    }

    /// Whether a connection was broken.
    pub fn cut(&self) -> bool {
        self.cut.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Relays every connection to `upstream` on loopback.
    pub fn start(&mut self, upstream: u16, marker: &'static [u8]) {
        use std::sync::atomic::Ordering;
        use tokio::io::AsyncReadExt;
        let listener = self.listener.take().unwrap();
        let cut = std::sync::Arc::clone(&self.cut);
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let cut = std::sync::Arc::clone(&cut);
                tokio::spawn(async move {
                    let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let (mut down_read, mut down_write) = down.into_split();
                    let (mut up_read, mut up_write) = up.into_split();
                    let requests = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut down_read, &mut up_write).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = up_read.read(&mut buf).await {
                        if n == 0 || down_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        let hit = buf[..n].windows(marker.len()).any(|w| w == marker);
                        if hit && !cut.swap(true, Ordering::SeqCst) {
                            break;
                        }
                    }
                    // Dropping both halves closes the client's connection mid-answer.
                    requests.abort();
                });
            }
        });
    }
}
