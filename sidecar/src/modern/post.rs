//! `POST` of the stateless revision (MCP 2026-07-28): one request per POST, no session. The
//! request is checked in the order the revision gives (`_meta` -32602, routing headers -32020,
//! version -32022, then the method: unknown or removed -32601 with 404), then answered by the
//! sidecar (`server/discover`, `subscriptions/listen`) or by a child of the user's pool, resuming
//! a held call when it carries a `requestState`. A notification is accepted and dropped (202): the
//! revision defines none a client sends over HTTP (a client cancels by closing its stream).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderMap, HeaderName};
use hyper::{Response, StatusCode};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::app::App;
use crate::child::pending::{Asker, DeliveryTx};
use crate::error::HttpError;
use crate::http::answerable;
use crate::http::body::ResponseBody;
use crate::http::message::Post;
use crate::http::response::{empty, json_response};
use crate::metrics;
use crate::modern::exchange::{self, Call};
use crate::modern::mrtr::ChildCall;
use crate::modern::pools::StatelessPool;
use crate::modern::{discover, listen};
use crate::protocol::headers::Accepts;
use crate::protocol::jsonrpc::{self, Envelope, Kind, RpcError};
use crate::protocol::members::Members;
use crate::protocol::modern::{
    self, ClientCaps, FORWARDED, HEADER_METHOD, HEADER_NAME, HEADER_VERSION, INPUT_CAPABLE, Params,
    RoutingHeaders,
};
use crate::protocol::request_state::Binding;
use crate::protocol::{bridge, param_headers};

/// Registration ids of stateless calls in a child's peer: their own id with this bit, apart from
/// the ids legacy sessions use for their streams.
const STREAM_BIT: u64 = 1 << 63;

/// The routing headers' names, checked once at compile time rather than on every request.
static VERSION: HeaderName = HeaderName::from_static(HEADER_VERSION);
static METHOD: HeaderName = HeaderName::from_static(HEADER_METHOD);
static NAME: HeaderName = HeaderName::from_static(HEADER_NAME);

fn values<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Vec<&'h str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().map(str::trim).unwrap_or("\u{fffd}"))
        .collect()
}

/// `inputResponses`: an object whose members are results (objects); absent is none.
fn input_responses(raw: Option<&RawValue>) -> Result<HashMap<String, Box<RawValue>>, RpcError> {
    let Some(raw) = raw else {
        return Ok(HashMap::new());
    };
    let invalid = |what: String| RpcError::new(jsonrpc::INVALID_PARAMS, what);
    if !raw.get().trim_start().starts_with('{') {
        return Err(invalid("inputResponses must be an object".into()));
    }
    let map: HashMap<String, Box<RawValue>> =
        serde_json::from_str(raw.get()).map_err(|e| invalid(format!("inputResponses: {e}")))?;
    if let Some((key, _)) = map
        .iter()
        .find(|(_, v)| !v.get().trim_start().starts_with('{'))
    {
        return Err(invalid(format!(
            "inputResponses[{key:?}] must be a result object"
        )));
    }
    Ok(map)
}

pub async fn post(
    app: &Arc<App>,
    headers: &HeaderMap,
    post: Post<'_>,
    label: &mut usize,
) -> Result<Response<ResponseBody>, HttpError> {
    let invalid = |message: &'static str| HttpError::Stateless {
        id: None,
        error: RpcError::new(jsonrpc::INVALID_REQUEST, message),
    };
    if post.batch {
        *label = metrics::method_label(metrics::BATCH);
        return Err(invalid(
            "JSON-RPC batches are not part of the stateless revision",
        ));
    }
    let env = &post.messages[0];
    let id = match (env.kind(), env.id) {
        (Kind::Request, Some(id)) => id,
        (Kind::Notification, _) => {
            *label = metrics::method_label(metrics::NOTIFICATION);
            return Ok(empty(StatusCode::ACCEPTED));
        }
        _ => {
            *label = metrics::method_label(metrics::RESPONSE);
            return Err(invalid(
                "a stateless client posts requests only (input goes in inputResponses)",
            ));
        }
    };
    let method = env.method();
    *label = metrics::method_label(method);
    let fail = |error: RpcError| HttpError::Stateless {
        id: Some(id.to_owned()),
        error,
    };
    let params = Params::parse(env.params).map_err(fail)?;
    let meta = modern::request_meta(&params).map_err(fail)?;
    let name = params.routed_name(method).map_err(fail)?;
    let routing = RoutingHeaders {
        version: values(headers, &VERSION),
        method: values(headers, &METHOD),
        name: values(headers, &NAME),
    };
    modern::check_headers(&routing, method, &meta.version, name.as_deref()).map_err(fail)?;
    modern::check_version(&meta.version).map_err(fail)?;
    let accepts = answerable(post.accepts)?;
    match method {
        "server/discover" => {
            let init = app
                .health
                .initialize_result(app.config.child_start_timeout)
                .await
                .ok_or(HttpError::SpawnFailed)?;
            Ok(json_response(StatusCode::OK, discover::answer(id, init)))
        }
        "subscriptions/listen" => {
            if !accepts.sse {
                return Err(HttpError::NotAcceptable(
                    "subscriptions/listen answers with a stream: Accept must allow text/event-stream",
                ));
            }
            let pool = app.modern.pools.for_user(post.user)?;
            listen::open(app, pool, id, params.notifications).await
        }
        _ if FORWARDED.contains(&method) => {
            let request = Request {
                env,
                headers,
                params: &params,
                meta: &meta.members,
                caps: meta.caps,
                name: name.unwrap_or_default(),
                user: post.user,
            };
            forward(app, request, accepts).await.map_err(|e| match e {
                Refusal::Http(e) => e,
                Refusal::Rpc(error) => fail(error),
            })
        }
        _ => Err(fail(RpcError::new(
            jsonrpc::METHOD_NOT_FOUND,
            format!("method not found: {method} is not a method of the stateless revision"),
        ))),
    }
}

