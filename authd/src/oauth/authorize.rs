//! `GET /authorize` (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, MCP authorization spec): validate the
//! client and redirect URI first (errors there are a page, never a redirect, §4.1.2.1), then the
//! rest of the request (errors redirected with `state` and `iss`, RFC 9207), then hand over to the
//! upstream provider with our own state and PKCE.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::pending::{LOGIN_TTL, Pending};
use super::response::{found, redirect_to_client};
use super::{cimd, params, pkce, redirect, scope};
use crate::error::PageError;
use crate::state::{App, AppState};
use crate::store::{hash, random_token};

/// RFC 6749 §3.1: parameters must not be repeated.
pub fn parse_query(raw: Option<&str>) -> Result<HashMap<String, String>, PageError> {
    params::parse(raw.unwrap_or("").as_bytes()).map_err(|params::Repeated(name)| {
        PageError::BadRequest(format!("parameter {name} is repeated"))
    })
}

/// The checks after the redirect URI is trusted; `Err` is an OAuth error code and description.
pub fn check_request(
    app: &App,
    q: &HashMap<String, String>,
) -> Result<(String, String, String), (&'static str, String)> {
    if q.get("response_type").map(String::as_str) != Some("code") {
        return Err((
            "unsupported_response_type",
            "response_type must be code".into(),
        ));
    }
    let challenge = q.get("code_challenge").ok_or((
        "invalid_request",
        "code_challenge is required (PKCE)".to_owned(),
    ))?;
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err((
            "invalid_request",
            "code_challenge_method must be S256".into(),
        ));
    }
    if !pkce::valid_challenge(challenge) {
        return Err(("invalid_request", "code_challenge is malformed".into()));
    }
    let resource = q.get("resource").ok_or((
        "invalid_target",
        "resource is required (RFC 8707)".to_owned(),
    ))?;
    let resources = &app.config.resources;
    let service = resources.service_of(resource).ok_or((
        "invalid_target",
        "resource is not an MCP server of this gateway".to_owned(),
    ))?;
    let resource = resources
        .resource_of(service)
        .unwrap_or_default()
        .to_owned();
    Ok((
        challenge.clone(),
        resource,
        scope::resolve(q.get("scope").map(String::as_str)),
    ))
}

pub async fn authorize(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let q = parse_query(raw.as_deref())?;
    let client_id = q
        .get("client_id")
        .ok_or_else(|| PageError::BadRequest("client_id is missing".into()))?;
    let client = cimd::resolve_client(&app, client_id)
        .await
        .map_err(|e| PageError::Unavailable(e.to_string()))?
        .ok_or_else(|| PageError::BadRequest("unknown client".into()))?;
    let registered = &client.metadata.redirect_uris;
    let redirect_uri = match q.get("redirect_uri") {
        Some(r) if redirect::matches(registered, r) => r.clone(),
        Some(_) => {
            return Err(PageError::BadRequest(
                "redirect_uri is not registered for this client".into(),
            ));
        }
        // OAuth 2.1 §4.1.1: optional only when exactly one URI is registered.
        None if registered.len() == 1 => registered[0].clone(),
        None => return Err(PageError::BadRequest("redirect_uri is missing".into())),
    };
    let mut pending = Pending {
        client_id: client.client_id.clone(),
        redirect_uri,
        code_challenge: String::new(),
        resource: String::new(),
        scope: String::new(),
        state: q.get("state").cloned(),
        upstream_verifier: random_token(),
    };
    match check_request(&app, &q) {
        Err((code, description)) => {
            return Ok(redirect_to_client(
                &app,
                &pending,
                &[("error", code), ("error_description", &description)],
            ));
        }
        Ok((challenge, resource, scope)) => {
            pending.code_challenge = challenge;
            pending.resource = resource;
            pending.scope = scope;
        }
    }
    let upstream_state = random_token();
    app.store
        .put(
            &app.store.key("state", &hash(&upstream_state)),
            &pending,
            Some(LOGIN_TTL),
        )
        .await?;
    let url = app
        .upstream
        .authorize_url(
            &app.config.upstream,
            &app.http,
            &format!("{}/callback", app.issuer()),
            &upstream_state,
            &pkce::challenge_of(&pending.upstream_verifier),
        )
        .await
        .map_err(|e| PageError::Upstream(e.to_string()))?;
    Ok(found(&url))
}
