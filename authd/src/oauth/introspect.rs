//! `POST /introspect` (RFC 7662): client-authenticated; a client learns only about its own tokens
//! (§2.2 lets the server answer `active: false` for tokens the caller may not see).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use serde_json::json;

use super::revoke::{Known, authenticated, lookup};
use super::token::family::Family;
use crate::error::OAuthError;
use crate::state::AppState;

pub async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, OAuthError> {
    let (client, token) = authenticated(&app, &headers, body).await?;
    let token = token.as_str();
    let store = &app.store;
    let inactive = Json(json!({ "active": false }));
    match lookup(&app, token, &client.client_id).await? {
        Some(Known::Access(c)) => {
            if store
                .get::<serde_json::Value>(&store.key("token", &c.jti))
                .await?
                .is_none()
            {
                return Ok(inactive);
            }
            Ok(Json(json!({
                "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id,
                "username": c.name, "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp,
                "iat": c.iat, "nbf": c.nbf, "jti": c.jti,
            })))
        }
        Some(Known::Refresh(r)) => {
            match store.get::<Family>(&store.key("family", &r.family)).await? {
                Some(f) => Ok(Json(json!({
                    "active": true, "token_type": "refresh_token", "scope": f.scope, "client_id": f.client_id,
                    "username": f.user.name, "sub": f.user.id, "aud": f.resource, "iss": app.issuer(),
                }))),
                None => Ok(inactive),
            }
        }
        None => Ok(inactive),
    }
}
