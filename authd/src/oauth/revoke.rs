//! `POST /revoke` (RFC 7009): client-authenticated; only the client's own tokens; 200 whether or
//! not the token was known (§2.2), so token validity is not revealed.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::client::Client;
use super::token::family::{RefreshRecord, revoke_family};
use super::{client_auth, params};
use crate::error::OAuthError;
use crate::state::{App, AppState};
use crate::store::hash;
use crate::token::jwt;

/// What a presented token is, if it is one of ours (and of this client).
pub enum Known {
    Access(jwt::AccessClaims),
    Refresh(RefreshRecord),
}

/// Finds a token of `client_id`: a currently valid access token
/// or a refresh token record. Tokens of other clients are `None`.
pub async fn lookup(app: &App, token: &str, client_id: &str) -> Result<Option<Known>, OAuthError> {
    if token.split('.').count() == 3 {
        // An expired token needs no revocation and is not active: checking at `now` suffices.
        let claims = jwt::check(&app.keys, token, app.issuer(), crate::clock::now()).ok();
        return Ok(claims
            .filter(|c| c.client_id == client_id)
            .map(Known::Access));
    }
    let record: Option<RefreshRecord> = app
        .store
        .get(&app.store.key("refresh", &hash(token)))
        .await?;
    Ok(record
        .filter(|r| r.client_id == client_id)
        .map(Known::Refresh))
}

/// The common start of `/revoke` and `/introspect`: parse the form, authenticate the client
/// (RFC 7009 §2.1, RFC 7662 §2.1), take the `token` parameter. `token_type_hint` is optional and
/// ignored (we recognise the token kind ourselves).
pub async fn authenticated(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Client, String), OAuthError> {
    let mut p = params::form(headers, body)?;
    let credentials = client_auth::FormCredentials::take(&mut p);
    let client = client_auth::authenticate(app, headers, &credentials).await?;
    let token = p
        .remove("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
    Ok((client, token))
}

pub async fn revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let (client, token) = authenticated(&app, &headers, body).await?;
    let token = token.as_str();
    match lookup(&app, token, &client.client_id).await? {
        Some(Known::Access(c)) => app.store.del(&[app.store.key("token", &c.jti)]).await?,
        // RFC 7009 §2.1: revoking a refresh token should also revoke its access tokens.
        Some(Known::Refresh(r)) => revoke_family(&app, &r.family).await?,
        None => {}
    }
    Ok(StatusCode::OK.into_response())
}
