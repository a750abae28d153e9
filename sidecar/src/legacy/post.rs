//! `POST` on the MCP endpoint: validates the transport rules, then starts a session
//! (`initialize`), forwards notifications and responses (202), or runs requests (exchange).
//! Requests without a session that come from a stateless-era (2026-07-28) client get honest errors.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::value::RawValue;

use crate::app::App;
use crate::error::HttpError;
use crate::http::body::{self, ResponseBody};
use crate::http::header;
use crate::http::response::empty;
use crate::legacy::exchange;
use crate::legacy::initialize::initialize;
use crate::legacy::session::{Backend, Session};
use crate::metrics;
use crate::protocol::headers::{self, Accepts};
use crate::protocol::jsonrpc::{self, Envelope, Kind, RpcError};
use crate::protocol::version;

/// `_meta` key that marks a stateless-era request (MCP 2026-07-28 "Base Protocol").
const MODERN_META_KEY: &str = "io.modelcontextprotocol/protocolVersion";

/// The `Accept` rule for a POST that carries requests: an answer must be possible in JSON or SSE
/// (MCP spec "Transports" > "Sending Messages to the Server"; otherwise 406).
fn answerable(accepts: Accepts) -> Result<Accepts, HttpError> {
    if accepts.any() {
        Ok(accepts)
    } else {
        Err(HttpError::NotAcceptable(
            "Accept must allow application/json or text/event-stream",
        ))
    }
}

/// JSON text without raw line breaks: stdio framing forbids embedded newlines, and a pretty-printed
/// body would carry them into raw `params`. Re-serialised only when needed.
fn compact(body: Bytes) -> Result<Bytes, HttpError> {
    if !body.iter().any(|b| *b == b'\n' || *b == b'\r') {
        return Ok(body);
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| HttpError::Parse(e.to_string()))?;
    Ok(Bytes::from(value.to_string()))
}

