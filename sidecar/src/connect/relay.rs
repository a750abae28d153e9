//! One stdio client relayed to one MCP server of the gateway. Requests run concurrently (each in
//! its own task; answers go to stdout as they come), notifications and responses are sent in the
//! order the client wrote them. Legacy messages travel in the session; requests of the stateless
//! revision (MCP 2026-07-28) go on their own with the routing headers that revision requires.
//! Every failure of a request becomes a JSON-RPC error response with its id.

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::value::RawValue;
use tokio::sync::Mutex;

use super::error::ConnectError;
use super::gateway::{ACCEPT_BOTH, Body, headers};
use super::session::{INITIALIZED, Link};
use super::{route, standalone};
use crate::protocol::jsonrpc::{self, Envelope, Kind, RpcError};
use crate::protocol::modern;

/// Times a broken answer stream is resumed before its request fails.
const RESUME_ATTEMPTS: u32 = 3;
/// The longest wait before resuming, whatever `retry` the server asked for.
const MAX_RESUME_DELAY_MS: u64 = 10_000;

pub struct Relay {
    pub link: Arc<Link>,
    /// The standalone stream's task, once started.
    pub standalone: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// How a message went.
enum Sent {
    Done,
    /// The gateway does not know the session (404): start a new one and send again.
    SessionGone(String),
}

impl Relay {
    /// Handles one stdin line: requests are spawned, everything else is sent before the next line
    /// is read (so the gateway sees notifications in the client's order).
    pub async fn line(self: &Arc<Self>, line: Bytes, tasks: &mut tokio::task::JoinSet<()>) {
        let Ok(text) = std::str::from_utf8(&line) else {
            return self
                .reply(None, RpcError::new(jsonrpc::PARSE_ERROR, "not UTF-8"))
                .await;
        };
        let env = match Envelope::parse(text) {
            Ok(env) => env,
            Err(e) => {
                let message = if text.trim_start().starts_with('[') {
                    "JSON-RPC batches are not supported".to_owned()
                } else {
                    format!("parse error: {e}")
                };
                return self
                    .reply(None, RpcError::new(jsonrpc::PARSE_ERROR, message))
                    .await;
            }
        };
        let id = env.id.map(|i| i.to_owned());
        match env.kind() {
            Kind::Invalid => {
                let e = RpcError::new(jsonrpc::INVALID_REQUEST, "not a JSON-RPC 2.0 message");
                self.reply(id.as_deref(), e).await;
            }
            Kind::Request if env.method() == "initialize" => {
                if let Err(e) = self.initialize(line.clone(), true).await {
                    self.reply(id.as_deref(), e.rpc()).await;
                }
            }
            Kind::Request => {
                let stateless = modern::is_stateless(None, env.method(), env.params);
                let route = if stateless {
                    route::stateless(env.method(), env.params)
                } else {
                    Ok(None)
                };
                let relay = Arc::clone(self);
                tasks.spawn(async move {
                    let result = match route {
                        Ok(route) => relay.request(line, id.as_deref(), route).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = result {
                        relay.reply(id.as_deref(), e.rpc()).await;
                    }
                });
            }
            Kind::Notification | Kind::Response => {
                let initialized = env.method() == "notifications/initialized";
                if let Err(e) = self.request(line, None, None).await {
                    tracing::warn!(error = %e, "a notification or response was not delivered");
                }
                if initialized {
                    self.link.session.lock().await.initialized = true;
                    standalone::start(&self.standalone, Arc::clone(&self.link)).await;
                }
            }
        }
    }

    /// Writes an error response for `id` (JSON-RPC 2.0 §5: `null` when unknown).
    pub async fn reply(&self, id: Option<&RawValue>, e: RpcError) {
        self.link.out.send(e.response(id)).await;
    }

    /// `initialize`: a new session; the answer goes to the client only for its own request
    /// (`to_client`), not when the relay starts a session again after a 404.
    async fn initialize(&self, line: Bytes, to_client: bool) -> Result<(), ConnectError> {
        let answer = self
            .link
            .gw
            .send(
                Method::POST,
                headers(ACCEPT_BOTH, None, None),
                Some(line.clone()),
            )
            .await?;
        let session = answer.session.clone();
        let status = answer.status;
        let mut response = None;
        self.deliver(answer, Some(&mut response), to_client).await?;
        let response = response.ok_or_else(|| ConnectError::StreamEnded("initialize".into()))?;
        if !status.is_success() {
            return Ok(());
        }
        let version = Envelope::parse(std::str::from_utf8(&response).unwrap_or(""))
            .ok()
            .and_then(|e| e.result.and_then(jsonrpc::negotiated_version));
        let mut s = self.link.session.lock().await;
        s.id = session;
        s.version = version;
        s.initialize = Some(line);
        s.generation += 1;
        self.link.generation.send_replace(s.generation);
        Ok(())
    }

    /// Sends one message (a request when `id` is given) and delivers the answer; a lost session
    /// is started again with the client's `initialize` and the message sent once more.
    async fn request(
        &self,
        line: Bytes,
        id: Option<&RawValue>,
        route: Option<route::Route>,
    ) -> Result<(), ConnectError> {
        let mut retried = false;
        loop {
            let h = match &route {
                Some(r) => r.headers(),
                None => {
                    let s = self.link.session.lock().await;
                    headers(ACCEPT_BOTH, s.id.as_deref(), s.version.as_deref())
                }
            };
            let answer = self
                .link
                .gw
                .send(Method::POST, h, Some(line.clone()))
                .await?;
            match self.sent(answer, id, route.is_none()).await? {
                Sent::Done => return Ok(()),
                Sent::SessionGone(stale) if !retried => {
                    retried = true;
                    self.restart_session(&stale).await?;
                }
                Sent::SessionGone(_) => {
                    return Err(ConnectError::SessionLost(
                        "the new session was lost too".into(),
                    ));
                }
            }
        }
    }

    async fn sent(
        &self,
        answer: super::gateway::Answer,
        id: Option<&RawValue>,
        in_session: bool,
    ) -> Result<Sent, ConnectError> {
        if answer.status == StatusCode::NOT_FOUND && in_session {
            let s = self.link.session.lock().await;
            if let Some(stale) = s.id.clone() {
                return Ok(Sent::SessionGone(stale));
            }
        }
        let mut response = None;
        let wanted = id.map(|_| &mut response);
        let status = answer.status;
        self.deliver(answer, wanted, true).await?;
        if id.is_some() && response.is_none() {
            return Err(if status.is_success() {
                ConnectError::StreamEnded("no response in the answer".into())
            } else {
                ConnectError::Status {
                    status: status.as_u16(),
                    detail: "no JSON-RPC response".into(),
                }
            });
        }
        Ok(Sent::Done)
    }

    /// Passes an answer's messages to the client; `response` (when asked for) receives the first
    /// JSON-RPC response in it. An error status with a JSON-RPC error body is that response.
    async fn deliver(
        &self,
        answer: super::gateway::Answer,
        mut response: Option<&mut Option<Bytes>>,
        to_client: bool,
    ) -> Result<(), ConnectError> {
        match answer.body {
            Body::Whole(bytes) if answer.status == StatusCode::ACCEPTED || bytes.is_empty() => {
                if !answer.status.is_success() {
                    return Err(ConnectError::Status {
                        status: answer.status.as_u16(),
                        detail: "empty answer".into(),
                    });
                }
                Ok(())
            }
            Body::Whole(bytes) => {
                let is_rpc = Envelope::parse(std::str::from_utf8(&bytes).unwrap_or(""))
                    .is_ok_and(|e| e.kind() == Kind::Response);
                if !is_rpc {
                    let detail =
                        String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
                    return Err(ConnectError::Status {
                        status: answer.status.as_u16(),
                        detail,
                    });
                }
                if let Some(slot) = response.as_deref_mut() {
                    *slot = Some(bytes.clone());
                }
                if to_client {
                    self.link.out.send(bytes).await;
                }
                Ok(())
            }
            Body::Stream(first) => {
                let mut resp = first;
                let mut resumed = 0;
                loop {
                    let (parser, ended) = self
                        .link
                        .gw
                        .events(resp, |data| {
                            let is_response =
                                Envelope::parse(&data).is_ok_and(|e| e.kind() == Kind::Response);
                            let bytes = Bytes::from(data);
                            let first =
                                is_response && response.as_ref().is_some_and(|r| r.is_none());
                            if first && let Some(slot) = response.as_deref_mut() {
                                *slot = Some(bytes.clone());
                            }
                            async move {
                                if to_client || !is_response {
                                    self.link.out.send(bytes).await;
                                }
                                true
                            }
                        })
                        .await;
                    let waiting = response.as_ref().is_some_and(|r| r.is_none());
                    // MCP 2025-11-25 "Resumability and Redelivery": a stream that broke before
                    // its response is resumed with GET and the last event id it carried.
                    let last = parser.last_id.filter(|id| !id.is_empty());
                    let (true, Some(last)) = (waiting && resumed < RESUME_ATTEMPTS, last) else {
                        return ended;
                    };
                    resumed += 1;
                    let delay = parser.retry_ms.unwrap_or(500).min(MAX_RESUME_DELAY_MS);
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    match self.resume(&last).await? {
                        Some(next) => resp = next,
                        None => return ended,
                    }
                }
            }
        }
    }

    /// The rest of a broken answer stream: `GET` with `Last-Event-ID` in the session; `None` when
    /// there is no session or the gateway cannot resume it.
    async fn resume(&self, last_id: &str) -> Result<Option<reqwest::Response>, ConnectError> {
        let s = self.link.session.lock().await.clone();
        let (Some(id), Ok(last)) = (s.id, HeaderValue::from_str(last_id)) else {
            return Ok(None);
        };
        let mut h = headers("text/event-stream", Some(&id), s.version.as_deref());
        h.remove("content-type");
        h.insert("last-event-id", last);
        tracing::info!("resuming an answer stream");
        let answer = self.link.gw.send(Method::GET, h, None).await?;
        Ok(match answer.body {
            Body::Stream(r) => Some(r),
            Body::Whole(_) => None,
        })
    }

    /// Starts a new session with the client's `initialize` after the gateway lost `stale`.
    async fn restart_session(&self, stale: &str) -> Result<(), ConnectError> {
        let (init, initialized) = {
            let s = self.link.session.lock().await;
            if s.id.as_deref() != Some(stale) {
                // Another request already started the new session.
                return Ok(());
            }
            (s.initialize.clone(), s.initialized)
        };
        let init = init
            .ok_or_else(|| ConnectError::SessionLost("the client never sent initialize".into()))?;
        tracing::info!("the gateway lost the session; starting a new one");
        self.initialize(init, false)
            .await
            .map_err(|e| ConnectError::SessionLost(e.to_string()))?;
        if initialized {
            let s = self.link.session.lock().await.clone();
            let h = headers(ACCEPT_BOTH, s.id.as_deref(), s.version.as_deref());
            self.link
                .gw
                .send(Method::POST, h, Some(Bytes::from_static(INITIALIZED)))
                .await?;
        }
        Ok(())
    }

    /// Ends the session (MCP "Session Management": a client that leaves SHOULD send DELETE).
    pub async fn close(&self) {
        if let Some(task) = self.standalone.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
        let s = self.link.session.lock().await.clone();
        if let Some(id) = s.id {
            let mut h = headers(ACCEPT_BOTH, Some(&id), s.version.as_deref());
            h.remove("content-type");
            let _ = self.link.gw.send(Method::DELETE, h, None).await;
        }
    }
}
