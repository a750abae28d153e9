//! One stateless request on a child, from its start (or its resumption with `requestState`) to its
//! answer (MCP 2026-07-28 "Transports" > "Streamable HTTP" > "Sending Messages to the Server").
//!
//! The answer is JSON, with the HTTP status the error code calls for, unless something must be
//! streamed first: when the child sends a notification for the request (progress) or has been
//! quiet for the keep-alive interval, and the client accepts SSE, the answer becomes an SSE
//! stream (from the start when the client accepts SSE only) (notifications, keep-alives, then the response). Closing that stream cancels the
//! child's call (`notifications/cancelled`); so does the client going away before it.
//!
//! The child's server-to-client requests become an `InputRequiredResult` (see `mrtr`): after the
//! first one, a `ping` to the child is the barrier that collects every request it raised in the
//! same breath (the child answers in order, so all of them are on stdout before the pong), then
//! the call is held for the client's retry.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::App;
use crate::child::pending::Delivery;
use crate::http::body::ResponseBody;
use crate::http::response::{json_response, sse_stream};
use crate::http::sse::SseBody;
use crate::modern::mrtr::{ChildCall, Held, InputRequest};
use crate::protocol::headers::Accepts;
use crate::protocol::jsonrpc::{self, Envelope, Kind, RpcError};
use crate::protocol::modern::{self, ClientCaps};
use crate::protocol::request_state::Binding;
use crate::protocol::sse;

/// Events queued towards a client whose stream is slow.
const STREAM_QUEUE: usize = 64;

/// A stateless request being answered.
pub struct Call {
    pub call: ChildCall,
    pub client_id: Box<RawValue>,
    pub method: String,
    /// `Mcp-Name`'s value: what a retry must name as well.
    pub name: String,
    pub user: String,
    pub caps: ClientCaps,
    /// Whether the child's requests may become input requests (not in shared mode).
    pub takes_input: bool,
    /// `inputResponses` of this request that no request of the child has taken yet.
    pub responses: HashMap<String, Box<RawValue>>,
    /// The held call this continues (its id and round), on a retry.
    pub held: Option<(String, u32)>,
    /// Own id of the `ping` collecting the child's requests, while one is out.
    barrier: Option<u64>,
}

/// How driving a call ended.
enum Next {
    /// The JSON-RPC response for the client, and its error code when it is an error.
    Answer(Bytes, Option<i64>),
    /// The child waits for input: hold the call.
    Hold,
    /// Switch to SSE, sending this notification first (if any).
    Stream(Option<Bytes>),
    /// The client closed its stream.
    Gone,
}

impl Call {
    pub fn new(
        call: ChildCall,
        client_id: &RawValue,
        method: &str,
        name: &str,
        user: &str,
    ) -> Self {
        Self {
            takes_input: call.stream.is_some(),
            call,
            client_id: client_id.to_owned(),
            method: method.to_owned(),
            name: name.to_owned(),
            user: user.to_owned(),
            caps: ClientCaps::default(),
            responses: HashMap::new(),
            held: None,
            barrier: None,
        }
    }

    /// A retry continuing `held`: the child's requests it answers go to the child; the call is
    /// answered to the retry's id from now on.
    pub fn resume(held: Held, client_id: &RawValue, caps: ClientCaps) -> Self {
        let Held {
            id,
            round,
            user,
            method,
            name,
            call,
            ..
        } = held;
        let peer = call.child.peer();
        peer.rebind(call.own, client_id);
        if let Some(stream) = call.stream {
            peer.remove_stream(stream);
            peer.add_stream(stream, &call.tx, caps);
        }
        let mut resumed = Self::new(call, client_id, &method, &name, &user);
        resumed.caps = caps;
        resumed.held = Some((id, round));
        resumed
    }

