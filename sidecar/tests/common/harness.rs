//! One sidecar process under test: spawned on a free loopback port with the test's settings only,
//! polled on `/health`, its descendants counted through `/proc`, stopped with SIGTERM, and on drop
//! cleaned up with everything it may have left (so a failing test leaves no process behind).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::session::{Session, initialize_body, response_for};
use super::{
    ANSWER_WITHIN, HEALTHY_WITHIN, POLL, V_2025_11_25, child_path, hand_over, http_client,
    loopback_listener, proc_tree, within,
};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Settings and command of one sidecar under test.
pub struct SidecarBuilder {
    command: Vec<String>,
    env: Vec<(String, String)>,
    dotenv: Option<String>,
}

impl SidecarBuilder {
    /// A setting; `{port}` in `value` becomes the port the sidecar is given.
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Contents of a `.env` file in the sidecar's working directory.
    pub fn dotenv(mut self, contents: &str) -> Self {
        self.dotenv = Some(contents.to_string());
        self
    }

    pub async fn start(self) -> Sidecar {
        let sidecar = self.spawn();
        sidecar.wait_healthy().await;
        sidecar
    }

    /// Spawn without waiting for health (for tests of start-up failures).
    pub fn spawn(self) -> Sidecar {
        let listener = loopback_listener();
        let port = listener.local_addr().unwrap().port();
        let listener_socket = socket_name(&listener);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let workdir =
            std::env::temp_dir().join(format!("sidecar-test-{}-{n}-{port}", std::process::id()));
        std::fs::create_dir_all(&workdir).unwrap();
        if let Some(contents) = &self.dotenv {
            std::fs::write(workdir.join(".env"), contents).unwrap();
        }
        let log_path = workdir.join("sidecar.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sidecar"));
        // The socket is handed over; `--listen` only names it in the sidecar's settings.
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--");
        hand_over(&mut cmd, &listener);
        cmd.args(&self.command);
        // Settings come only from the test: drop inherited ones and run where no `.env` is found.
        for (key, _) in std::env::vars() {
            if key.starts_with("SIDECAR_") || key.starts_with("LOG_") {
                cmd.env_remove(key);
            }
        }
        let defaults = [
            ("PATH", child_path()),
            ("NO_PROXY", "127.0.0.1,localhost".to_string()),
            (
                "SIDECAR_ALLOWED_ORIGINS",
                format!("http://127.0.0.1:{port},http://localhost:{port}"),
            ),
            (
                "SIDECAR_ALLOWED_HOSTS",
                format!("127.0.0.1:{port},localhost:{port}"),
            ),
            ("SIDECAR_WARM_POOL", "1".to_string()),
            ("SIDECAR_SHARED_POOL", "1".to_string()),
            ("SIDECAR_PROBE_INTERVAL_SECS", "1".to_string()),
            ("SIDECAR_SHUTDOWN_GRACE_SECS", "2".to_string()),
            ("LOG_LEVEL", "warn".to_string()),
            ("LOG_FORMAT", "json".to_string()),
        ];
        for (key, value) in defaults {
            cmd.env(key, value);
        }
        for (key, value) in &self.env {
            cmd.env(key, value.replace("{port}", &port.to_string()));
        }
        cmd.current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().expect("spawn sidecar binary");
        Sidecar {
            pid: child.id(),
            child: std::sync::Mutex::new(child),
            port,
            listener_socket,
            base: format!("http://127.0.0.1:{port}"),
            workdir,
            log_path,
            client: http_client(),
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// One running sidecar; dropped: SIGTERM, bounded wait, then SIGKILL of it and of anything it left.
pub struct Sidecar {
    child: std::sync::Mutex<Child>,
    pid: u32,
    pub port: u16,
    /// The handed-over listening socket as `/proc/<pid>/fd` names it (`socket:[inode]`).
    pub listener_socket: String,
    pub base: String,
    pub workdir: PathBuf,
    log_path: PathBuf,
    pub client: reqwest::Client,
    /// Every descendant pid observed, so that `Drop` can clean up after a failing test.
    seen: std::sync::Mutex<Vec<u32>>,
}

pub fn sidecar(command: Vec<String>) -> SidecarBuilder {
    SidecarBuilder {
        command,
        env: Vec::new(),
        dotenv: None,
    }
}

impl Sidecar {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn mcp(&self) -> String {
        self.url("/mcp")
    }

    /// The HTTP status of a plain GET on `path`.
    pub async fn get_status(&self, path: &str) -> StatusCode {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let resp = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "/metrics");
        resp.text().await.unwrap()
    }

    /// The sum of the samples whose line contains `needle`; 0 when none does (a counter whose
    /// label set never occurred is not exported).
    pub async fn metric(&self, needle: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.contains(needle) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// A POST to the MCP endpoint outside any session, with the headers a client sends.
    pub fn post_raw(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.mcp())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string())
    }

