//! HTTP to the gateway (MCP spec "Transports" > "Streamable HTTP", client side): every request
//! carries the access token; a 401 gets the token renewed once (refresh, else login) and the
//! request sent again. Answers are read here: a JSON body, or an SSE stream whose events are
//! handed over one by one.

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use url::Url;

use super::error::ConnectError;
use super::oauth::Auth;
use super::sse::Parser;

pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// The gateway endpoint of one MCP server, with its credentials.
pub struct Gateway {
    pub http: reqwest::Client,
    pub url: Url,
    pub auth: Auth,
    /// Largest SSE event or JSON body accepted.
    pub max_message: usize,
}

/// An answer's body, as far as the caller needs to tell.
pub enum Body {
    /// `application/json` (or an error body): read whole.
    Whole(Bytes),
    /// `text/event-stream`: read event by event with [`Gateway::events`].
    Stream(reqwest::Response),
}

pub struct Answer {
    pub status: StatusCode,
    pub session: Option<String>,
    pub body: Body,
}

impl Gateway {
    /// Sends one request (with a token once there is one; once more after a 401).
    pub async fn send(
        &self,
        method: Method,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Answer, ConnectError> {
        let mut renewed = false;
        loop {
            let token = self.auth.token().await;
            let mut req = self
                .http
                .request(method.clone(), self.url.clone())
                .headers(headers.clone());
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let resp = req.send().await?;
            if resp.status() == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                let challenge = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                self.auth
                    .renew(token.as_deref(), challenge.as_deref())
                    .await?;
                continue;
            }
            return self.answer(resp).await;
        }
    }

    async fn answer(&self, resp: reqwest::Response) -> Result<Answer, ConnectError> {
        let status = resp.status();
        let session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        let body = if sse && status.is_success() {
            Body::Stream(resp)
        } else {
            Body::Whole(self.whole(resp).await?)
        };
        Ok(Answer {
            status,
            session,
            body,
        })
    }

    /// A body read whole, within the size limit.
    async fn whole(&self, resp: reqwest::Response) -> Result<Bytes, ConnectError> {
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_message as u64)
        {
            return Err(ConnectError::Protocol(format!(
                "an answer is larger than {} bytes",
                self.max_message
            )));
        }
        let mut out = Vec::new();
        let mut chunks = resp.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            out.extend_from_slice(&chunk?);
            if out.len() > self.max_message {
                return Err(ConnectError::Protocol(format!(
                    "an answer is larger than {} bytes",
                    self.max_message
                )));
            }
        }
        Ok(out.into())
    }

    /// Reads an SSE stream to its end, calling `each` with every event's data; returns the parser
    /// (its last event id and retry delay) and whether the stream ended cleanly.
    pub async fn events<F, Fut>(
        &self,
        resp: reqwest::Response,
        mut each: F,
    ) -> (Parser, Result<(), ConnectError>)
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut parser = Parser::new(self.max_message);
        let mut chunks = resp.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => return (parser, Err(e.into())),
            };
            let events = match parser.feed(&chunk) {
                Ok(events) => events,
                Err(too_long) => {
                    let e = ConnectError::Protocol(format!(
                        "an event is larger than {} bytes",
                        too_long.0
                    ));
                    return (parser, Err(e));
                }
            };
            for event in events {
                if !event.data.trim().is_empty() && !each(event.data).await {
                    return (parser, Ok(()));
                }
            }
        }
        (parser, Ok(()))
    }
}

/// Headers of a message POST or a GET stream.
pub fn headers(accept: &'static str, session: Option<&str>, version: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("accept", HeaderValue::from_static(accept));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let mut put = |name: &'static str, value: Option<&str>| {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(name, v);
        }
    };
    put("mcp-session-id", session);
    put("mcp-protocol-version", version);
    h
}
