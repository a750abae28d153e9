//! The verification page (RFC 8628 §3.3): `GET /device` shows the form (filled in from
//! `verification_uri_complete`, §3.3.1, but never submitted for the user), `POST /device` checks
//! the code and sends the user to the upstream login; the consent page follows, always. Wrong
//! codes are counted per source address for a device code's life (§5.1: brute force).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{Keys, live_grant, page, user_code, user_code_key};
use crate::error::PageError;
use crate::oauth::pending::Pending;
use crate::oauth::prompt::Prompt;
use crate::oauth::register::source;
use crate::oauth::response::found;
use crate::oauth::{login, params};
use crate::state::{App, AppState};
use crate::store::random_token;
use crate::store::rate::{Counted, Counter};

fn action(app: &App) -> String {
    format!("{}/device", app.issuer())
}

/// `GET /device[?user_code=...]`.
pub async fn show(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let q = params::parse(raw.unwrap_or_default().as_bytes()).map_err(|params::Repeated(n)| {
        PageError::BadRequest(format!("parameter {n} is repeated"))
    })?;
    let prefilled = q.get("user_code").map(String::as_str).unwrap_or("");
    Ok(page::enter_code(&action(&app), prefilled, None))
}

/// `POST /device` with the form field `user_code`.
pub async fn submit(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PageError::TooLarge
        } else {
            PageError::BadRequest("malformed form".into())
        }
    })?;
    let typed = form.get("user_code").map(String::as_str).unwrap_or("");
    let limits = &app.config.limits;
    let attempts = app.store.key("device_attempts", &source(&headers, peer));
    let failures: u64 = app
        .store
        .get_raw(&attempts)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if failures >= limits.device_attempts {
        return Ok(page::too_many(limits.device_ttl));
    }
    let device_hash = match user_code::normalize(typed) {
        Some(code) => app.store.get::<String>(&user_code_key(&app, &code)).await?,
        None => None,
    };
    let grant = match &device_hash {
        Some(h) => live_grant(&app, h).await?,
        None => None,
    };
    let (Some(device_hash), Some(grant)) = (device_hash, grant) else {
        let counter = Counter {
            key: &attempts,
            limit: limits.device_attempts,
        };
        if let Counted::Full { retry_after, .. } = app
            .store
            .check_and_count(&[counter], limits.device_ttl)
            .await?
        {
            return Ok(page::too_many(retry_after));
        }
        let problem = "This code is not valid, or it expired. Check the code on the device.";
        return Ok(page::enter_code(&action(&app), typed, Some(problem)));
    };
    let answered: Option<String> = app
        .store
        .get_raw(&Keys::of(&app, &device_hash).decision)
        .await?;
    if answered.is_some() {
        return Ok(page::too_late());
    }
    let pending = Pending {
        client_id: grant.client_id,
        redirect_uri: String::new(),
        code_challenge: String::new(),
        resource: grant.resource,
        scope: grant.scope,
        state: None,
        upstream_verifier: random_token(),
        // RFC 8628 §5.4 (remote phishing): the user confirms every device, even a client they
        // approved before.
        prompt: Prompt {
            consent: true,
            ..Prompt::default()
        },
        device: Some(device_hash),
    };
    Ok(match login::upstream_url(&app, &pending, None).await? {
        Ok(url) => found(&url),
        Err(e) => page::failed(e.parameters().1),
    })
}
