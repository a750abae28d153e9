//! Session start (MCP spec "Lifecycle" > "Initialization"; "Transports" > "Session Management"): a
//! POST of `initialize` without a session takes a warm child, forwards the client's `initialize`
//! unchanged (the child negotiates the revision; we record what it answered) and returns the result
//! with a fresh `Mcp-Session-Id`. A failed `initialize` leaves no session behind. In shared mode the
//! answer is the shared children's cached result instead (see `shared`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use serde_json::value::RawValue;

use crate::app::App;
use crate::child::pending::Refused;
use crate::error::HttpError;
use crate::http::body::ResponseBody;
use crate::http::response::{json_response, sse_stream};
use crate::http::sse::SseBody;
use crate::legacy::session::{self, Backend, Session};
use crate::legacy::sessions::LimitReached;
use crate::protocol::headers::Accepts;
use crate::protocol::jsonrpc::{self, Envelope, RpcError};
use crate::protocol::{sse, version};

fn limit_error(limit: LimitReached) -> HttpError {
    match limit {
        LimitReached::Total => HttpError::TooManySessions,
        LimitReached::PerUser => HttpError::TooManyUserSessions,
    }
}

pub async fn initialize(
    app: &Arc<App>,
    user: &str,
    via: SocketAddr,
    env: &Envelope<'_>,
    accepts: Accepts,
) -> Result<Response<ResponseBody>, HttpError> {
    let Some(client_id) = env.id else {
        return Err(HttpError::InvalidMessage("initialize without id"));
    };
    if app.shutdown.is_cancelled() || app.drain.is_draining() {
        return Err(HttpError::ShuttingDown);
    }
    app.sessions.check(user).map_err(limit_error)?;
    let backend = match &app.shared {
        Some(pool) => Backend::Shared(pool.clone()),
        None => Backend::Own(app.pool.take().await.map_err(|e| {
            tracing::error!(error = %e, "cannot spawn the mcp server");
            HttpError::SpawnFailed
        })?),
    };
    let config = &app.config;
    let id = app.cluster.session_id(session::new_id(), via);
    let session = Arc::new(Session::new(
        id,
        user,
        backend,
        config.standalone_queue,
        config.sse_buffer_events,
    ));
    app.sessions.insert(session.clone()).map_err(limit_error)?;
    let answer = match &session.backend {
        Backend::Own(child) => {
            // The child may still be starting (a cold spawn, or a warm one not yet through its
            // runtime's start): the start timeout bounds the handshake, not the request timeout.
            let limit = config.max_concurrent_requests;
            let params = env.params;
            child
                .call(
                    client_id,
                    "initialize",
                    params,
                    limit,
                    config.child_start_timeout,
                )
                .await
        }
        Backend::Shared(pool) => match pool.initialize_result(config.child_start_timeout).await {
            Some(result) => shared_answer(client_id, env.params, result),
            None => RpcError::from(Refused::Gone("the shared mcp servers are not ready"))
                .response(Some(client_id)),
        },
    };
    app.pool.refill();
    let negotiated = std::str::from_utf8(&answer)
        .ok()
        .and_then(|text| Envelope::parse(text).ok())
        .and_then(|reply| reply.result.and_then(jsonrpc::negotiated_version));
    let Some(negotiated) = negotiated else {
        // The child refused, died or timed out: no session; the client sees the JSON-RPC error.
        tracing::warn!(mcp.session.id = %session.id, "initialize failed; session dropped");
        app.sessions.remove(&session.id);
        session.end();
        return Ok(json_response(StatusCode::OK, answer));
    };
    tracing::info!(mcp.session.id = %session.id, mcp.protocol.version = %negotiated,
        user = %session.user, "session started");
    session.set_version(negotiated);
    app.metrics.sessions_created.fetch_add(1, Ordering::Relaxed);
    let mut response = if accepts.sse {
        let stream = session.open_stream();
        let prelude = sse::prelude(session.version(), stream.id, config.sse_retry_ms);
        let subscriber = stream.attach(None, prelude);
        stream.push(&answer);
        stream.finish();
        session.release_stream();
        sse_stream(SseBody::new(subscriber, config.keepalive))
    } else {
        json_response(StatusCode::OK, answer)
    };
    if let Ok(value) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert("mcp-session-id", value);
    }
    Ok(response)
}

/// The shared children's cached `initialize` result for one client: the revision the client asked
/// for when we serve it (MCP spec "Lifecycle" > "Version Negotiation"), else the children's.
fn shared_answer(client_id: &RawValue, params: Option<&RawValue>, cached: &RawValue) -> Bytes {
    let requested = params.and_then(|p| {
        let p: serde_json::Value = serde_json::from_str(p.get()).ok()?;
        p["protocolVersion"].as_str().map(str::to_owned)
    });
    let mut result: serde_json::Value = serde_json::from_str(cached.get()).unwrap_or_default();
    if let Some(version) = requested.filter(|v| version::LEGACY.contains(&v.as_str())) {
        result["protocolVersion"] = serde_json::Value::String(version);
    }
    let result = RawValue::from_string(result.to_string()).ok();
    jsonrpc::response(client_id, result.as_deref(), None)
}