    /// Answers the child's waiting requests from `responses` (the rest stay for requests to come).
    pub fn take_responses(&mut self, responses: HashMap<String, Box<RawValue>>) {
        self.responses = responses;
        for request in std::mem::take(&mut self.call.waiting) {
            match self.responses.remove(&request.key) {
                Some(answer) => self.call.answer_child(&request.id, Some(&answer), None),
                None => self.call.waiting.push(request),
            }
        }
    }

    /// Sends the `ping` barrier; false when the child cannot take it.
    fn start_barrier(&mut self) -> bool {
        let peer = self.call.child.peer();
        let Ok(own) = peer.register(0, RawValue::NULL, &self.call.tx, None, usize::MAX) else {
            return false;
        };
        if !self
            .call
            .child
            .try_send(jsonrpc::request_line(own, "ping", None))
        {
            peer.fail(own, RpcError::server_gone("mcp server not reading"));
            return false;
        }
        self.barrier = Some(own);
        true
    }

    /// A request of the child while this call runs (MCP 2026-07-28 `InputRequest`): answered
    /// from the client's `inputResponses`, refused when the client cannot answer it, or kept for
    /// the `InputRequiredResult`. `Some(Hold)` when it must be asked for at once.
    fn on_server_request(&mut self, env: &Envelope<'_>) -> Option<Next> {
        let id = env.id?;
        let method = env.method();
        let refuse = |code, message: String| RpcError::new(code, message);
        let refusal = match (self.caps.allows(method), self.takes_input) {
            (None, _) => Some(refuse(
                jsonrpc::METHOD_NOT_FOUND,
                format!("{method} is not a request a server can make of a stateless client"),
            )),
            (Some(false), _) => Some(
                refuse(
                    jsonrpc::MISSING_CAPABILITY,
                    format!("{method}: the client did not declare the capability it needs"),
                )
                .with_data(serde_json::json!({
                    "requiredCapabilities": ClientCaps::required_for(method)
                })),
            ),
            (Some(true), false) => Some(refuse(
                jsonrpc::METHOD_NOT_FOUND,
                format!("{method}: input requests are not offered in shared session mode"),
            )),
            (Some(true), true) => None,
        };
        if let Some(error) = refusal {
            self.call.answer_child(id, None, Some(&error));
            return None;
        }
        let key = serde_json::from_str::<String>(id.get()).unwrap_or_else(|_| id.get().to_owned());
        if let Some(answer) = self.responses.remove(&key) {
            self.call.answer_child(id, Some(&answer), None);
            return None;
        }
        self.call.waiting.push(InputRequest {
            key,
            id: id.to_owned(),
            method: method.to_owned(),
            params: env.params.map(ToOwned::to_owned),
        });
        match self.barrier.is_some() || self.start_barrier() {
            true => None,
            false => Some(Next::Hold),
        }
    }

