//! Every route of authd in one function, plus the layers every request passes: request ids and
//! the request span, CORS (client requirement E3 of docs/architecture/client-requirements.md), and
//! the body size limit (413).

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tracing::Instrument;

use crate::error::json_error;
use crate::oauth::{
    authorize, callback, consent, device, introspect, metadata, register, revoke, token,
};
use crate::state::AppState;
use crate::{status_page, verify};

pub fn router(app: AppState) -> Router {
    let max_body = app.config.limits.max_body_bytes;
    Router::new()
        .route("/", get(status_page::show))
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::authorization_server),
        )
        .route(
            "/.well-known/openid-configuration",
            get(metadata::authorization_server),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata::protected_resource_root),
        )
        .route(
            "/.well-known/oauth-protected-resource/{*path}",
            get(metadata::protected_resource_suffixed),
        )
        .route("/register", post(register::register))
        .route(
            "/register/{client_id}",
            get(register::read)
                .put(register::update)
                .delete(register::delete),
        )
        .route("/authorize", get(authorize::authorize))
        .route("/callback", get(callback::callback))
        .route("/consent", post(consent::decide))
        .route(
            "/device_authorization",
            post(device::authorization::device_authorization),
        )
        .route(
            "/device",
            get(device::verification::show).post(device::verification::submit),
        )
        .route("/token", post(token::token))
        .route("/revoke", post(revoke::revoke))
        .route("/introspect", post(introspect::introspect))
        .route("/jwks", get(jwks))
        .route("/verify", get(verify::verify).post(verify::verify))
        .route("/health", get(health))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(cors))
        .layer(middleware::from_fn(request_id))
        .with_state(app)
}

async fn jwks(State(app): State<AppState>) -> Response {
    let mut r = axum::Json(app.keys.jwks()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// Redis reachable and a signing key loaded (the key is loaded before the listener starts).
async fn health(State(app): State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "kid": app.keys.kid()})).into_response(),
        Err(e) => {
            tracing::warn!(error.detail = %e, "health: redis unreachable");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "redis unreachable")
        }
    }
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name";

/// Client requirement E3: any origin, no credentials; `OPTIONS` answers 204 without a token.
async fn cors(req: Request, next: Next) -> Response {
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Mcp-Session-Id, WWW-Authenticate, MCP-Protocol-Version"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    resp
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id from `X-Request-Id` (when sane) or a fresh one; one span per request carrying it;
/// one log line per request without bodies. Cheap on purpose: `/verify` passes here on every MCP
/// request (one header value, no copies of the path, the span's fields are only formatted when
/// the span is enabled).
async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(u8::is_ascii_graphic)
        })
        .cloned()
        .unwrap_or_else(fresh_request_id);
    let is_verify = req.uri().path() == "/verify";
    let span = tracing::info_span!("request", request.id = id.to_str().unwrap_or_default(), http.method = %req.method(), url.path = %req.uri().path());
    let start = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    span.in_scope(|| {
        // /verify is every MCP request: log it at debug to keep info logs readable.
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        if is_verify && status < 500 {
            tracing::debug!(http.status = status, duration_ms = ms, "request");
        } else {
            tracing::info!(http.status = status, duration_ms = ms, "request");
        }
    });
    resp.headers_mut().insert(X_REQUEST_ID, id);
    // A 413 is answered before the body is read; the rest of it is still on the wire, so the
    // connection cannot carry another request (RFC 9110 §15.5.14, RFC 9112 §9.6).
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// 128 random bits, base64url (22 characters).
fn fresh_request_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::random();
    // From the String itself: no second copy.
    HeaderValue::try_from(URL_SAFE_NO_PAD.encode(bytes))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}
