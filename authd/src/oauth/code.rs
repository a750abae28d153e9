//! Our authorization codes (RFC 6749 §4.1.2): single use, at most `AUTH_CODE_TTL_SECS` (<= 60 s),
//! bound to the client, redirect URI, PKCE challenge, resource and user; only the hash is stored.

use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::pending::Pending;
use super::{device, response};
use crate::allow::Identity;
use crate::clock;
use crate::error::{AuthorizeError, PageError};
use crate::state::App;
use crate::store::{hash, random_token};

/// What an authorization code stands for (RFC 6749 §4.1.2; bound to client, redirect URI, PKCE
/// challenge, resource and user).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    pub scope: String,
    pub user: Identity,
    pub issued_at: u64,
}

/// Issues a single-use code and redirects to the client with `code`, `state` and `iss`; for a
/// device authorization (RFC 8628 §3.3) it records the approval instead and ends on a page.
pub async fn issue_code(app: &App, p: &Pending, user: Identity) -> Result<Response, PageError> {
    if let Some(device_hash) = &p.device {
        return device::approve(app, device_hash, user).await;
    }
    let code = random_token();
    let grant = CodeGrant {
        client_id: p.client_id.clone(),
        redirect_uri: p.redirect_uri.clone(),
        code_challenge: p.code_challenge.clone(),
        resource: p.resource.clone(),
        scope: p.scope.clone(),
        user,
        issued_at: clock::now(),
    };
    let key = app.store.key("code", &hash(&code));
    app.store
        .put(&key, &grant, Some(app.config.limits.code_ttl))
        .await?;
    tracing::info!(oauth.client_id = %p.client_id, user.id = %grant.user.id, "authorization code issued");
    Ok(response::with_code(app, p, &code))
}

/// Ends a request that will not get a code: the error goes back to the client's redirect URI
/// (RFC 6749 §4.1.2.1), or, for a device authorization, is recorded and shown on a page.
pub async fn refuse(app: &App, p: &Pending, e: &AuthorizeError) -> Result<Response, PageError> {
    match &p.device {
        Some(device_hash) => device::refuse(app, device_hash, e).await,
        None => Ok(response::with_error(app, p, e)),
    }
}
