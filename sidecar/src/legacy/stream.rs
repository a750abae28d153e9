//! `GET` on the MCP endpoint: the standalone SSE stream of a legacy session (MCP spec
//! "Transports" > "Listening for Messages from the Server"), or the resumption of any of its
//! streams with `Last-Event-ID` ("Resumability and Redelivery").

use hyper::body::Incoming;
use hyper::header::ACCEPT;
use hyper::{Request, Response};

use crate::app::App;
use crate::error::HttpError;
use crate::http::body::ResponseBody;
use crate::http::header;
use crate::http::response::sse_stream;
use crate::http::sse::SseBody;
use crate::protocol::headers;
use crate::protocol::sse;

/// Opens the standalone stream, or resumes the stream named by `Last-Event-ID`.
pub fn get(
    app: &App,
    req: &Request<Incoming>,
    user: &str,
) -> Result<Response<ResponseBody>, HttpError> {
    let session = app.sessions.named(req, user)?;
    if !headers::accepts(header(req, ACCEPT.as_str())).sse {
        return Err(HttpError::NotAcceptable(
            "GET needs Accept: text/event-stream",
        ));
    }
    let keepalive = app.config.keepalive;
    let resumed = match header(req, "last-event-id").and_then(sse::parse_event_id) {
        // A stream this session no longer holds (or never had) cannot be resumed: opening the
        // standalone stream instead would leave the client waiting for answers that never come
        // (MCP basic/transports "Resumability and Redelivery": no replay from another stream).
        Some((stream, seq)) => Some((
            session.stream(stream).ok_or(HttpError::InvalidMessage(
                "Last-Event-ID names no stream this session still holds",
            ))?,
            seq,
        )),
        None => None,
    };
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
    let prelude = sse::prelude(session.version(), sse::STANDALONE, app.config.sse_retry_ms);
    let subscriber = session.standalone.attach(None, prelude);
    Ok(sse_stream(SseBody::new(subscriber, keepalive)))
}
