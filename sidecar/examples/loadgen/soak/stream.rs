//! The GET side of a legacy session (MCP basic/transports "Streamable HTTP"): the standalone stream
//! ("Listening for Messages from the Server") and the resumption of a broken stream with
//! `Last-Event-ID` ("Resumability and Redelivery"), plus a POST whose answer stream the client
//! drops on purpose right after its priming event, to be resumed.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;

use crate::error::Error;
use crate::http::{read_sse_response, status_error};
use crate::session::HttpSession;
use crate::sse::SseParser;
use crate::workload::Tool;

const SSE_ONLY: &str = "text/event-stream";

/// A GET on the session's endpoint; 200 gives the event stream's body.
async fn get(session: &HttpSession, last_event_id: Option<&str>) -> Result<Incoming, Error> {
    let endpoint = &session.endpoint;
    let mut request = endpoint
        .request(Method::GET)
        .header(ACCEPT, SSE_ONLY)
        .header("mcp-protocol-version", &session.version);
    if let Some(id) = &session.id {
        request = request.header("mcp-session-id", id);
    }
    if let Some(last) = last_event_id {
        request = request.header("last-event-id", last);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let response = tokio::time::timeout(endpoint.timeout(), endpoint.send(request))
        .await
        .map_err(|_| Error::Timeout(endpoint.timeout()))??;
    if response.status() != hyper::StatusCode::OK {
        return Err(status_error(response).await);
    }
    Ok(response.into_body())
}

/// Resumes the stream that broke after event `last_event_id` and reads it up to the response to
/// request `id` (replayed from the server's buffer or delivered live), within the deadline.
pub async fn resume(session: &HttpSession, last_event_id: &str, id: u64) -> Result<Value, Error> {
    let timeout = session.endpoint.timeout();
    let read = async {
        let body = get(session, Some(last_event_id)).await?;
        read_sse_response(body, id).await.map(|(answer, _)| answer)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| Error::Timeout(timeout))?
}

/// POSTs `tools/call` `id` asking for an event stream and returns the id of its first event (the
/// priming event of MCP 2025-11-25), dropping the connection there: the answer is left for
/// [`resume`] to fetch.
pub async fn post_and_drop(session: &HttpSession, tool: Tool, id: u64) -> Result<String, Error> {
    let endpoint = &session.endpoint;
    let body = Bytes::from(serde_json::to_vec(&tool.call(id))?);
    let mut request = endpoint
        .request(Method::POST)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, SSE_ONLY)
        .header("mcp-protocol-version", &session.version);
    if let Some(session_id) = &session.id {
        request = request.header("mcp-session-id", session_id);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let primed = async {
        let response = endpoint.send(request).await?;
        if response.status() != hyper::StatusCode::OK {
            return Err(status_error(response).await);
        }
        let mut body = response.into_body();
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(chunk) = frame.data_ref() {
                parser.push(chunk, &mut events);
            }
            // The first id, even when the answer came in the same chunk: the client acts as if
            // its connection broke right after the priming event.
            if let Some(first) = parser.first_event_id() {
                return Ok(first.to_owned());
            }
        }
        Err(Error::StreamCut(None))
    };
    tokio::time::timeout(endpoint.timeout(), primed)
        .await
        .map_err(|_| Error::Timeout(endpoint.timeout()))?
}

/// What a standalone stream delivered before it ended.
pub struct Watched {
    pub events: u64,
    pub last_event_id: Option<String>,
}

/// Opens the standalone stream (resuming after `last_event_id` if given).
pub async fn open_standalone(
    session: &HttpSession,
    last_event_id: Option<&str>,
) -> Result<Incoming, Error> {
    get(session, last_event_id).await
}

/// Reads a standalone stream until the server ends it. Every message on it must be a request or a
/// notification of the server: the answers to our POSTs never travel here (MCP basic/transports
/// "Listening for Messages from the Server": the server MUST NOT send a response on it unless
/// resuming a stream).
pub async fn watch(mut body: Incoming) -> Result<Watched, Error> {
    let mut parser = SseParser::default();
    let mut data = Vec::new();
    let mut events = 0;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(chunk) = frame.data_ref() {
            parser.push(chunk, &mut data);
        }
        for text in data.drain(..) {
            let message: Value = serde_json::from_str(&text)?;
            if message.get("method").is_none() {
                return Err(Error::Stray(crate::workload::short(&message)));
            }
            events += 1;
        }
    }
    Ok(Watched {
        events,
        last_event_id: parser.last_event_id().map(str::to_owned),
    })
}
