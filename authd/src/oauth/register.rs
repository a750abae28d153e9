//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::client::{self, Client, ClientMetadata};
use super::fetch;
use super::params;
use crate::error::OAuthError;
use crate::state::{App, AppState};
use crate::store::rate::{Counted, Counter};
use crate::store::{hash, random_token, same_secret};
use crate::{clock, credentials};

/// The registration response (RFC 7591 §3.2.1, RFC 7592 §3): the metadata echoed plus credentials.
fn response(
    app: &App,
    c: &Client,
    secret: Option<&str>,
    reg_token: Option<&str>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(&c.metadata).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("client_id".into(), c.client_id.clone().into());
        o.insert("client_id_issued_at".into(), c.issued_at.into());
        if let Some(s) = secret {
            o.insert("client_secret".into(), s.into());
        }
        if c.secret_hash.is_some() {
            // RFC 7591 §3.2.1: 0 means the secret does not expire.
            o.insert("client_secret_expires_at".into(), 0.into());
        }
        if let Some(t) = reg_token {
            o.insert("registration_access_token".into(), t.into());
        }
        o.insert(
            "registration_client_uri".into(),
            format!("{}/register/{}", app.issuer(), c.client_id).into(),
        );
    }
    v
}

fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

/// The source address for rate limiting: the edge appends the client address to
/// `X-Forwarded-For`, so the last entry is the one the edge saw; otherwise the peer.
pub fn source(headers: &HeaderMap, peer: SocketAddr) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| peer.ip().to_string())
}

/// A `jwks_uri` must be one the SSRF guard will fetch (https, a path; `private_key_jwt` is
/// verified with its keys), or the client could never authenticate.
fn fetchable_jwks_uri(app: &App, m: &ClientMetadata) -> Result<(), OAuthError> {
    let insecure = app.config.limits.cimd_insecure_loopback;
    match m.jwks_uri.as_deref() {
        Some(uri) if fetch::acceptable_url(uri, insecure).is_none() => Err(
            OAuthError::InvalidClientMetadata(format!("jwks_uri: {uri} is not an https URL")),
        ),
        _ => Ok(()),
    }
}

/// Counts a registration that passed validation against the per-address limit and the global
/// ceiling; a full one is 429 with the seconds left in its window. Only registrations that are
/// about to succeed are counted: a rejected or refused request uses up nothing.
async fn count(app: &App, source: &str) -> Result<(), OAuthError> {
    let limits = &app.config.limits;
    let (by_source, global) = (
        app.store.key("register_rate", source),
        app.store.key("register_global", ""),
    );
    let counters = [
        Counter {
            key: &by_source,
            limit: limits.register_limit,
        },
        Counter {
            key: &global,
            limit: limits.register_global_limit,
        },
    ];
    match app
        .store
        .check_and_count(&counters, limits.register_window)
        .await?
    {
        Counted::Counted => Ok(()),
        Counted::Full { index, retry_after } => {
            tracing::warn!(
                client.address = %source,
                limit = if index == 0 { "per address" } else { "global" },
                "registration refused by rate limit"
            );
            Err(OAuthError::RateLimited {
                retry_after,
                description: if index == 0 {
                    "too many registrations from this address; retry later"
                } else {
                    "too many registrations; retry later"
                },
            })
        }
    }
}

/// `POST /register` (RFC 7591 §3.1): validate first (cheap, nothing stored or counted), then
/// count against the limits, then store the client, which expires unless it completes an
/// authorization within `REGISTER_UNUSED_CLIENT_TTL_SECS`.
pub async fn register(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let body = params::body(body)?;
    let metadata = client::validate(client::parse_metadata(&body)?, "client_secret_basic")?;
    fetchable_jwks_uri(&app, &metadata)?;
    count(&app, &source(&headers, peer)).await?;
    let secret = client::SECRET_METHODS
        .contains(
            &metadata
                .token_endpoint_auth_method
                .as_deref()
                .unwrap_or_default(),
        )
        .then(random_token);
    let reg_token = random_token();
    let client = Client {
        client_id: random_token()[..22].to_owned(),
        metadata,
        secret_hash: secret.as_deref().map(hash),
        registration_token_hash: Some(hash(&reg_token)),
        issued_at: clock::now(),
    };
    let key = app.store.key("client", &client.client_id);
    let unused_ttl = app.config.limits.register_unused_ttl;
    app.store.put(&key, &client, Some(unused_ttl)).await?;
    tracing::info!(oauth.client_id = %client.client_id, "client registered");
    Ok(no_store(
        StatusCode::CREATED,
        response(&app, &client, secret.as_deref(), Some(&reg_token)),
    ))
}

/// RFC 7592 §2: the registration access token authenticates; a wrong token and an unknown client
/// get the same 401 so existence is not revealed.
async fn authorized(app: &App, id: &str, headers: &HeaderMap) -> Result<Client, OAuthError> {
    let token = credentials::bearer(headers).ok_or(OAuthError::InvalidToken)?;
    let client: Option<Client> = app.store.get(&app.store.key("client", id)).await?;
    let expected = client
        .as_ref()
        .and_then(|c| c.registration_token_hash.clone())
        .unwrap_or_default();
    match client {
        Some(c) if same_secret(&hash(token), &expected) => Ok(c),
        _ => Err(OAuthError::InvalidToken),
    }
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let c = authorized(&app, &id, &headers).await?;
    Ok(no_store(StatusCode::OK, response(&app, &c, None, None)))
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): replaces the metadata; credentials are kept.
pub async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let mut c = authorized(&app, &id, &headers).await?;
    let body = params::body(body)?;
    let raw: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| OAuthError::InvalidClientMetadata(format!("body is not JSON: {e}")))?;
    if raw.get("client_id").and_then(|v| v.as_str()) != Some(id.as_str()) {
        return Err(OAuthError::InvalidRequest(
            "client_id must equal the client being updated".into(),
        ));
    }
    let method = c.auth_method().to_owned();
    let metadata = client::validate(client::parse_metadata(&body)?, &method)?;
    fetchable_jwks_uri(&app, &metadata)?;
    if metadata.token_endpoint_auth_method.as_deref() != Some(method.as_str()) {
        return Err(OAuthError::InvalidClientMetadata(
            "token_endpoint_auth_method cannot change; register a new client".into(),
        ));
    }
    c.metadata = metadata;
    // An update does not make an unused client permanent: the expiry stays.
    app.store.replace(&app.store.key("client", &id), &c).await?;
    Ok(no_store(StatusCode::OK, response(&app, &c, None, None)))
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): 204; the client's tokens stop working at
/// `/token` at once (client requirement D3 of docs/architecture/client-requirements.md).
pub async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    authorized(&app, &id, &headers).await?;
    app.store.del(&[app.store.key("client", &id)]).await?;
    tracing::info!(oauth.client_id = %id, "client deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
