//! `POST /device_authorization` (RFC 8628 §3.1, §3.2): a client registered for the device grant
//! asks for a device code and a user code, for one configured resource (RFC 8707 §2, as at
//! `/authorize`). Client authentication is the client's registered method, as at `/token`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{DeviceGrant, Keys, user_code, user_code_key};
use crate::clock;
use crate::error::OAuthError;
use crate::oauth::client::DEVICE_CODE_GRANT;
use crate::oauth::client_auth::{self, FormCredentials};
use crate::oauth::{params, scope};
use crate::state::AppState;
use crate::store::{hash, random_token};

/// New user codes tried when one collides with a live code before giving up.
const USER_CODE_TRIES: usize = 8;

pub async fn device_authorization(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let mut p = params::form(&headers, body)?;
    let credentials = FormCredentials::take(&mut p);
    let client = client_auth::authenticate(&app, &headers, &credentials).await?;
    if !client.allows_grant(DEVICE_CODE_GRANT) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "the client did not register the grant type {DEVICE_CODE_GRANT}"
        )));
    }
    let requested = p
        .get("resource")
        .ok_or_else(|| OAuthError::InvalidTarget("resource is required (RFC 8707)".into()))?;
    let (_, resource) = app.config.resources.resolve(requested).ok_or_else(|| {
        OAuthError::InvalidTarget("resource is not an MCP server of this gateway".into())
    })?;
    let resource = resource.to_owned();
    let limits = &app.config.limits;
    let device_code = random_token();
    let device_hash = hash(&device_code);
    let grant = DeviceGrant {
        client_id: client.client_id.clone(),
        resource,
        scope: scope::resolve(p.get("scope").map(String::as_str)),
        expires_at: clock::now() + limits.device_ttl,
    };
    let store = &app.store;
    // Kept twice its life: a late poll hears `expired_token`, not an unknown code.
    let keys = Keys::of(&app, &device_hash);
    store
        .put(&keys.grant, &grant, Some(2 * limits.device_ttl))
        .await?;
    let mut shown = None;
    for _ in 0..USER_CODE_TRIES {
        let code = user_code::generate();
        let key = user_code_key(&app, &code.replace('-', ""));
        if store.put_new(&key, &device_hash, limits.device_ttl).await? {
            shown = Some(code);
            break;
        }
    }
    let user_code = shown.ok_or_else(|| OAuthError::Server("no free user code".into()))?;
    tracing::info!(oauth.client_id = %client.client_id, "device authorization started");
    let verification_uri = format!("{}/device", app.issuer());
    let body = serde_json::json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
        "expires_in": limits.device_ttl,
        "interval": limits.device_interval,
    });
    let mut resp = Json(body).into_response();
    // RFC 8628 §3.2 refers to RFC 6749 §5.1: no caching of codes.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
