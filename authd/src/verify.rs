//! `/verify`: the edge's forward-auth target, called for every MCP request
//! (docs/api/endpoints.md#verify-in-detail).
//!
//! Hot path: the decoding key is cached, the allow lists are in memory, and Redis is asked once
//! (a pipeline: is the token id still live, is the user disabled). Redis down is 503, never a pass.
//! Challenges follow RFC 6750 §3 and RFC 9728 §5.1 (`resource_metadata`).

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::error::json_error;
use crate::oauth::scope;
use crate::state::{App, AppState};
use crate::token::cache::Verified;
use crate::token::jwt;
use crate::{clock, credentials, store::StoreError};

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the forwarded request names no MCP server of this gateway")]
    NoService,
    #[error("no bearer token")]
    NoToken,
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("the token lacks the required scope")]
    InsufficientScope,
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for VerifyError {
    fn from(e: StoreError) -> Self {
        VerifyError::Unavailable(e.to_string())
    }
}

// Parsed once (a `&str` name is parsed and validated on every lookup).
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
/// What the edge copies from a 200 (docs/api/endpoints.md#verify-in-detail), in this order.
const COPIED: [HeaderName; 4] = [
    HeaderName::from_static("x-user-id"),
    HeaderName::from_static("x-user-name"),
    HeaderName::from_static("x-client-id"),
    HeaderName::from_static("x-scopes"),
];
/// Room for the copied headers plus what the router's layers add (CORS, request id), so the
/// response's header map is allocated once and never grows.
const RESPONSE_HEADERS: usize = 16;

fn header_str<'a>(h: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The response for a refusal; `prm` is the protected-resource metadata URL of the resource.
fn refuse(err: &VerifyError, prm: Option<&str>) -> Response {
    let challenge = |extra: &str| {
        let rm = prm
            .map(|u| format!("resource_metadata=\"{u}\", "))
            .unwrap_or_default();
        format!("Bearer {rm}scope=\"{}\"{extra}", scope::REQUIRED.join(" "))
    };
    let (status, code, www) = match err {
        VerifyError::NoService => (StatusCode::NOT_FOUND, "invalid_target", None),
        // RFC 6750 §3.1: no error code when the request had no token.
        VerifyError::NoToken => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Some(challenge("")),
        ),
        VerifyError::InvalidToken(why) => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Some(challenge(&format!(
                ", error=\"invalid_token\", error_description=\"{why}\""
            ))),
        ),
        VerifyError::InsufficientScope => (
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            Some(challenge(", error=\"insufficient_scope\"")),
        ),
        VerifyError::Unavailable(detail) => {
            tracing::warn!(error.detail = %detail, "verify: storage unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                None,
            )
        }
    };
    let mut resp = json_error(status, code, &err.to_string());
    if let Some(v) = www.and_then(|w| HeaderValue::from_str(&w).ok()) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    if matches!(err, VerifyError::Unavailable(_)) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// Header values must be visible ASCII or opaque bytes; control characters are dropped.
