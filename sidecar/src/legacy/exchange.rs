//! One POST of requests inside a session (MCP spec "Transports" > "Sending Messages to the
//! Server"): the requests go to the child under the sidecar's own ids, and the answers come back
//! either as one JSON body (a batch answers with an array) or as an SSE stream that carries, in
//! order, the priming event, progress notifications and server-to-client requests raised while the
//! requests run, then the responses, then ends.
//!
//! We answer over SSE whenever the client accepts it, JSON otherwise: only a stream can carry
//! progress and sampling/elicitation/roots requests, and the client cannot tell beforehand which
//! calls need them. A client that goes away does not cancel its requests (MCP 2025-06-18:
//! disconnection is not cancellation); their events stay buffered for `Last-Event-ID`.
//!
//! Most calls finish in well under a millisecond, so an SSE answer first waits up to
//! `QUICK_ANSWER` for the whole exchange: if everything is answered by then (and nothing such as
//! progress or a sampling request came first), the complete event stream goes out as one buffer,
//! costing no more than JSON. Otherwise the events so far are sent and the stream stays live.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::App;
use crate::child::Child;
use crate::child::pending::Delivery;
use crate::error::HttpError;
use crate::http::body::ResponseBody;
use crate::http::response::{json_response, sse_response, sse_stream};
use crate::http::sse::SseBody;
use crate::legacy::resumable::SseStream;
use crate::legacy::session::Session;
use crate::protocol::jsonrpc::{self, Envelope, RpcError};
use crate::protocol::modern::ClientCaps;
use crate::protocol::sse;

/// How long an SSE answer waits to go out as one buffer (see the module docs).
const QUICK_ANSWER: Duration = Duration::from_millis(25);

/// Own ids still waiting; whatever is left when this is dropped (the client went away before a
/// stream existed) is withdrawn and the child is told to cancel, so the concurrency budget is not
/// leaked. Dropping it also retires the exchange's SSE stream.
struct Outstanding {
    child: Arc<Child>,
    ids: Vec<u64>,
    stream: Option<(Arc<Session>, Arc<SseStream>)>,
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        if let Some((session, stream)) = self.stream.take() {
            self.child.peer().remove_stream(stream.id);
            stream.finish();
            session.release_stream();
        }
        for own in self.ids.drain(..) {
            if self.child.peer().fail(
                own,
                RpcError::new(jsonrpc::REQUEST_CANCELLED, "client went away"),
            ) {
                self.child.notify_cancelled(own, "client disconnected");
            }
        }
    }
}

/// Forwards `requests` and answers them over SSE (`sse`) or JSON.
pub async fn start(
    app: &Arc<App>,
    session: Arc<Session>,
    requests: &[Envelope<'_>],
    sse: bool,
    batch: bool,
) -> Response<ResponseBody> {
    let Some(child) = session.child() else {
        return HttpError::SpawnFailed.into_response();
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let stream = sse.then(|| session.open_stream());
    if let Some(stream) = &stream {
        child.peer().add_stream(stream.id, &tx, ClientCaps::ALL);
    }
    let mut outstanding = Outstanding {
        child: child.clone(),
        ids: Vec::with_capacity(requests.len()),
        stream: stream.clone().map(|s| (session.clone(), s)),
    };
    let mut refused = Vec::new();
    let limit = app.config.max_concurrent_requests;
    for env in requests {
        let Some(client_id) = env.id else { continue };
        let progress = if sse {
            jsonrpc::progress_token(env.params)
        } else {
            None
        };
        match child
            .peer()
            .register(session.tag, client_id, &tx, progress, limit)
        {
            Ok(own) => {
                outstanding.ids.push(own);
                if !child
                    .send(jsonrpc::request_line(own, env.method(), env.params))
                    .await
                {
                    child
                        .peer()
                        .fail(own, RpcError::server_gone("mcp server exited"));
                }
            }
            Err(why) => refused.push(RpcError::from(why).response(Some(client_id))),
        }
    }
    drop(tx);
    let deadline = Instant::now() + app.config.request_timeout;
    let Some(stream) = stream else {
        let mut answers = refused;
        let mut rx = rx;
        collect(app, &mut rx, &mut outstanding, deadline, |d| {
            if let Delivery::Response { body, .. } = d {
                answers.push(body);
            }
        })
        .await;
        return json_response(StatusCode::OK, join(answers, batch));
    };
    let prelude = sse::prelude(session.version(), stream.id, app.config.sse_retry_ms);
    let mut rx = rx;
    let quick = (Instant::now() + QUICK_ANSWER).min(deadline);
    let mut live = false;
    for body in refused {
        stream.push(&body);
    }
    while !outstanding.ids.is_empty() && !live {
        match tokio::time::timeout_at(quick, rx.recv()).await {
            Ok(Some(Delivery::Response { own, body, .. })) => {
                outstanding.ids.retain(|id| *id != own);
                stream.push(&body);
            }
            // Progress or a server-to-client request: the client needs it now.
            Ok(Some(Delivery::Message(body))) => {
                stream.push(&body);
                live = true;
            }
            Ok(None) => break,
            Err(_) => live = true,
        }
    }
    let mut subscriber = stream.attach(None, prelude);
    if !live {
        drop(outstanding); // retires the stream: the subscriber holds every event
        let mut all = BytesMut::new();
        while let Ok(event) = subscriber.try_recv() {
            all.put_slice(&event);
        }
        return sse_response(ResponseBody::full(all.freeze()));
    }
    let app2 = app.clone();
    tokio::spawn(async move {
        collect(&app2, &mut rx, &mut outstanding, deadline, |d| match d {
            Delivery::Response { body, .. } | Delivery::Message(body) => stream.push(&body),
        })
        .await;
    });
    sse_stream(SseBody::new(subscriber, app.config.keepalive))
}

/// Feeds deliveries to `sink` until every outstanding request is answered or the deadline passes
/// (then the rest time out: JSON-RPC error, `notifications/cancelled` to the child).
async fn collect(
    app: &App,
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    outstanding: &mut Outstanding,
    deadline: Instant,
    mut sink: impl FnMut(Delivery),
) {
    while !outstanding.ids.is_empty() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(delivery)) => {
                if let Delivery::Response { own, .. } = &delivery {
                    outstanding.ids.retain(|id| id != own);
                }
                sink(delivery);
            }
            Ok(None) => break,
            Err(_) => {
                for own in outstanding.ids.drain(..) {
                    if outstanding.child.time_out(own) {
                        app.metrics
                            .request_timeouts
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                // The timeout errors (or answers that raced them) are queued now.
                while let Ok(delivery) = rx.try_recv() {
                    sink(delivery);
                }
            }
        }
    }
}

/// One response, or a JSON array of them for a batch (JSON-RPC 2.0 §6).
fn join(answers: Vec<Bytes>, batch: bool) -> Bytes {
    if !batch {
        return answers.into_iter().next().unwrap_or_default();
    }
    let mut out = BytesMut::with_capacity(answers.iter().map(|a| a.len() + 1).sum::<usize>() + 2);
    out.put_u8(b'[');
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(answer);
    }
    out.put_u8(b']');
    out.freeze()
}
