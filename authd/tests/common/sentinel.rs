//! A real Redis Sentinel deployment on loopback: one master, one replica and three sentinels,
//! each a `redis-server` process (sentinels in `--sentinel` mode) with its own scratch directory.
//!
//! Sentinels announce masters by TCP address, so these servers listen on TCP. redis-server cannot
//! be handed a socket nor report a port it chose, so each one is started on a random port and,
//! when that port is taken, started again on another: a server counts as ours only when the
//! `process_id` it reports over that port is our child's.
//!
//! A deployment may be protected: the data servers by one password (`requirepass`, and
//! `masterauth` for replication), the sentinels by another (their own `requirepass`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{Guard, wait_for, wait_until};

/// The master name the sentinels monitor.
pub const MASTER: &str = "authd";

/// How long a failover may take on a loaded machine (sentinels' own timers are about a second).
pub const FAILOVER_LIMIT: Duration = Duration::from_secs(60);

/// The passwords of a protected deployment; `None`: open.
#[derive(Clone, Default)]
pub struct Passwords {
    /// The data servers' (`REDIS_PASSWORD` for authd).
    pub data: Option<String>,
    /// The sentinels' own (`REDIS_SENTINEL_PASSWORD` for authd).
    pub sentinels: Option<String>,
}

/// One `redis-server` (data server or sentinel) on a loopback port.
pub struct Server {
    pub port: u16,
    password: Option<String>,
    guard: Guard,
}

impl Server {
    /// Starts `redis-server` with `args` (and `--port`), trying fresh ports while one is taken;
    /// `password` is what the server requires of clients (given in `args` too).
    fn start(dir: &Path, name: &'static str, args: &[String], password: Option<&String>) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        for _ in 0..50 {
            let port = 20000 + rand::random::<u16>() % 10000;
            let mut cmd = Command::new("redis-server");
            cmd.args(args)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .current_dir(dir);
            let mut guard = Guard::spawn(name, cmd, dir.join(format!("{name}.log")));
            let pid = guard.id().unwrap();
            let mut ours = false;
            wait_until(name, || {
                if guard.exited() {
                    return true;
                }
                ours = info_field(port, password, "server", "process_id").as_deref()
                    == Some(pid.to_string().as_str());
                ours
            });
            if ours {
                let password = password.cloned();
                return Server {
                    port,
                    password,
                    guard,
                };
            }
            // The port was taken (the server exited on the bind failure): another one.
        }
        panic!("{name}: no free port found");
    }

    pub fn conn(&self) -> redis::Connection {
        conn(self.port, self.password.as_ref())
    }

    /// SIGKILL: a crash, not a shutdown.
    pub fn kill(&mut self) {
        self.guard.kill();
    }
}

fn url(port: u16, password: Option<&String>) -> String {
    match password {
        Some(pw) => format!("redis://:{pw}@127.0.0.1:{port}/"),
        None => format!("redis://127.0.0.1:{port}/"),
    }
}

fn conn(port: u16, password: Option<&String>) -> redis::Connection {
    redis::Client::open(url(port, password))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap()
}

