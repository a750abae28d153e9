//! Consent per (user, client) (docs/architecture/security.md#users-consent-and-allow-lists; MCP
//! authorization spec "Confused deputy": consent for each dynamically registered client when one
//! upstream client id is shared). The form carries a one-time CSRF token that must also come back
//! in a `SameSite=Lax` cookie (double submit), so a cross-site page cannot post a decision.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::cimd::resolve_client;
use super::code::{issue_code, refuse};
use super::pending::{LOGIN_TTL, Pending};
use super::redirect;
use crate::allow::Identity;
use crate::error::{AuthorizeError, PageError};
use crate::html::{ConsentView, consent_page, protect};
use crate::state::{App, AppState};
use crate::store::{hash, same_secret};

const COOKIE: &str = "authd_csrf";

#[derive(Serialize, Deserialize)]
struct Asked {
    pending: Pending,
    user: Identity,
}

pub fn consent_key(app: &App, user: &str, client: &str) -> String {
    app.store
        .key("consent", &format!("{}:{}", hash(user), hash(client)))
}

/// What `consent:*` holds: who allowed which client and when (`authd consents list`). The key
/// itself is made of hashes, so the ids are kept in the value.
#[derive(Serialize, Deserialize)]
pub struct Consent {
    pub user: String,
    pub client_id: String,
    pub granted_at: u64,
}

pub async fn remembered(app: &App, user: &str, client: &str) -> Result<bool, PageError> {
    Ok(app
        .store
        .get_raw(&consent_key(app, user, client))
        .await?
        .is_some())
}

/// Renders the consent page and remembers the request under the CSRF token.
pub async fn ask(
    app: &App,
    pending: Pending,
    user: Identity,
    csrf: &str,
) -> Result<Response, PageError> {
    let client = resolve_client(app, &pending.client_id)
        .await
        .map_err(|e| PageError::Unavailable(e.to_string()))?
        .ok_or_else(|| PageError::BadRequest("the client no longer exists".into()))?;
    let host = url::Url::parse(&pending.redirect_uri)
        .ok()
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")))
        .unwrap_or_default();
    let action = format!("{}/consent", app.issuer());
    let html = consent_page(&ConsentView {
        action: &action,
        csrf,
        user: &user.name,
        client_name: client.display_name(),
        redirect_host: &host,
        resource: &pending.resource,
        local_only: client
            .metadata
            .redirect_uris
            .iter()
            .all(|u| redirect::is_loopback_uri(u)),
        scope: &pending.scope,
        device: pending.device.is_some(),
    });
    let asked = Asked { pending, user };
    app.store
        .put(
            &app.store.key("consent_pending", &hash(csrf)),
            &asked,
            Some(LOGIN_TTL),
        )
        .await?;
    let secure = if app.issuer().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{COOKIE}={csrf}; Path=/; HttpOnly; SameSite=Lax; Max-Age={LOGIN_TTL}{secure}");
    let mut resp = html.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        h.insert(header::SET_COOKIE, v);
    }
    // Clickjacking: the consent page must not be framed.
    protect(h);
    Ok(resp)
}

#[derive(Deserialize)]
pub struct Decision {
    csrf: String,
    decision: String,
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `POST /consent`.
pub async fn decide(
    State(app): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Decision>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let Form(d) = form.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            PageError::TooLarge
        } else {
            PageError::BadRequest("malformed consent form".into())
        }
    })?;
    let cookie = cookie_value(&headers, COOKIE).unwrap_or_default();
    if cookie.is_empty() || !same_secret(cookie, &d.csrf) {
        return Err(PageError::Forbidden(
            "the consent form did not come from this browser session".into(),
        ));
    }
    let asked: Asked = app
        .store
        .take(&app.store.key("consent_pending", &hash(&d.csrf)))
        .await?
        .ok_or_else(|| {
            PageError::BadRequest("this consent request expired or was already answered".into())
        })?;
    if d.decision != "approve" {
        return refuse(
            &app,
            &asked.pending,
            &AuthorizeError::AccessDenied("the user denied access".into()),
        )
        .await;
    }
    let key = consent_key(&app, &asked.user.id, &asked.pending.client_id);
    let consent = Consent {
        user: asked.user.id.clone(),
        client_id: asked.pending.client_id.clone(),
        granted_at: crate::clock::now(),
    };
    app.store
        .put(&key, &consent, Some(app.config.limits.consent_ttl))
        .await?;
    issue_code(&app, &asked.pending, asked.user).await
}
