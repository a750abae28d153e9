//! `POST /token` (RFC 6749 §3.2): form-encoded, client-authenticated, dispatching on
//! `grant_type`. Answers carry `Cache-Control: no-store` (§5.1), errors are §5.2.

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::client_auth;
use super::grant::{code, refresh};
use crate::error::OAuthError;
use crate::state::AppState;

/// Every parameter of the grants we support; absent ones are `None`.
#[derive(Debug, Deserialize, Default)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut r = Json(self).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r.headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        r
    }
}

/// Turns a form rejection (wrong content type, malformed or repeated fields) into `invalid_request`.
pub fn form<T>(f: Result<Form<T>, FormRejection>) -> Result<T, OAuthError> {
    f.map(|Form(t)| t).map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return OAuthError::TooLarge;
        }
        OAuthError::InvalidRequest(format!("malformed form body: {}", e.body_text()))
    })
}

pub async fn token(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Form<TokenForm>, FormRejection>,
) -> Result<TokenResponse, OAuthError> {
    let f = form(body)?;
    let client = client_auth::authenticate(
        &app,
        &headers,
        f.client_id.as_deref(),
        f.client_secret.as_deref(),
    )
    .await?;
    match f.grant_type.as_deref() {
        Some("authorization_code") => code::exchange(&app, &client, &f).await,
        Some("refresh_token") => refresh::exchange(&app, &client, &f).await,
        Some(_) => Err(OAuthError::UnsupportedGrantType),
        None => Err(OAuthError::InvalidRequest("grant_type is missing".into())),
    }
}
