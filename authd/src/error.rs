//! Errors at the HTTP boundary, each turned into a response in one exhaustive match.
//!
//! `OAuthError` variants are the error codes of RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2 and
//! RFC 8707 §2; responses carry `Cache-Control: no-store` (RFC 6749 §5.1) and, where the RFC asks
//! for it, `WWW-Authenticate`. `PageError` is for the browser endpoints, where RFC 6749 §4.1.2.1
//! forbids redirecting when the client or redirect URI is invalid: an escaped HTML page instead.
//! `AuthorizeError` is what goes back to a trusted redirect URI (RFC 6749 §4.1.2.1), turned into
//! the redirect's query by `oauth::response`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;
use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// RFC 6749 §5.2: missing or malformed parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// RFC 6749 §5.2: client authentication failed (401 with `WWW-Authenticate`).
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    /// RFC 6749 §5.2: the grant (code, refresh token) is invalid, expired, revoked or not ours.
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// RFC 6749 §5.2: the client may not use this grant type.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    /// RFC 6749 §5.2.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// RFC 8707 §2: the resource is not one we serve.
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// RFC 8628 §3.5: the user has not answered yet; poll again.
    #[error("authorization_pending")]
    AuthorizationPending,
    /// RFC 8628 §3.5: polled before the interval passed; wait 5 seconds longer from now on.
    #[error("slow_down")]
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start a new device authorization.
    #[error("expired_token")]
    ExpiredToken,
    /// RFC 8628 §3.5: the user refused (or may not use the server).
    #[error("access_denied")]
    AccessDenied,
    /// RFC 7591 §3.2.2.
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    /// RFC 7591 §3.2.2.
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    /// RFC 6750 §3.1 (also RFC 7592 §2 for a bad registration access token).
    #[error("invalid_token")]
    InvalidToken,
    /// The body exceeds `AUTHD_MAX_BODY_BYTES` (413).
    #[error("request body too large")]
    TooLarge,
    /// A registration limit is reached (429 with `Retry-After`, the seconds left in the window;
    /// RFC 6585 §4). `too_many_requests` is our code: RFC 7591 §3.2.2 defines none for this.
    #[error("too_many_requests: {description}")]
    RateLimited {
        retry_after: u64,
        description: &'static str,
    },
    /// Redis unreachable: 503, never a pass and never a 500.
    #[error("temporarily_unavailable: {0}")]
    Unavailable(String),
    /// A bug or a broken record: 500 with a generic body; the detail is logged once.
    #[error("server_error: {0}")]
    Server(String),
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Redis(e) => OAuthError::Unavailable(e.to_string()),
            StoreError::Corrupt(k) => OAuthError::Server(format!("corrupt record {k}")),
        }
    }
}

