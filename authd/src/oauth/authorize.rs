//! `GET /authorize` (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, MCP authorization spec): validate the
//! client and redirect URI first (errors there are a page, never a redirect, §4.1.2.1), then the
//! rest of the request (errors redirected with `state` and `iss`, RFC 9207), then hand over to the
//! upstream provider with our own state and PKCE (and the `prompt` it should honour).

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::pending::Pending;
use super::prompt::Prompt;
use super::response::{self, found};
use super::{cimd, login, params, pkce, redirect, scope};
use crate::error::{AuthorizeError, PageError};
use crate::resource::Resources;
use crate::state::AppState;
use crate::store::random_token;

/// RFC 6749 §3.1: parameters must not be repeated.
pub fn parse_query(raw: Option<&str>) -> Result<HashMap<String, String>, PageError> {
    params::parse(raw.unwrap_or("").as_bytes()).map_err(|params::Repeated(name)| {
        PageError::BadRequest(format!("parameter {name} is repeated"))
    })
}

/// What a valid authorization request asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    pub code_challenge: String,
    /// The configured resource the request names (normalised, client requirement Z3 of
    /// docs/architecture/client-requirements.md).
    pub resource: String,
    pub scope: String,
    pub prompt: Prompt,
}

/// The checks after the client and redirect URI are trusted. Pure, so fuzz targets can call it.
pub fn check_request(
    resources: &Resources,
    q: &HashMap<String, String>,
) -> Result<Checked, AuthorizeError> {
    if q.get("response_type").map(String::as_str) != Some("code") {
        return Err(AuthorizeError::UnsupportedResponseType(
            "response_type must be code".into(),
        ));
    }
    let challenge = q.get("code_challenge").ok_or_else(|| {
        AuthorizeError::InvalidRequest("code_challenge is required (PKCE)".into())
    })?;
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err(AuthorizeError::InvalidRequest(
            "code_challenge_method must be S256".into(),
        ));
    }
    if !pkce::valid_challenge(challenge) {
        return Err(AuthorizeError::InvalidRequest(
            "code_challenge is malformed".into(),
        ));
    }
    let resource = q
        .get("resource")
        .ok_or_else(|| AuthorizeError::InvalidTarget("resource is required (RFC 8707)".into()))?;
    let (_, resource) = resources.resolve(resource).ok_or_else(|| {
        AuthorizeError::InvalidTarget("resource is not an MCP server of this gateway".into())
    })?;
    Ok(Checked {
        code_challenge: challenge.clone(),
        resource: resource.to_owned(),
        scope: scope::resolve(q.get("scope").map(String::as_str)),
        prompt: Prompt::parse(q.get("prompt").map(String::as_str))?,
    })
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
        prompt: Prompt::default(),
        device: None,
    };
    let checked = check_request(&app.config.resources, &q)
        .and_then(|c| Ok((c.prompt.upstream(&app.config.upstream)?, c)));
    let (upstream_prompt, checked) = match checked {
        Ok(c) => c,
        Err(e) => return Ok(response::with_error(&app, &pending, &e)),
    };
    pending.code_challenge = checked.code_challenge;
    pending.resource = checked.resource;
    pending.scope = checked.scope;
    pending.prompt = checked.prompt;
    Ok(
        match login::upstream_url(&app, &pending, upstream_prompt).await? {
            Ok(url) => found(&url),
            // The upstream provider is down: the client learns it at once (RFC 6749 §4.1.2.1).
            Err(e) => response::with_error(&app, &pending, &e),
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::resource::Routing;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn request_checks_in_order() {
        let resources = Resources::new(
            Routing::Path {
                public_url: "https://gw.example.com".into(),
            },
            vec!["fetch".into()],
        );
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let good = [
            ("response_type", "code"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", "HTTPS://GW.example.com/fetch/mcp/"),
            ("prompt", "consent"),
        ];
        let c = check_request(&resources, &query(&good)).unwrap();
        assert_eq!(c.resource, "https://gw.example.com/fetch/mcp");
        assert_eq!(c.scope, "mcp offline_access");
        assert!(c.prompt.consent);
        let with = |k: &str, v: &str| {
            let mut q = query(&good);
            q.insert(k.into(), v.into());
            check_request(&resources, &q).unwrap_err().parameters().0
        };
        assert_eq!(with("response_type", "token"), "unsupported_response_type");
        assert_eq!(with("code_challenge_method", "plain"), "invalid_request");
        assert_eq!(with("code_challenge", "short"), "invalid_request");
        assert_eq!(
            with("resource", "https://gw.example.com/x/mcp"),
            "invalid_target"
        );
        assert_eq!(with("prompt", "none login"), "invalid_request");
    }
}