    /// Runs until the call is answered, must be held, times out, or (`stream` given: the
    /// client's SSE channel) the client goes away. Without a stream, notifications and the
    /// keep-alive interval end it with `Next::Stream` when the client takes SSE.
    async fn drive(
        &mut self,
        app: &App,
        stream: Option<&mpsc::Sender<Bytes>>,
        can_stream: bool,
        deadline: Instant,
    ) -> Next {
        if !self.call.waiting.is_empty() && self.barrier.is_none() && !self.start_barrier() {
            return Next::Hold;
        }
        // One timer: the request's deadline, or (while the answer may still become a stream) the
        // end of the quiet interval if that comes first.
        let quiet = (stream.is_none() && can_stream)
            .then(|| Instant::now() + app.config.keepalive)
            .filter(|quiet| *quiet < deadline);
        let wake = quiet.unwrap_or(deadline);
        let gone = async {
            match stream {
                Some(tx) => tx.closed().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(gone);
        loop {
            let delivery = tokio::select! {
                delivery = tokio::time::timeout_at(wake, self.call.rx.recv()) => match delivery {
                    Ok(delivery) => delivery,
                    Err(_) if quiet.is_some() => return Next::Stream(None),
                    Err(_) => {
                        app.metrics.request_timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let error = RpcError::new(jsonrpc::REQUEST_TIMEOUT, "mcp server did not answer in time");
                        return Next::Answer(error.response(Some(&self.client_id)), Some(error.code));
                    }
                },
                _ = &mut gone => return Next::Gone,
            };
            match delivery {
                Some(Delivery::Response { own, body, code }) if own == self.call.own => {
                    self.call.answered();
                    return Next::Answer(body, code);
                }
                Some(Delivery::Response { own, .. }) => {
                    if self.barrier == Some(own) {
                        self.barrier = None;
                        if !self.call.waiting.is_empty() {
                            return Next::Hold;
                        }
                    }
                }
                Some(Delivery::Message(line)) => {
                    let Some(env) = std::str::from_utf8(&line)
                        .ok()
                        .and_then(|t| Envelope::parse(t).ok())
                    else {
                        continue;
                    };
                    if env.kind() == Kind::Request {
                        if let Some(next) = self.on_server_request(&env) {
                            return next;
                        }
                    } else if let Some(tx) = stream {
                        let _ = tx.send(sse::plain_event(&line)).await;
                    } else if can_stream {
                        return Next::Stream(Some(line));
                    }
                }
                None => {
                    let error = RpcError::server_gone("mcp server exited");
                    return Next::Answer(error.response(Some(&self.client_id)), Some(error.code));
                }
            }
        }
    }

    /// Holds the call for the client's input; the `InputRequiredResult` response (or why the
    /// call could not be held).
    fn hold(self, app: &App) -> Bytes {
        let (id, round) = match self.held {
            Some((id, round)) => (Some(id), round),
            None => (None, 0),
        };
        let binding = Binding {
            user: &self.user,
            method: &self.method,
            name: &self.name,
        };
        match app.modern.held.hold(id, round, binding, self.call) {
            Ok(result) => jsonrpc::response(&self.client_id, Some(&result), None),
            Err(error) => error.response(Some(&self.client_id)),
        }
    }
}

/// The HTTP status of an answer (MCP 2026-07-28 "Transports" > "Error responses"); the result
/// was shaped for the stateless revision as it passed the child's peer (`Asker::Stateless`).
fn status(code: Option<i64>) -> StatusCode {
    code.and_then(|c| StatusCode::from_u16(modern::http_status(c)).ok())
        .unwrap_or(StatusCode::OK)
}

/// Answers `call`: JSON when it finishes quietly, an SSE stream once something must be streamed
/// (from the start when the client takes SSE only).
pub async fn answer(app: Arc<App>, mut call: Call, accepts: Accepts) -> Response<ResponseBody> {
    let deadline = Instant::now() + app.config.request_timeout;
    let json_phase = match accepts.json {
        true => call.drive(&app, None, accepts.sse, deadline).await,
        false => Next::Stream(None),
    };
    let first = match json_phase {
        Next::Answer(body, code) => return json_response(status(code), body),
        Next::Hold => return json_response(StatusCode::OK, call.hold(&app)),
        Next::Stream(first) => first,
        // Without a stream nothing reports the client gone (a closed connection drops this
        // future instead); answered like a server that went away, should it ever happen.
        Next::Gone => {
            let error = RpcError::server_gone("the answer stream ended");
            return json_response(StatusCode::OK, error.response(Some(&call.client_id)));
        }
    };
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    if let Some(line) = first {
        let _ = tx.try_send(sse::plain_event(&line));
    }
    let keepalive = app.config.keepalive;
    tokio::spawn(async move {
        let last = match call.drive(&app, Some(&tx), false, deadline).await {
            Next::Answer(body, _) => body,
            Next::Hold => call.hold(&app),
            // Dropping the call cancels it.
            Next::Gone | Next::Stream(_) => return,
        };
        let _ = tx.send(sse::plain_event(&last)).await;
    });
    sse_stream(SseBody::new(rx, keepalive))
}