/// One field of `INFO section`, or None when the server does not answer.
fn info_field(port: u16, password: Option<&String>, section: &str, field: &str) -> Option<String> {
    let client = redis::Client::open(url(port, password)).ok()?;
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    let info: String = redis::cmd("INFO").arg(section).query(&mut c).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

/// The data servers and sentinels; the data servers are indexed 0 (first master) and 1.
pub struct Deployment {
    pub data: Vec<Server>,
    pub sentinels: Vec<Server>,
    dir: PathBuf,
}

impl Deployment {
    /// Master, replica in sync, three sentinels that know the replica and each other; open.
    pub fn start(dir: &Path) -> Deployment {
        Deployment::start_with(dir, &Passwords::default())
    }

    /// The same, protected by `passwords`.
    pub fn start_with(dir: &Path, passwords: &Passwords) -> Deployment {
        let data_auth: Vec<&str> = match &passwords.data {
            Some(pw) => vec!["--requirepass", pw, "--masterauth", pw],
            None => vec![],
        };
        let plain = |extra: &[&str]| -> Vec<String> {
            ["--save", "", "--appendonly", "no", "--daemonize", "no"]
                .iter()
                .chain(&data_auth)
                .chain(extra)
                .map(|s| (*s).to_owned())
                .collect()
        };
        let data_pw = passwords.data.as_ref();
        let master = Server::start(&dir.join("data0"), "redis-master", &plain(&[]), data_pw);
        let mport = master.port.to_string();
        let replica = Server::start(
            &dir.join("data1"),
            "redis-replica",
            &plain(&["--replicaof", "127.0.0.1", &mport]),
            data_pw,
        );
        wait_until("replica in sync", || {
            info_field(replica.port, data_pw, "replication", "master_link_status").as_deref()
                == Some("up")
        });
        // Sentinels log in to the data servers with theirs, and to each other with their own.
        let auth = [
            passwords
                .data
                .as_ref()
                .map(|pw| format!("sentinel auth-pass {MASTER} {pw}\n")),
            passwords
                .sentinels
                .as_ref()
                .map(|pw| format!("requirepass {pw}\nsentinel sentinel-pass {pw}\n")),
        ]
        .into_iter()
        .flatten()
        .collect::<String>();
        let sentinels = (0..3)
            .map(|i| {
                let sdir = dir.join(format!("sentinel{i}"));
                std::fs::create_dir_all(&sdir).unwrap();
                let conf = sdir.join("sentinel.conf");
                // Short timers so a failover takes seconds (Redis Sentinel documentation,
                // "Configuring Sentinel"); the config file must be writable: sentinels rewrite it.
                std::fs::write(
                    &conf,
                    format!(
                        "sentinel monitor {MASTER} 127.0.0.1 {mport} 2\n\
                         sentinel down-after-milliseconds {MASTER} 1000\n\
                         sentinel failover-timeout {MASTER} 10000\n\
                         sentinel parallel-syncs {MASTER} 1\n{auth}"
                    ),
                )
                .unwrap();
                let args = vec![
                    conf.to_str().unwrap().to_owned(),
                    "--sentinel".to_owned(),
                    "--daemonize".to_owned(),
                    "no".to_owned(),
                ];
                Server::start(&sdir, "redis-sentinel", &args, passwords.sentinels.as_ref())
            })
            .collect();
        let d = Deployment {
            data: vec![master, replica],
            sentinels,
            dir: dir.to_path_buf(),
        };
        d.wait_ready(1);
        d
    }

    /// `REDIS_SENTINELS` for authd.
    pub fn sentinels_var(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of the master the sentinels name.
    pub fn master_port(&self) -> Option<u16> {
        let mut c = self.sentinels[0].conn();
        let addr: Option<(String, String)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(MASTER)
            .query(&mut c)
            .ok()?;
        addr.and_then(|(_, p)| p.parse().ok())
    }

    /// The data server the sentinels name as master.
    pub fn master(&mut self) -> &mut Server {
        let port = self.master_port().unwrap();
        self.data.iter_mut().find(|s| s.port == port).unwrap()
    }

    /// Waits until every sentinel sees the master named by the first one with `replicas` healthy
    /// replicas in sync, and knows the two other sentinels (needed to elect a leader).
    pub fn wait_ready(&self, replicas: usize) {
        wait_for("sentinels ready", FAILOVER_LIMIT, || {
            let Some(port) = self.master_port() else {
                return false;
            };
            self.sentinels.iter().all(|s| {
                let mut c = s.conn();
                let mut healthy = |cmd: &str| -> usize {
                    let rows: Vec<Vec<String>> = redis::cmd("SENTINEL")
                        .arg(cmd)
                        .arg(MASTER)
                        .query(&mut c)
                        .unwrap_or_default();
                    rows.iter()
                        .map(|r| pairs(r))
                        .filter(|m| {
                            !m.get("flags")
                                .is_some_and(|f| f.contains("down") || f.contains("disconnected"))
                                && m.get("master-link-status").is_none_or(|l| l == "ok")
                                && m.get("master-port").is_none_or(|p| *p == port.to_string())
                        })
                        .count()
                };
                healthy("replicas") == replicas && healthy("sentinels") == 2
            })
        });
    }

    /// Asks a sentinel for a failover now (`SENTINEL FAILOVER`).
    pub fn failover(&self) {
        let mut c = self.sentinels[0].conn();
        let _: () = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(MASTER)
            .query(&mut c)
            .unwrap();
    }

    /// Waits until the master has `replicas` replicas acknowledging every write so far.
    pub fn sync_replicas(&mut self, replicas: usize) {
        let mut c = self.master().conn();
        let acked: usize = redis::cmd("WAIT")
            .arg(replicas)
            .arg(10_000)
            .query(&mut c)
            .unwrap();
        assert_eq!(acked, replicas, "replicas did not acknowledge the writes");
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A flat `[k1, v1, k2, v2, ...]` answer as a map.
fn pairs(row: &[String]) -> HashMap<String, String> {
    row.chunks(2)
        .filter_map(|kv| Some((kv.first()?.clone(), kv.get(1)?.clone())))
        .collect()
}