pub async fn post(
    app: &Arc<App>,
    req: Request<Incoming>,
    user: &str,
    label: &mut usize,
) -> Result<Response<ResponseBody>, HttpError> {
    if !headers::is_json(header(&req, CONTENT_TYPE.as_str())) {
        return Err(HttpError::UnsupportedMediaType);
    }
    let accepts = headers::accepts(header(&req, ACCEPT.as_str()));
    let session_id = header(&req, "mcp-session-id").map(str::to_owned);
    let version_header = header(&req, "mcp-protocol-version").map(str::to_owned);
    let session = match &session_id {
        Some(id) => Some(
            app.sessions
                .get(id, user)
                .ok_or(HttpError::SessionNotFound)?,
        ),
        None => None,
    };
    if let Some(session) = &session {
        session.check_version(version_header.as_deref())?;
    }
    let body = compact(body::collect(req.into_body(), app.config.max_body_bytes).await?)?;
    let text = std::str::from_utf8(&body).map_err(|e| HttpError::Parse(e.to_string()))?;
    let (raw, batch) = jsonrpc::split_body(text).map_err(|e| HttpError::Parse(e.to_string()))?;
    if raw.is_empty() {
        return Err(HttpError::InvalidMessage("empty batch"));
    }
    let messages = raw
        .iter()
        .map(|r| {
            Envelope::parse(r.get())
                .ok()
                .filter(|e| e.kind() != Kind::Invalid)
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(HttpError::InvalidMessage("not a JSON-RPC 2.0 message"))?;
    *label = match (batch, messages[0].kind()) {
        (true, _) => metrics::method_label(metrics::BATCH),
        (false, Kind::Response) => metrics::method_label(metrics::RESPONSE),
        (false, Kind::Notification) => metrics::method_label(metrics::NOTIFICATION),
        (false, _) => metrics::method_label(messages[0].method()),
    };
    let is_request = |e: &Envelope| e.kind() == Kind::Request;
    if messages
        .iter()
        .any(|e| is_request(e) && e.method() == "initialize")
    {
        if batch {
            return Err(HttpError::InvalidMessage(
                "initialize must not be part of a batch",
            ));
        }
        if session.is_some() {
            return Err(HttpError::InvalidMessage(
                "initialize must be sent without Mcp-Session-Id",
            ));
        }
        return initialize(app, user, &messages[0], answerable(accepts)?).await;
    }
    let Some(session) = session else {
        return Err(sessionless(&messages, batch, version_header.as_deref()));
    };
    if batch && session.version() != version::BATCHES {
        return Err(HttpError::BatchNotAllowed);
    }
    session.touch();
    let has_requests = messages.iter().any(is_request);
    if has_requests {
        answerable(accepts)?;
    }
    for env in messages.iter().filter(|e| !is_request(e)) {
        forward(&session, env).await;
    }
    if !has_requests {
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let requests: Vec<Envelope> = messages.into_iter().filter(is_request).collect();
    Ok(exchange::start(app, session, &requests, accepts.sse, batch).await)
}

/// A notification or a response (to a server-to-client request) from the client, to the child.
/// In shared mode only cancellations go through: the shared children were initialized by the
/// sidecar and raise no server-to-client requests, and other notifications would change state
/// that all sessions share.
async fn forward(session: &Session, env: &Envelope<'_>) {
    let shared = matches!(session.backend, Backend::Shared(_));
    let (line, child) = match (env.kind(), env.method()) {
        (Kind::Notification, "notifications/cancelled") => {
            // The client names its own id; the child knows ours (MCP spec "Cancellation").
            let Some(client_id) = jsonrpc::cancelled_request_id(env.params) else {
                return;
            };
            let found = session.children().into_iter().find_map(|child| {
                let own = child.peer().own_id_of(session.tag, &client_id)?;
                Some((own, child))
            });
            let Some((own, child)) = found else { return };
            child.peer().fail(
                own,
                RpcError::new(
                    jsonrpc::REQUEST_CANCELLED,
                    "request cancelled by the client",
                ),
            );
            (
                jsonrpc::cancelled_line(own, "cancelled by the client"),
                child,
            )
        }
        _ if shared => return,
        (Kind::Response, _) => {
            // Server-to-client request ids are the child's own and pass through unchanged.
            let id = env.id.unwrap_or(RawValue::NULL);
            let Some(child) = session.child() else { return };
            (jsonrpc::response_line(id, env.result, env.error), child)
        }
        _ => {
            let Some(child) = session.child() else { return };
            (jsonrpc::notification_line(env.method(), env.params), child)
        }
    };
    child.send(line).await;
}

/// A POST without `initialize` and without a session. A stateless-era client (2026-07-28 header
/// or `_meta` version) learns that only the session-based revisions are served: `server/discover`
/// gets -32601 (its probe then falls back to `initialize`, MCP 2026-07-28 "Versioning"), other
/// requests -32022 with `data.supported`. Anyone else is missing the session header.
fn sessionless(messages: &[Envelope<'_>], batch: bool, version_header: Option<&str>) -> HttpError {
    let single = (!batch).then(|| &messages[0]);
    let meta_version = single
        .and_then(|e| e.params)
        .filter(|p| p.get().contains(MODERN_META_KEY))
        .map(|_| version::MODERN.to_owned());
    let requested = version_header
        .filter(|v| version::is_modern(v))
        .map(str::to_owned)
        .or(meta_version);
    match (single, requested) {
        (Some(env), _) if env.kind() == Kind::Request && env.method() == "server/discover" => {
            HttpError::DiscoverUnsupported {
                id: env.id.map(ToOwned::to_owned),
            }
        }
        (Some(env), Some(requested)) if env.kind() == Kind::Request => {
            HttpError::ModernUnsupported {
                id: env.id.map(ToOwned::to_owned),
                requested,
            }
        }
        _ => HttpError::MissingSession,
    }
}
