//! One request sent on to the replica that owns its session, once, streaming both ways: the body
//! is never collected here (an SSE answer flows event by event, a `GET` with `Last-Event-ID`
//! resumes on the owner), and the owner applies every check and limit of its own. What the edge
//! established travels with the request (`X-User-Id` and the other identity headers: the owner
//! binds the session to its user again); the client's credentials do not (no token is ever passed
//! on; RFC 9110 §7.6.1 for the hop-by-hop fields).

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, Version};
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::FORWARDED;

/// Connections to the other replicas, kept alive and reused (a forwarded request then costs no
/// TCP handshake).
pub type Client = Pool<HttpConnector, Incoming>;

/// Time to connect to an owner: a replica that is gone (its task or pod ended) must fail fast so
/// that the client re-initializes elsewhere.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections to another replica are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Fields that describe one connection, not the request (RFC 9110 §7.6.1), and the client's
/// credentials, which stay with the edge.
const NOT_PASSED_ON: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "authorization",
];

pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    Pool::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .build(connector)
}

/// The owner did not answer: gone, unreachable, or silent for longer than a request may take.
#[derive(Debug, thiserror::Error)]
#[error("the replica that owns the session is unreachable: {0}")]
pub struct Unreachable(String);

/// Removes the hop-by-hop fields, those the `Connection` field names included.
fn strip(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in NOT_PASSED_ON {
        headers.remove(name);
    }
    debug_assert!(!headers.contains_key(AUTHORIZATION));
}

/// Sends `req` to the replica at `owner` (`http://host:port`), marked as forwarded, and returns
/// its answer as it streams in; `wait` bounds the time until the answer's head arrives.
pub async fn forward(
    client: &Client,
    owner: &str,
    req: Request<Incoming>,
    wait: Duration,
) -> Result<Response<Incoming>, Unreachable> {
    let (mut parts, body) = req.into_parts();
    // A request that came over HTTP/2 names its host in `:authority` only; over HTTP/1.1 to the
    // owner it becomes the Host field (RFC 9113 §8.3.1), which the owner's Host check reads.
    if !parts.headers.contains_key(HOST)
        && let Some(host) = parts.uri.authority()
        && let Ok(host) = HeaderValue::from_str(host.as_str())
    {
        parts.headers.insert(HOST, host);
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("{owner}{path}")
        .parse()
        .map_err(|e| Unreachable(format!("bad owner address: {e}")))?;
    parts.version = Version::HTTP_11;
    strip(&mut parts.headers);
    parts
        .headers
        .insert(FORWARDED, HeaderValue::from_static("1"));
    let answer = tokio::time::timeout(wait, client.request(Request::from_parts(parts, body)))
        .await
        .map_err(|_| Unreachable(format!("no answer within {wait:?}")))?;
    let mut response = answer.map_err(|e| Unreachable(e.to_string()))?;
    strip(response.headers_mut());
    Ok(response)
}