    /// After the sidecar exited: none of the descendants ever seen is still alive.
    pub fn assert_no_child_alive(&self, what: &str) {
        let left: Vec<u32> = self
            .seen_pids()
            .into_iter()
            .filter(|pid| proc_tree::is_alive(*pid))
            .collect();
        assert!(left.is_empty(), "children left behind {what}: {left:?}");
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Last lines of the sidecar's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub async fn health(&self) -> (StatusCode, Value) {
        let resp = self.client.get(self.url("/health")).send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Poll `/health` until 200 (a real probe succeeded), bounded.
    pub async fn wait_healthy(&self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                panic!(
                    "sidecar exited early with {status}; log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(resp) = self.client.get(self.url("/health")).send().await
                && resp.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                start.elapsed() < HEALTHY_WITHIN,
                "sidecar not healthy within {HEALTHY_WITHIN:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().unwrap()
    }

    /// Live and zombie descendants of the sidecar right now.
    pub fn descendants(&self) -> Vec<proc_tree::Proc> {
        let procs = proc_tree::descendants(self.pid());
        let mut seen = self.seen.lock().unwrap();
        for p in &procs {
            if !seen.contains(&p.pid) {
                seen.push(p.pid);
            }
        }
        procs
    }

    /// The number of descendants once the pools are filled: stable over three polls and equal to
    /// what `/health` reports as `children` (bounded; falls back to the stable count).
    pub async fn steady_children(&self) -> usize {
        let start = Instant::now();
        let mut last = usize::MAX;
        let mut stable = 0;
        loop {
            let count = self.descendants().len();
            stable = if count == last { stable + 1 } else { 0 };
            last = count;
            let reported = self.health().await.1["children"]
                .as_u64()
                .map(|c| c as usize);
            if stable >= 3 && (reported == Some(count) || start.elapsed() > Duration::from_secs(20))
            {
                return count;
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "children never settled"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait (bounded) until at most `limit` descendants exist; fail listing them otherwise.
    pub async fn assert_children_at_most(&self, limit: usize, what: &str) {
        self.wait_descendants(&format!("{what}: at most {limit}"), |procs| {
            procs.len() <= limit
        })
        .await;
    }

    /// Wait (bounded, 15 s) until the descendants satisfy `ok`; fail listing them otherwise.
    pub async fn wait_descendants(&self, what: &str, ok: impl Fn(&[proc_tree::Proc]) -> bool) {
        let start = Instant::now();
        loop {
            let procs = self.descendants();
            if ok(&procs) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{what}: descendant processes never matched, found {}: {procs:?}",
                procs.len()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The sidecar still serves: `/health` is 200 and a fresh session answers `ping`.
    pub async fn assert_still_serves(&self) {
        self.wait_healthy().await;
        let session = self.initialize(V_2025_11_25).await;
        let answer = session.request("ping", json!({})).await;
        assert_eq!(
            answer["result"],
            json!({}),
            "ping in a fresh session: {answer}"
        );
        assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
    }

    /// End of a bad-input test: delete `sessions` (204 each), then the sidecar still serves and no
    /// child beyond the idle pools is left (`idle` from `steady_children` before the test began).
    pub async fn assert_clean(&self, sessions: &[&Session], idle: usize) {
        for session in sessions {
            assert_eq!(
                session.delete().await,
                StatusCode::NO_CONTENT,
                "DELETE {}",
                session.id
            );
        }
        self.assert_still_serves().await;
        self.assert_children_at_most(idle, "after the test's sessions ended")
            .await;
        let zombies: Vec<_> = self
            .descendants()
            .into_iter()
            .filter(|p| p.state == 'Z')
            .collect();
        assert!(zombies.is_empty(), "unreaped children: {zombies:?}");
    }

    /// SIGTERM and wait (bounded) for the exit; returns the exit status.
    pub async fn terminate(&self) -> ExitStatus {
        signal(self.pid(), "TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "sidecar ignored SIGTERM for 30 s"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The sidecar and those of its descendants that hold its listening socket.
    pub fn listener_holders(&self) -> Vec<u32> {
        let holds = |pid: u32| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|target| target.to_string_lossy() == self.listener_socket)
                })
        };
        std::iter::once(self.pid)
            .chain(self.descendants().into_iter().map(|p| p.pid))
            .filter(|pid| holds(*pid))
            .collect()
    }

    /// Every descendant pid seen so far.
    pub fn seen_pids(&self) -> Vec<u32> {
        self.seen.lock().unwrap().clone()
    }

    /// `initialize` + `notifications/initialized` without a user.
    pub async fn initialize(&self, version: &str) -> Session {
        self.initialize_as(version, None).await
    }

    /// `initialize` + `notifications/initialized` as `user` (header `X-User-Id`).
    pub async fn initialize_as(&self, version: &str, user: Option<&str>) -> Session {
        let mut session = Session::new(self.client.clone(), self.mcp(), version, user);
        let resp = within(
            ANSWER_WITHIN,
            "initialize",
            session.post(&initialize_body(0, version)).send(),
        )
        .await
        .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "initialize: log:\n{}",
            self.log_tail()
        );
        session.id = resp
            .headers()
            .get("mcp-session-id")
            .expect("initialize answer carries Mcp-Session-Id")
            .to_str()
            .unwrap()
            .to_string();
        let answer = response_for(resp, &json!(0)).await;
        assert_eq!(
            answer["result"]["protocolVersion"], version,
            "negotiated version: {answer}"
        );
        let status = session.notify("notifications/initialized", None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "notifications/initialized");
        session
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let mut pids = self.seen_pids();
        pids.extend(proc_tree::descendants(self.pid()).iter().map(|p| p.pid));
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if child.try_wait().ok().flatten().is_none() {
            signal(self.pid, "TERM");
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none()
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(POLL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Safety net for a failing test: never leave a child behind on the machine.
        for pid in pids {
            if Path::new(&format!("/proc/{pid}")).exists() {
                signal(pid, "KILL");
            }
        }
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

/// `socket:[inode]`: how `/proc/<pid>/fd` names the socket behind `listener` in any process.
fn socket_name(listener: &std::net::TcpListener) -> String {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}
