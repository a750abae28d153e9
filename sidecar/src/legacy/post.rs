//! `POST` of the session-based revisions: starts a session (`initialize`), forwards notifications
//! and responses (202), or runs requests (exchange). A POST without a session that is not
//! `initialize` lacks its `Mcp-Session-Id` (400).

use std::sync::Arc;

use hyper::{Request, Response, StatusCode};
use serde_json::value::RawValue;

use crate::app::App;
use crate::error::HttpError;
use crate::http::body::ResponseBody;
use crate::http::message::Post;
use crate::http::response::empty;
use crate::http::{answerable, header};
use crate::legacy::exchange;
use crate::legacy::initialize::initialize;
use crate::legacy::session::{Backend, Session};
use crate::metrics;
use crate::protocol::jsonrpc::{self, Envelope, Kind, RpcError};
use crate::protocol::version;

/// The session a POST names, if any: an unknown one or another user's is 404, a wrong
/// `MCP-Protocol-Version` 400 (checked before the body is read).
pub fn session_of<B>(
    app: &App,
    req: &Request<B>,
    user: &str,
) -> Result<Option<Arc<Session>>, HttpError> {
    let Some(id) = header(req, "mcp-session-id") else {
        return Ok(None);
    };
    let session = app
        .sessions
        .get(id, user)
        .ok_or(HttpError::SessionNotFound)?;
    session.check_version(header(req, "mcp-protocol-version"))?;
    Ok(Some(session))
}

/// A POST of the session-based revisions: `initialize` without a session, anything else in one.
pub async fn post(
    app: &Arc<App>,
    session: Option<Arc<Session>>,
    post: Post<'_>,
    label: &mut usize,
) -> Result<Response<ResponseBody>, HttpError> {
    let Post {
        messages,
        batch,
        accepts,
        user,
        via,
    } = post;
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
        return initialize(app, user, via, &messages[0], answerable(accepts)?).await;
    }
    let Some(session) = session else {
        return Err(HttpError::MissingSession);
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
