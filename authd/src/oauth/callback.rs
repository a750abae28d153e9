//! `GET /callback`: the upstream provider's redirect. Exchanges its code, looks the user up,
//! checks the allow lists (DESIGN §4.2), then asks for consent or issues our authorization code.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::authorize::parse_query;
use super::code::issue_code;
use super::consent;
use super::pending::Pending;
use super::response::redirect_to_client;
use crate::allow::Identity;
use crate::error::PageError;
use crate::state::{App, AppState};
use crate::store::{hash, random_token};

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
    Ok(!app.store.is_disabled(&user.id).await?)
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
