//! `GET` and `DELETE` on the MCP endpoint (MCP spec "Transports" > "Listening for Messages from
//! the Server", "Resumability and Redelivery", "Session Management").
//!
//! Without any `Mcp-Session-Id` both answer 405 (`Allow: POST`): there is no sessionless stream,
//! which is also what the stateless era specifies. An unknown session is 404.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::ACCEPT;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::http::body::ResponseBody;
use crate::http::headers;
use crate::http::response::{HttpError, empty, sse_stream};
use crate::post::{check_version, header};
use crate::session::Session;
use crate::sse::{self, SseBody};

/// Time DELETE waits for the child to be reaped before answering.
const STOP_WAIT: Duration = Duration::from_secs(2);

fn session_of(app: &App, req: &Request<Incoming>, user: &str) -> Result<Arc<Session>, HttpError> {
    let id = header(req, "mcp-session-id").ok_or(HttpError::MethodNotAllowed { allow: "POST" })?;
    let session = app
        .sessions
        .get(id, user)
        .ok_or(HttpError::SessionNotFound)?;
    check_version(req, &session)?;
    session.touch();
    Ok(session)
}

/// Opens the standalone stream, or resumes the stream named by `Last-Event-ID`.
pub fn get(
    app: &App,
    req: &Request<Incoming>,
    user: &str,
) -> Result<Response<ResponseBody>, HttpError> {
    let session = session_of(app, req, user)?;
    if !headers::accepts(header(req, ACCEPT.as_str())).sse {
        return Err(HttpError::NotAcceptable(
            "GET needs Accept: text/event-stream",
        ));
    }
    let keepalive = app.config.keepalive;
    let resumed = header(req, "last-event-id")
        .and_then(sse::parse_event_id)
        .and_then(|(stream, seq)| Some((session.stream(stream)?, seq)));
    if let Some((stream, seq)) = resumed {
        tracing::debug!(mcp.session.id = %session.id, sse.stream = stream.id, sse.seq = seq,
            "stream resumed");
        return Ok(sse_stream(SseBody::new(
            stream.attach(Some(seq), None),
            keepalive,
        )));
    }
    if session.standalone.has_subscriber() {
        return Err(HttpError::StreamConflict);
    }
    let prelude = sse::wants_priming(session.version())
        .then(|| sse::priming_event(sse::STANDALONE, app.config.sse_retry_ms));
    let subscriber = session.standalone.attach(None, prelude);
    Ok(sse_stream(SseBody::new(subscriber, keepalive)))
}

/// Ends the session and kills its child (whole process group).
pub async fn delete(
    app: &App,
    req: &Request<Incoming>,
    user: &str,
) -> Result<Response<ResponseBody>, HttpError> {
    let session = session_of(app, req, user)?;
    if let Some(session) = app.sessions.remove(&session.id) {
        session.stop(STOP_WAIT).await;
        tracing::info!(mcp.session.id = %session.id, "session deleted by the client");
    }
    Ok(empty(StatusCode::NO_CONTENT))
}
