//! `GET /callback`: the upstream provider's redirect. Exchanges its code, looks the user up,
//! checks the allow lists (DESIGN §4.2), then asks for consent or issues our authorization code.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::authorize::{Pending, parse_query, redirect_to_client};
use super::consent;
use crate::allow::Identity;
use crate::error::PageError;
use crate::state::{App, AppState};
use crate::store::{hash, random_token};
use crate::{clock, verify};

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

/// Issues a single-use code and redirects to the client with `code`, `state` and `iss`.
pub async fn issue_code(app: &App, p: &Pending, user: Identity) -> Result<Response, PageError> {
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
    Ok(redirect_to_client(app, p, &[("code", &code)]))
}

/// Whether the user may use the resource now: allow lists and the disabled set.
pub async fn user_allowed(app: &App, user: &Identity, resource: &str) -> Result<bool, PageError> {
    let service = app
        .config
        .resources
        .service_of(resource)
        .unwrap_or_default();
    if !app.config.allow.may_use(user, service) {
        return Ok(false);
    }
    Ok(!verify::is_disabled(app, &user.id).await?)
}

pub async fn callback(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let q = parse_query(raw.as_deref())?;
    let state = q
        .get("state")
        .ok_or_else(|| PageError::BadRequest("state is missing".into()))?;
    let pending: Pending = app
        .store
        .take(&app.store.key("state", &hash(state)))
        .await?
        .ok_or_else(|| {
            PageError::BadRequest("this login expired or was already used; start again".into())
        })?;
    if q.contains_key("error") {
        return Ok(redirect_to_client(
            &app,
            &pending,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "the identity provider refused the login",
                ),
            ],
        ));
    }
    let code = q
        .get("code")
        .ok_or_else(|| PageError::BadRequest("code is missing".into()))?;
    let user = app
        .upstream
        .identify(
            &app.config.upstream,
            &app.http,
            code,
            &pending.upstream_verifier,
            &format!("{}/callback", app.issuer()),
        )
        .await
        .map_err(|e| PageError::Upstream(e.to_string()))?;
    if !user_allowed(&app, &user, &pending.resource).await? {
        tracing::warn!(user.id = %user.id, "login refused by allow list");
        return Ok(redirect_to_client(
            &app,
            &pending,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "this user is not allowed to use this server",
                ),
            ],
        ));
    }
    if consent::remembered(&app, &user.id, &pending.client_id).await? {
        return issue_code(&app, &pending, user).await;
    }
    let csrf = random_token();
    consent::ask(&app, pending, user, &csrf)
        .await
        .map(IntoResponse::into_response)
}