/// A stateless request for a child, checked.
struct Request<'a> {
    env: &'a Envelope<'a>,
    headers: &'a HeaderMap,
    params: &'a Params<'a>,
    /// The members of `params._meta`.
    meta: &'a Members<'a>,
    caps: ClientCaps,
    name: String,
    user: &'a str,
}

enum Refusal {
    Http(HttpError),
    Rpc(RpcError),
}

impl From<HttpError> for Refusal {
    fn from(e: HttpError) -> Self {
        Self::Http(e)
    }
}

impl From<RpcError> for Refusal {
    fn from(e: RpcError) -> Self {
        Self::Rpc(e)
    }
}

/// The call's `Mcp-Param-*` headers against its arguments, for the tool's annotations (-32020).
/// Nothing to compare without arguments and such headers.
async fn check_param_headers(
    pool: &StatelessPool,
    request: &Request<'_>,
    timeout: Duration,
) -> Result<(), RpcError> {
    let sent: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with(param_headers::PREFIX))
        .map(|(name, value)| {
            let value = value.to_str().map(str::trim).unwrap_or("\u{fffd}");
            (name.as_str().to_owned(), value.to_owned())
        })
        .collect();
    let arguments = request.params.arguments.filter(|a| a.get() != "null");
    if sent.is_empty() && arguments.is_none_or(|a| a.get().trim() == "{}") {
        return Ok(());
    }
    let annotations = pool.param_annotations(&request.name, timeout).await;
    if annotations.is_empty() {
        return Ok(());
    }
    let arguments: serde_json::Value = arguments
        .and_then(|a| serde_json::from_str(a.get()).ok())
        .unwrap_or(serde_json::Value::Null);
    param_headers::check(&annotations, &arguments, &sent)
}

/// Runs the request on a child of the user's pool, or resumes the held call it continues.
async fn forward(
    app: &Arc<App>,
    request: Request<'_>,
    accepts: Accepts,
) -> Result<Response<ResponseBody>, Refusal> {
    let env = request.env;
    let (Some(id), method) = (env.id, env.method()) else {
        return Err(RpcError::new(jsonrpc::INVALID_REQUEST, "a request needs an id").into());
    };
    let pool = app.modern.pools.for_user(request.user)?;
    if method == "tools/call" {
        check_param_headers(&pool, &request, app.config.request_timeout).await?;
    }
    let responses = input_responses(request.params.input_responses)?;
    let input_capable = INPUT_CAPABLE.contains(&method);
    if let (Some(state), true) = (request.params.request_state, input_capable) {
        let state: String = serde_json::from_str(state.get())
            .map_err(|_| RpcError::new(jsonrpc::INVALID_PARAMS, "requestState must be a string"))?;
        let binding = Binding {
            user: request.user,
            method,
            name: &request.name,
        };
        let held = app.modern.held.resume(&state, binding)?;
        let mut call = Call::resume(held, id, request.caps);
        call.take_responses(responses);
        return Ok(exchange::answer(app.clone(), call, accepts).await);
    }
    let child = pool
        .pool
        // A first child starts from the warm pool; one that cannot start within the handshake's
        // time is a server that does not start (502), not a slow answer.
        .pick_ready(app.config.child_start_timeout)
        .await
        .ok_or(HttpError::SpawnFailed)?;
    let (tx, rx): (DeliveryTx, _) = mpsc::unbounded_channel();
    let progress = accepts
        .sse
        .then(|| jsonrpc::progress_token(env.params))
        .flatten();
    let limit = app.config.max_concurrent_requests;
    // `FORWARDED` holds the method: its results are shaped for the stateless revision.
    let method = FORWARDED
        .iter()
        .copied()
        .find(|m| *m == method)
        .unwrap_or("");
    let asker = Asker::Stateless { method };
    let own = child
        .peer()
        .register_for(asker, 0, id, &tx, progress, limit)
        .map_err(RpcError::from)?;
    // Registered even where children may not ask for input (shared mode): the request they
    // raise is then refused with the reason that fits its client (-32021 or -32601).
    let stream = input_capable.then(|| {
        child.peer().add_stream(own | STREAM_BIT, &tx, request.caps);
        own | STREAM_BIT
    });
    let child_call = ChildCall::new(child.clone(), own, stream, rx, tx);
    let params = bridge::for_child(&request.params.members, request.meta);
    if !child
        .send(jsonrpc::request_line_text(own, method, params.as_deref()))
        .await
    {
        child
            .peer()
            .fail(own, RpcError::server_gone("mcp server exited"));
    }
    let mut call = Call::new(child_call, id, method, &request.name, request.user);
    call.caps = request.caps;
    call.takes_input = pool.takes_input;
    call.responses = responses;
    Ok(exchange::answer(app.clone(), call, accepts).await)
}
