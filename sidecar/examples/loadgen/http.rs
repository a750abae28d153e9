//! The Streamable HTTP client side (MCP 2025-06-18 basic/transports "Streamable HTTP"): POST one
//! JSON-RPC message, read the answer as `application/json` or as a `text/event-stream` whose
//! response event carries our id, DELETE the session at the end.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::error::Error;
use crate::session::Framing;
use crate::sse::SseParser;

/// How long the rest of an SSE stream may take to close once our response arrived; past that the
/// connection is dropped instead of reused.
const DRAIN_AFTER_RESPONSE: Duration = Duration::from_secs(1);

/// One MCP endpoint reached through a shared, pooled HTTP/1.1 client.
pub struct Endpoint {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    timeout: Duration,
    /// `Authorization: Bearer` sent with every request (the gateway's edge asks for one).
    token: Option<String>,
}

/// The outcome of one POST.
pub struct Posted {
    /// The JSON-RPC response to our request (None for notifications).
    pub message: Option<Value>,
    pub framing: Option<Framing>,
    pub session_id: Option<String>,
    /// When the response was complete (before any trailing SSE bytes were drained).
    pub answered_at: Instant,
}

/// Headers of a session that every POST after `initialize` repeats; a stateless request (MCP
/// 2026-07-28 "Standard headers") repeats its method and name instead of a session id.
pub struct SessionHeaders<'a> {
    pub session_id: Option<&'a str>,
    pub protocol_version: Option<&'a str>,
    pub accept: &'a str,
    /// `Mcp-Method` and `Mcp-Name`.
    pub routing: Option<(&'a str, &'a str)>,
}

impl Endpoint {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, Error> {
        let uri: Uri = url.parse().map_err(|_| Error::Url(url.into()))?;
        let mut connector = HttpConnector::new();
        // Requests are small and latency-bound: Nagle's algorithm would add delayed-ACK stalls.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        Ok(Self {
            client,
            uri,
            timeout,
            token: None,
        })
    }

    /// The same endpoint with a bearer token on every request (RFC 6750 §2.1).
    pub fn with_token(mut self, token: String) -> Self {
        self.token = Some(token);
        self
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The per-request deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A request to the endpoint with the bearer token, if any.
    pub fn request(&self, method: Method) -> hyper::http::request::Builder {
        let builder = Request::builder().method(method).uri(self.uri.clone());
        match &self.token {
            Some(token) => builder.header(AUTHORIZATION, format!("Bearer {token}")),
            None => builder,
        }
    }

    /// Sends `request` on the pooled client (no deadline: the caller sets one).
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, Error> {
        self.client
            .request(request)
            .await
            .map_err(|e| Error::Connect(format!("{e:?}")))
    }

    /// POSTs `message`; `id` is the request id to wait for, None for a notification (2xx, no body
    /// needed).
    pub async fn post(
        &self,
        headers: &SessionHeaders<'_>,
        message: &Value,
        id: Option<u64>,
    ) -> Result<Posted, Error> {
        let body = Bytes::from(serde_json::to_vec(message)?);
        let mut request = self
            .request(Method::POST)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, headers.accept);
        if let Some(session) = headers.session_id {
            request = request.header("mcp-session-id", session);
        }
        if let Some(version) = headers.protocol_version {
            request = request.header("mcp-protocol-version", version);
        }
        if let Some((method, name)) = headers.routing {
            request = request
                .header("mcp-method", method)
                .header("mcp-name", name);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| Error::Malformed(e.to_string()))?;
        tokio::time::timeout(self.timeout, self.exchange(request, id))
            .await
            .map_err(|_| Error::Timeout(self.timeout))?
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        id: Option<u64>,
    ) -> Result<Posted, Error> {
        let response = self.send(request).await?;
        let status = response.status();
        let session_id = header(&response, "mcp-session-id");
        let content_type = header(&response, CONTENT_TYPE.as_str()).unwrap_or_default();
        let Some(id) = id else {
            let _ = response.into_body().collect().await;
            return if status.is_success() {
                Ok(Posted {
                    message: None,
                    framing: None,
                    session_id,
                    answered_at: Instant::now(),
                })
            } else {
                Err(Error::Status {
                    status: status.as_u16(),
                    body: String::new(),
                })
            };
        };
        if status != hyper::StatusCode::OK {
            return Err(status_error(response).await);
        }
        let (message, framing, answered_at) = if content_type.starts_with("application/json") {
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Connect(e.to_string()))?
                .to_bytes();
            (
                serde_json::from_slice(&bytes)?,
                Framing::Json,
                Instant::now(),
            )
        } else if content_type.starts_with("text/event-stream") {
            let (message, at) = read_sse_response(response.into_body(), id).await?;
            (message, Framing::Sse, at)
        } else {
            return Err(Error::ContentType(content_type));
        };
        Ok(Posted {
            message: Some(message),
            framing: Some(framing),
            session_id,
            answered_at,
        })
    }

    /// Ends a session (MCP 2025-06-18 basic/transports "Session Management": DELETE with the
    /// session id). 405 means the server does not let clients end sessions; both are fine here.
    pub async fn delete(&self, session_id: &str) -> Result<(), Error> {
        let request = self
            .request(Method::DELETE)
            .header("mcp-session-id", session_id)
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Malformed(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| Error::Timeout(self.timeout))??;
        let _ = response.into_body().collect().await;
        Ok(())
    }
}

