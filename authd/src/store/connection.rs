//! The connection to Redis, standalone or behind Redis Sentinel. Standalone: the redis crate's
//! `ConnectionManager`, which reconnects by itself. Sentinel: the master is asked of the
//! sentinels (the redis crate checks its `ROLE`), and asked again whenever the connection breaks
//! or the server answers that it is no longer the master (`READONLY`, `MASTERDOWN`): after a
//! failover the next request finds the new master. Sentinel's failover also closes the clients
//! of the demoted master (Redis Sentinel documentation, "Sentinel clients implementation"), so a
//! connection to it breaks rather than quietly reading from a replica; and a watcher subscribed to
//! the sentinels' `+switch-master` event drops the connection the moment the sentinels switch
//! (the same documentation's client guidelines), before the demoted master is reconfigured. Every
//! wait is bounded: while no master is reachable, requests fail fast and authd answers 503.
//! Sentinels protected by `requirepass` get their own password (`REDIS_SENTINEL_PASSWORD`), on
//! every connection to them: the master look-ups and the watcher's subscription. A wrong one fails
//! like an unreachable sentinel: no master, 503, and the sentinels' refusal in the log.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    RedisError, RedisFuture,
};
use redis::{RedisResult, ServerErrorKind, Value};
use secrecy::{ExposeSecret, SecretString};

use crate::config::RedisTarget;

/// Longest wait to connect (including asking the sentinels) and for any one answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A cheap-to-clone handle on the connection, usable wherever the redis crate takes a connection.
#[derive(Clone)]
pub enum Connection {
    Standalone(ConnectionManager),
    Sentinel(SentinelConnection),
}

impl Connection {
    /// Creates the connection without connecting: authd starts (and reports 503) while Redis is down.
    /// `password` is the data servers', `sentinel_password` the sentinels'.
    pub fn new(
        target: &RedisTarget,
        password: Option<&SecretString>,
        sentinel_password: Option<&SecretString>,
    ) -> RedisResult<Connection> {
        match target {
            RedisTarget::Url(url) => {
                let mut info = url.as_str().into_connection_info()?;
                if let Some(pw) = password {
                    let settings = info
                        .redis_settings()
                        .clone()
                        .set_password(pw.expose_secret());
                    info = info.set_redis_settings(settings);
                }
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                let client = redis::Client::open(info)?;
                Ok(Connection::Standalone(
                    ConnectionManager::new_lazy_with_config(client, cfg)?,
                ))
            }
            RedisTarget::Sentinel { sentinels, master } => {
                let addrs = sentinels
                    .iter()
                    .map(|(h, p)| ConnectionAddr::Tcp(h.clone(), *p));
                let mut builder =
                    SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?;
                if let Some(pw) = password {
                    builder = builder.set_client_to_redis_password(pw.expose_secret());
                }
                if let Some(pw) = sentinel_password {
                    builder = builder.set_client_to_sentinel_password(pw.expose_secret());
                }
                let inner = Arc::new(Inner {
                    sentinels: tokio::sync::Mutex::new(builder.build()?),
                    master: RwLock::new(None),
                });
                let watched = sentinels
                    .iter()
                    .map(|(h, p)| sentinel_info(h, *p, sentinel_password))
                    .collect::<RedisResult<Vec<_>>>()?;
                // Admin commands and `serve` run in the runtime; the watcher ends with the store.
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(watch(Arc::downgrade(&inner), watched));
                }
                Ok(Connection::Sentinel(SentinelConnection(inner)))
            }
        }
    }
}

/// The master found through the sentinels, found again after a failover.
#[derive(Clone)]
pub struct SentinelConnection(Arc<Inner>);

struct Inner {
    /// Held while asking the sentinels, so concurrent requests wait for one answer.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    master: RwLock<Option<MultiplexedConnection>>,
}

impl SentinelConnection {
    fn cached(&self) -> Option<MultiplexedConnection> {
        self.0.master.read().ok().and_then(|g| g.clone())
    }

