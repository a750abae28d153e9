//! `POST /token` (RFC 6749 §3.2): form-encoded, client-authenticated, dispatching on
//! `grant_type`. Answers carry `Cache-Control: no-store` (§5.1), errors are §5.2. The grants
//! (`code`, `refresh`, `device`) share the token families of `family`.

pub mod code;
pub mod device;
pub mod family;
pub mod refresh;
pub mod request;
pub mod response;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;

use super::client::DEVICE_CODE_GRANT;
use super::{client_auth, params};
use crate::error::OAuthError;
use crate::state::AppState;
use request::TokenForm;
use response::TokenResponse;

pub async fn token(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenResponse, OAuthError> {
    let f = TokenForm::from_params(params::form(&headers, body)?);
    let client = client_auth::authenticate(&app, &headers, &f.credentials).await?;
    match f.grant_type.as_deref() {
        Some("authorization_code") => code::exchange(&app, &client, &f).await,
        Some("refresh_token") => refresh::exchange(&app, &client, &f).await,
        Some(DEVICE_CODE_GRANT) => device::exchange(&app, &client, &f).await,
        Some(_) => Err(OAuthError::UnsupportedGrantType),
        None => Err(OAuthError::InvalidRequest("grant_type is missing".into())),
    }
}