/// The JSON error body of RFC 6749 §5.2.
pub fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": code, "error_description": description });
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, code, description) = match &self {
            OAuthError::InvalidRequest(d) => {
                (StatusCode::BAD_REQUEST, "invalid_request", d.as_str())
            }
            OAuthError::InvalidClient(d) => {
                (StatusCode::UNAUTHORIZED, "invalid_client", d.as_str())
            }
            OAuthError::InvalidGrant(d) => (StatusCode::BAD_REQUEST, "invalid_grant", d.as_str()),
            OAuthError::UnauthorizedClient(d) => {
                (StatusCode::BAD_REQUEST, "unauthorized_client", d.as_str())
            }
            OAuthError::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant type not supported",
            ),
            OAuthError::InvalidTarget(d) => (StatusCode::BAD_REQUEST, "invalid_target", d.as_str()),
            OAuthError::AuthorizationPending => (
                StatusCode::BAD_REQUEST,
                "authorization_pending",
                "the user has not answered yet",
            ),
            OAuthError::SlowDown => (
                StatusCode::BAD_REQUEST,
                "slow_down",
                "polling too fast: add 5 seconds to the interval",
            ),
            OAuthError::ExpiredToken => (
                StatusCode::BAD_REQUEST,
                "expired_token",
                "the device code expired; start again",
            ),
            OAuthError::AccessDenied => (
                StatusCode::BAD_REQUEST,
                "access_denied",
                "the user denied the request",
            ),
            OAuthError::InvalidRedirectUri(d) => {
                (StatusCode::BAD_REQUEST, "invalid_redirect_uri", d.as_str())
            }
            OAuthError::InvalidClientMetadata(d) => (
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                d.as_str(),
            ),
            OAuthError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is not valid",
            ),
            OAuthError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "request body too large",
            ),
            OAuthError::RateLimited { description, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                *description,
            ),
            OAuthError::Unavailable(detail) => {
                tracing::warn!(error.detail = %detail, "storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "storage unavailable",
                )
            }
            OAuthError::Server(detail) => {
                tracing::error!(error.detail = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            }
        };
        let mut resp = json_error(status, code, description);
        let challenge = match &self {
            // RFC 6749 §5.2: 401 invalid_client carries WWW-Authenticate.
            OAuthError::InvalidClient(_) => Some("Basic realm=\"authd\"".to_owned()),
            OAuthError::InvalidToken => Some("Bearer error=\"invalid_token\"".to_owned()),
            OAuthError::RateLimited { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
                None
            }
            _ => None,
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// Errors of an authorization request whose client and redirect URI are trusted: they go back to
/// the client's redirect URI with `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207 §2), never as a
/// page, so the client never waits on a page it cannot see.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// RFC 6749 §4.1.2.1: missing, invalid or repeated parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// RFC 6749 §4.1.2.1: only `code` is supported.
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(String),
    /// RFC 8707 §2: the resource is not one we serve.
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// RFC 6749 §4.1.2.1: the user, the allow list or the upstream provider refused.
    #[error("access_denied: {0}")]
    AccessDenied(String),
    /// RFC 6749 §4.1.2.1: the upstream provider failed (unreachable, an error status, a broken
    /// answer); the detail is logged, the client gets a generic description.
    #[error("server_error: {0}")]
    ServerError(String),
    /// OpenID Connect Core §3.1.2.6, for `prompt=none`: the user must log in.
    #[error("login_required: {0}")]
    LoginRequired(String),
    /// OpenID Connect Core §3.1.2.6, for `prompt=none`: the user must consent.
    #[error("consent_required: {0}")]
    ConsentRequired(String),
    /// OpenID Connect Core §3.1.2.6, for `prompt=none`: some other page is needed.
    #[error("interaction_required: {0}")]
    InteractionRequired(String),
}

impl AuthorizeError {
    /// The `error` and `error_description` of the redirect.
    pub fn parameters(&self) -> (&'static str, &str) {
        match self {
            AuthorizeError::InvalidRequest(d) => ("invalid_request", d),
            AuthorizeError::UnsupportedResponseType(d) => ("unsupported_response_type", d),
            AuthorizeError::InvalidTarget(d) => ("invalid_target", d),
            AuthorizeError::AccessDenied(d) => ("access_denied", d),
            AuthorizeError::ServerError(detail) => {
                tracing::warn!(error.detail = %detail, "authorization failed upstream");
                (
                    "server_error",
                    "the identity provider could not complete the login; try again",
                )
            }
            AuthorizeError::LoginRequired(d) => ("login_required", d),
            AuthorizeError::ConsentRequired(d) => ("consent_required", d),
            AuthorizeError::InteractionRequired(d) => ("interaction_required", d),
        }
    }
}

impl From<UpstreamError> for AuthorizeError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Refused(d) => {
                tracing::warn!(error.detail = %d, "the identity provider refused the login");
                AuthorizeError::AccessDenied("the identity provider refused the login".into())
            }
            UpstreamError::Failed(d) => AuthorizeError::ServerError(d),
        }
    }
}

/// Errors on the browser endpoints that must not redirect (RFC 6749 §4.1.2.1).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("request body too large")]
    TooLarge,
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Server(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Redis(e) => PageError::Unavailable(e.to_string()),
            StoreError::Corrupt(k) => PageError::Server(format!("corrupt record {k}")),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            PageError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large".to_owned(),
            ),
            PageError::Unavailable(m) => {
                tracing::warn!(error.detail = %m, "storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service temporarily unavailable".to_owned(),
                )
            }
            PageError::Server(m) => {
                tracing::error!(error.detail = %m, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        let mut resp = (status, crate::html::error_page(&message)).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