fn value(s: &str) -> HeaderValue {
    let v = if s.chars().any(char::is_control) {
        let clean: String = s.chars().filter(|c| !c.is_control()).collect();
        HeaderValue::from_bytes(clean.as_bytes())
    } else {
        // The usual case: no filtered copy.
        HeaderValue::from_bytes(s.as_bytes())
    };
    v.unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn check(
    app: &App,
    headers: &HeaderMap,
    service: &str,
    resource: &str,
) -> Result<Arc<Verified>, VerifyError> {
    let token = credentials::bearer(headers).ok_or(VerifyError::NoToken)?;
    let verified = app
        .verified
        .check(&app.keys, token, app.issuer(), clock::now())
        .map_err(|e| {
            VerifyError::InvalidToken(match e {
                jwt::JwtError::Expired => "token expired",
                jwt::JwtError::NotYetValid => "token not yet valid",
                jwt::JwtError::UnknownKey => "unknown signing key",
                jwt::JwtError::WrongIssuer => "wrong issuer",
                jwt::JwtError::Malformed | jwt::JwtError::BadSignature => "invalid token",
            })
        })?;
    let claims = &verified.claims;
    // RFC 8707 / MCP authorization spec "Token Audience Binding": only tokens for this resource.
    if claims.aud != resource {
        return Err(VerifyError::InvalidToken(
            "token issued for another resource",
        ));
    }
    let allow = &app.config.allow;
    if !allow.is_open(service) && !allow.may_use(&verified.identity, service) {
        return Err(VerifyError::InvalidToken("user not allowed"));
    }
    let mut c = app.store.conn();
    let (live, disabled): (bool, bool) = redis::pipe()
        .exists(app.store.key("token", &claims.jti))
        .sismember(app.store.disabled_key(), &claims.sub)
        .query_async(&mut c)
        .await
        .map_err(|e| VerifyError::Unavailable(e.to_string()))?;
    if !live {
        return Err(VerifyError::InvalidToken("token revoked"));
    }
    if disabled {
        return Err(VerifyError::InvalidToken("user not allowed"));
    }
    if !scope::sufficient(&claims.scope) {
        return Err(VerifyError::InsufficientScope);
    }
    Ok(verified)
}

/// 200 with every header the edge copies, always present (docs/api/endpoints.md#verify-in-detail).
fn allowed(user: &str, name: &str, client: &str, scopes: &str) -> Response {
    let mut h = HeaderMap::with_capacity(RESPONSE_HEADERS);
    for (header, v) in COPIED.into_iter().zip([user, name, client, scopes]) {
        h.insert(header, value(v));
    }
    let mut resp = Response::new(axum::body::Body::empty());
    *resp.headers_mut() = h;
    resp
}

pub async fn verify(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let resources = &app.config.resources;
    let proto = header_str(&headers, &X_FORWARDED_PROTO).unwrap_or("");
    let host = header_str(&headers, &X_FORWARDED_HOST).unwrap_or("");
    let uri = header_str(&headers, &X_FORWARDED_URI).unwrap_or("");
    // Host names compare case-insensitively (RFC 3986 §3.2.2); copy only when there is a capital.
    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    // The resource on the origin the request came to: a loopback alias has its own (RFC 8707 §2).
    let Some((service, resource)) = resources.service_forwarded(proto, &host, uri) else {
        return refuse(&VerifyError::NoService, None);
    };
    // A CORS preflight carries no credentials (Fetch standard §4.8); it reaches no MCP method,
    // so it passes anonymously (client requirement E3 of docs/architecture/client-requirements.md:
    // OPTIONS without a token answers 204).
    if header_str(&headers, &X_FORWARDED_METHOD).is_some_and(|m| m.eq_ignore_ascii_case("OPTIONS"))
    {
        return allowed("", "", "", "");
    }
    match check(&app, &headers, service, resource).await {
        Ok(v) => {
            let c = &v.claims;
            allowed(&c.sub, &c.name, &c.client_id, &c.scope)
        }
        Err(e) => {
            if !matches!(e, VerifyError::NoToken) {
                tracing::info!(mcp.service = %service, reason = %e, "verify refused");
            }
            refuse(&e, crate::resource::metadata_url(resource).as_deref())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let prm = Some("https://mcp-fetch.example.com/.well-known/oauth-protected-resource/mcp");
        let r = refuse(&VerifyError::NoToken, prm);
        assert_eq!(r.status(), 401);
        let www = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            www.starts_with("Bearer resource_metadata=\"https://mcp-fetch"),
            "{www}"
        );
        assert!(!www.contains("error="));
        let r = refuse(&VerifyError::InvalidToken("token expired"), prm);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        let r = refuse(&VerifyError::InsufficientScope, prm);
        assert_eq!(r.status(), 403);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("insufficient_scope")
        );
        assert_eq!(
            refuse(&VerifyError::Unavailable("x".into()), prm).status(),
            503
        );
        assert_eq!(value("a\r\nb").to_str().unwrap(), "ab");
    }
}