    async fn master(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let found = tokio::time::timeout(TIMEOUT, async {
            let mut sentinels = self.0.sentinels.lock().await;
            // Another request may have found it while this one waited.
            if let Some(c) = self.cached() {
                return Ok(c);
            }
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(Some(TIMEOUT));
            let conn = sentinels.get_async_connection_with_config(&config).await?;
            if let Ok(mut g) = self.0.master.write() {
                *g = Some(conn.clone());
            }
            Ok(conn)
        })
        .await;
        found.unwrap_or_else(|_| {
            Err(RedisError::from((
                ErrorKind::Io,
                "no redis master found through the sentinels in time",
            )))
        })
    }

    /// Drops the connection when `result` shows it no longer reaches the master.
    fn check<T>(&self, result: RedisResult<T>, lost: impl Fn(&T) -> bool) -> RedisResult<T> {
        let gone = match &result {
            Err(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
                    || matches!(e.kind(), ErrorKind::Server(k) if not_master(&k))
            }
            Ok(v) => lost(v),
        };
        if gone {
            self.0.forget();
        }
        result
    }
}

impl Inner {
    fn forget(&self) {
        if let Ok(mut g) = self.master.write() {
            *g = None;
        }
    }
}

/// How the watcher reaches one sentinel: its address, with the sentinels' password if any.
fn sentinel_info(
    host: &str,
    port: u16,
    password: Option<&SecretString>,
) -> RedisResult<ConnectionInfo> {
    let info = ConnectionAddr::Tcp(host.to_owned(), port).into_connection_info()?;
    Ok(match password {
        Some(pw) => {
            let settings = info
                .redis_settings()
                .clone()
                .set_password(pw.expose_secret());
            info.set_redis_settings(settings)
        }
        None => info,
    })
}

/// Follows `+switch-master` on the first sentinel that answers (another one when it goes away)
/// and drops the master connection on every switch, and on every new subscription (a switch may
/// have happened while none was held).
async fn watch(inner: Weak<Inner>, sentinels: Vec<ConnectionInfo>) {
    use futures::StreamExt;
    // The last failure said per sentinel: each is said once, not at every round.
    let mut said: Vec<Option<String>> = vec![None; sentinels.len()];
    loop {
        for (info, said) in sentinels.iter().zip(&mut said) {
            let subscribed = tokio::time::timeout(TIMEOUT, async {
                let client = redis::Client::open(info.clone())?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe("+switch-master").await?;
                RedisResult::Ok(pubsub)
            })
            .await;
            let pubsub = match subscribed {
                Ok(Ok(pubsub)) => {
                    *said = None;
                    pubsub
                }
                Ok(Err(e)) => {
                    // A sentinel that refuses authd (a wrong REDIS_SENTINEL_PASSWORD) shows here.
                    let error = e.to_string();
                    if said.as_ref() != Some(&error) {
                        tracing::warn!(redis.sentinel = %info.addr(), error = %error,
                            "cannot follow the sentinel's master switches");
                        *said = Some(error);
                    }
                    continue;
                }
                Err(_) => continue,
            };
            let mut events = pubsub.into_on_message();
            loop {
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                inner.forget();
                drop(inner);
                if events.next().await.is_none() {
                    break;
                }
                tracing::info!(redis.sentinel = %info.addr(), "redis master switched");
            }
        }
        if inner.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn not_master(kind: &ServerErrorKind) -> bool {
    matches!(
        kind,
        ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown
    )
}

/// An answer that says the server is not (or no longer) a usable master.
fn refused(v: &Value) -> bool {
    match v {
        Value::ServerError(e) => e.kind().is_some_and(|k| not_master(&k)),
        Value::Array(items) => items.iter().any(refused),
        _ => false,
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Standalone(c) => c.req_packed_command(cmd),
            Connection::Sentinel(s) => Box::pin(async move {
                let mut conn = s.master().await?;
                let result = conn.req_packed_command(cmd).await;
                s.check(result, refused)
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Sentinel(s) => Box::pin(async move {
                let mut conn = s.master().await?;
                let result = conn.req_packed_commands(pipeline, offset, count).await;
                s.check(result, |values| values.iter().any(refused))
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Standalone(c) => c.get_db(),
            Connection::Sentinel(_) => 0,
        }
    }
}