/// An answer other than 200 as an error, with the start of its body.
pub async fn status_error(response: Response<Incoming>) -> Error {
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map(|b| b.to_bytes());
    let body = body.map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned());
    Error::Status {
        status,
        body: body.unwrap_or_default(),
    }
}

pub fn header(response: &Response<Incoming>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads SSE events until the JSON-RPC response with id `id`; notifications and the priming event
/// before it are skipped. Then drains the rest of the stream briefly so the connection is reused,
/// checking that no second response to `id` follows; the instant returned is when the response
/// arrived, before that drain. A stream that ends or breaks first is [`Error::StreamCut`] with the
/// last event id seen, from which the client may resume (MCP basic/transports "Resumability and
/// Redelivery").
pub async fn read_sse_response(mut body: Incoming, id: u64) -> Result<(Value, Instant), Error> {
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    loop {
        let cut = || Error::StreamCut(parser.last_event_id().map(str::to_owned));
        let Some(Ok(frame)) = body.frame().await else {
            return Err(cut());
        };
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        parser.push(chunk, &mut events);
        let mut answer = None;
        for data in events.drain(..) {
            let message: Value = serde_json::from_str(&data)?;
            if is_response_to(&message, id) {
                if answer.is_some() {
                    return Err(Error::Duplicate(id));
                }
                answer = Some(message);
            }
        }
        if let Some(message) = answer {
            let answered_at = Instant::now();
            drain_checked(body, parser, id).await?;
            return Ok((message, answered_at));
        }
    }
}

/// Whether `message` is a JSON-RPC response (not a request or notification) with id `id`.
pub fn is_response_to(message: &Value, id: u64) -> bool {
    message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some())
        && message.get("id").and_then(Value::as_u64) == Some(id)
}

/// Reads what follows a response on its stream for at most [`DRAIN_AFTER_RESPONSE`]: a second
/// response to the same request is an error (nothing is answered twice).
async fn drain_checked(mut body: Incoming, mut parser: SseParser, id: u64) -> Result<(), Error> {
    let mut events = Vec::new();
    let rest = async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(chunk) = frame.data_ref() {
                parser.push(chunk, &mut events);
            }
            for data in events.drain(..) {
                let message: Value = serde_json::from_str(&data)?;
                if is_response_to(&message, id) {
                    return Err(Error::Duplicate(id));
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(DRAIN_AFTER_RESPONSE, rest)
        .await
        .unwrap_or(Ok(()))
}

/// Polls `url` with GET until the server answers with any status, for at most `limit`.
pub async fn wait_ready(url: &str, limit: Duration, alive: impl Fn() -> bool) -> Result<(), Error> {
    let uri: Uri = url.parse().map_err(|_| Error::Url(url.into()))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let deadline = Instant::now() + limit;
    let mut interval = tokio::time::interval(Duration::from_millis(50));
    loop {
        interval.tick().await;
        let attempt = client.get(uri.clone());
        if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(2), attempt).await {
            let _ = response.into_body().collect().await;
            return Ok(());
        }
        if !alive() {
            return Err(Error::Exited);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(limit));
        }
    }
}
