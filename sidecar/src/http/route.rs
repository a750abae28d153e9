//! The router: every route of the sidecar in one function, one span per request carrying the
//! request id, and the request counters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue, ORIGIN};
use hyper::{Method, Request, Response, StatusCode};
use tokio::time::Instant;
use tracing::Instrument;

use crate::app::App;
use crate::cluster::{self, Place};
use crate::error::HttpError;
use crate::http::body::ResponseBody;
use crate::http::header;
use crate::http::message::{self, Post};
use crate::http::response::{json_response, text_response};
use crate::http::server::LocalAddr;
use crate::legacy;
use crate::protocol::modern::{self, HEADER_VERSION};
use crate::protocol::{self, headers};
use crate::{metrics, trace};

/// Time a forwarded request may take beyond the owner's own request timeout (the extra hop).
const FORWARD_MARGIN: Duration = Duration::from_secs(5);

/// Answers one request; never fails (every error is a response).
pub async fn route(app: Arc<App>, req: Request<Incoming>) -> Response<ResponseBody> {
    let started = Instant::now();
    let request_id = trace::request_id(req.headers());
    let span = tracing::info_span!("request", request.id = %request_id,
        http.method = %req.method(), mcp.session.id = tracing::field::Empty);
    if let Some(session) = header(&req, "mcp-session-id") {
        span.record("mcp.session.id", session);
    }
    let path = req.uri().path().trim_end_matches('/');
    let is_mcp = path == app.config.mcp_path;
    let mut label = metrics::method_label("other");
    let mut response = if is_mcp {
        mcp(&app, req, &mut label)
            .instrument(span.clone())
            .await
            .unwrap_or_else(HttpError::into_response)
    } else {
        match (req.method(), path) {
            (&Method::GET, "/health") => health(&app),
            (&Method::GET, "/metrics") => text_response(
                "text/plain; version=0.0.4; charset=utf-8",
                app.metrics.render(metrics::Gauges {
                    sessions: app.sessions.count(),
                    stateless_users: app.modern.pools.users(),
                    held_calls: app.modern.held.count(),
                }),
            ),
            (_, "/health" | "/metrics") => {
                HttpError::MethodNotAllowed { allow: "GET" }.into_response()
            }
            _ => HttpError::NotFound.into_response(),
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    if is_mcp {
        app.metrics.record(label, status, started.elapsed());
    }
    tracing::debug!(parent: &span, http.status = status,
        elapsed_us = started.elapsed().as_micros() as u64, "request answered");
    response
}

/// The MCP endpoint: Origin and Host first (DNS rebinding, MCP spec "Transports" > "Security
/// Warning"), then the method.
async fn mcp(
    app: &Arc<App>,
    req: Request<Incoming>,
    label: &mut usize,
) -> Result<Response<ResponseBody>, HttpError> {
    let config = &app.config;
    if let Some(origin) = header(&req, ORIGIN.as_str())
        && !headers::origin_allowed(origin, &config.allowed_origins)
        && !headers::own_loopback_origin(origin, app.port)
    {
        tracing::info!(origin, "request from a foreign origin refused");
        return Err(HttpError::ForbiddenOrigin);
    }
    let host = header(&req, HOST.as_str()).or_else(|| req.uri().authority().map(|a| a.as_str()));
    if let Some(host) = host {
        let own = host.parse::<std::net::SocketAddr>().ok() == Some(config.listen);
        if !own && !headers::host_allowed(host, &config.allowed_hosts) {
            tracing::info!(host, "request for a foreign host refused");
            return Err(HttpError::ForbiddenHost);
        }
    }
    let via = req
        .extensions()
        .get::<LocalAddr>()
        .map_or(config.listen, |local| local.0);
    if let Some(id) = header(&req, "mcp-session-id") {
        let forwarded = req.headers().contains_key(cluster::FORWARDED);
        match app
            .cluster
            .place(id, app.sessions.holds(id), forwarded, via)
        {
            Place::Here => {}
            Place::Gone => return Err(HttpError::SessionNotFound),
            Place::Owner(owner) => {
                *label = metrics::method_label(metrics::FORWARDED);
                return forward(app, req, &owner).await;
            }
        }
    }
    // Set by the edge after forward-auth; absent means the anonymous user "" (still bound).
    let user = header(&req, "x-user-id").unwrap_or("").to_owned();
    match *req.method() {
        Method::POST => post(app, req, &user, via, label).await,
        Method::GET => {
            *label = metrics::method_label(metrics::STREAM);
            legacy::stream::get(app, &req, &user)
        }
        Method::DELETE => {
            *label = metrics::method_label(metrics::DELETE);
            legacy::delete::delete(app, &req, &user).await
        }
        _ => Err(HttpError::MethodNotAllowed {
            allow: "GET, POST, DELETE",
        }),
    }
}

/// A POST: the session it names first (checked before the body is read), then the era: stateless
/// when there is no session and the request is of the stateless revision (MCP 2026-07-28
/// "Versioning": both eras on one endpoint), session-based otherwise.
async fn post(
    app: &Arc<App>,
    req: Request<Incoming>,
    user: &str,
    via: SocketAddr,
    label: &mut usize,
) -> Result<Response<ResponseBody>, HttpError> {
    if !headers::is_json(header(&req, CONTENT_TYPE.as_str())) {
        return Err(HttpError::UnsupportedMediaType);
    }
    let accepts = headers::accepts(header(&req, ACCEPT.as_str()));
    let session = legacy::post::session_of(app, &req, user)?;
    let (parts, body) = req.into_parts();
    let body = message::read(body, app.config.max_body_bytes).await?;
    let (messages, batch) = message::messages(&body)?;
    let version = parts
        .headers
        .get(HEADER_VERSION)
        .and_then(|v| v.to_str().ok());
    let stateless = session.is_none()
        && match (batch, messages.first()) {
            (false, Some(env)) => modern::is_stateless(version, env.method(), env.params),
            _ => version.is_some_and(protocol::version::is_modern),
        };
    let post = Post {
        messages,
        batch,
        accepts,
        user,
        via,
    };
    if stateless {
        crate::modern::post::post(app, &parts.headers, post, label).await
    } else {
        legacy::post::post(app, session, post, label).await
    }
}

/// A request for a session another replica holds, sent on to it (`cluster::forward`); its answer
/// streams back unchanged, or 404 when the owner does not answer.
async fn forward(
    app: &App,
    req: Request<Incoming>,
    owner: &str,
) -> Result<Response<ResponseBody>, HttpError> {
    tracing::debug!(owner, "session held by another replica; forwarding");
    // The owner's own limit on a request, and time for the hop.
    let wait = app.config.request_timeout + FORWARD_MARGIN;
    let answer = cluster::forward::forward(app.cluster.client(), owner, req, wait).await;
    let answer = answer.inspect_err(|e| tracing::info!(owner, error = %e, "forwarding failed"))?;
    Ok(answer.map(ResponseBody::Forwarded))
}

/// `/health`: 503 while draining, so that the balancer sends this replica nothing new.
fn health(app: &App) -> Response<ResponseBody> {
    let children = app.metrics.children_alive.load(Ordering::Relaxed);
    let (healthy, mut body) = app.health.report(app.sessions.count(), children);
    let draining = app.drain.is_draining();
    if draining {
        body["status"] = "draining".into();
    }
    let status = if healthy && !draining {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body.to_string().into())
}
