//! Token families. A family is everything issued from one authorization code: the
//! current refresh token (as a hash) and every access token id, so that a replayed code or a
//! replayed rotated refresh token revokes all of it (RFC 6749 §4.1.2 and §10.4, OAuth 2.1 §4.3.1).

use serde::{Deserialize, Serialize};

use super::response::TokenResponse;
use crate::allow::Identity;
use crate::clock;
use crate::error::OAuthError;
use crate::state::App;
use crate::store::user_tokens::Held;
use crate::store::{hash, random_token};
use crate::token::jwt::{self, AccessClaims};

/// The grant behind a family.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Family {
    pub id: String,
    pub client_id: String,
    pub user: Identity,
    pub resource: String,
    pub scope: String,
    /// Hash of the refresh token that is current.
    pub current: String,
    pub jtis: Vec<String>,
}

/// What `refresh:{hash}` points to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub family: String,
    pub client_id: String,
}

/// What `token:{jti}` holds (presence = not revoked).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub sub: String,
    pub client_id: String,
    pub aud: String,
    pub scope: String,
    pub exp: u64,
    #[serde(default)]
    pub family: Option<String>,
}

/// RFC 8707 §2.2: a `resource` at the token endpoint must name the granted resource; none keeps it
/// (client requirement T2 of docs/architecture/client-requirements.md).
pub fn same_resource(requested: Option<&str>, granted: &str) -> Result<(), OAuthError> {
    match requested {
        Some(r) if crate::resource::normalize(r).as_deref() != Some(granted) => Err(
            OAuthError::InvalidTarget("resource differs from the grant".into()),
        ),
        _ => Ok(()),
    }
}

/// Whether the user may still use the resource: the allow lists (global and the service's) and
/// the disabled set, checked again whenever tokens are issued after the login.
pub async fn still_allowed(app: &App, user: &Identity, resource: &str) -> Result<bool, OAuthError> {
    let service = app
        .config
        .resources
        .service_of(resource)
        .unwrap_or_default();
    Ok(app.config.allow.may_use(user, service) && !app.store.is_disabled(&user.id).await?)
}

/// Signs an access token and records its id so `/verify` accepts it, and in the user's index.
pub async fn mint_access(
    app: &App,
    user: &Identity,
    client_id: &str,
    resource: &str,
    scope: &str,
    ttl: u64,
    family: Option<&str>,
) -> Result<(String, AccessClaims), OAuthError> {
    let now = clock::now();
    let claims = AccessClaims {
        iss: app.issuer().to_owned(),
        sub: user.id.clone(),
        aud: resource.to_owned(),
        client_id: client_id.to_owned(),
        scope: scope.to_owned(),
        jti: random_token(),
        iat: now,
        nbf: now,
        exp: now + ttl,
        name: user.name.clone(),
        email: user.email.clone(),
        orgs: user.orgs.clone(),
    };
    let jwt =
        jwt::sign(&app.keys, &claims).map_err(|e| OAuthError::Server(format!("signing: {e}")))?;
    let record = TokenRecord {
        sub: claims.sub.clone(),
        client_id: claims.client_id.clone(),
        aud: claims.aud.clone(),
        scope: claims.scope.clone(),
        exp: claims.exp,
        family: family.map(str::to_owned),
    };
    let store = &app.store;
    store
        .put(&store.key("token", &claims.jti), &record, Some(ttl))
        .await?;
    store
        .index_user(&claims.sub, &Held::Access(claims.jti.clone()), claims.exp)
        .await?;
    Ok((jwt, claims))
}

/// Issues an access token in `family` (narrowed to `scope`), stores `refresh_token` as the family's
/// current one and answers the token request.
pub async fn issue(
    app: &App,
    family: &mut Family,
    scope: &str,
    refresh_token: &str,
) -> Result<TokenResponse, OAuthError> {
    let limits = &app.config.limits;
    let (jwt, claims) = mint_access(
        app,
        &family.user,
        &family.client_id,
        &family.resource,
        scope,
        limits.access_ttl,
        Some(&family.id),
    )
    .await?;
    // Keep the list bounded: ids of tokens that have expired are useless for revocation.
    family.jtis.push(claims.jti);
    if family.jtis.len() > 64 {
        family.jtis.remove(0);
    }
    family.current = hash(refresh_token);
    let record = RefreshRecord {
        family: family.id.clone(),
        client_id: family.client_id.clone(),
    };
    let store = &app.store;
    store
        .put(
            &store.key("refresh", &family.current),
            &record,
            Some(limits.refresh_ttl),
        )
        .await?;
    store
        .put(
            &store.key("family", &family.id),
            family,
            Some(limits.refresh_ttl),
        )
        .await?;
    store
        .index_user(
            &family.user.id,
            &Held::Family(family.id.clone()),
            clock::now() + limits.refresh_ttl,
        )
        .await?;
    Ok(TokenResponse {
        access_token: jwt,
        token_type: "Bearer".to_owned(),
        expires_in: limits.access_ttl,
        refresh_token: refresh_token.to_owned(),
        scope: scope.to_owned(),
    })
}

/// Revokes a whole family: its access tokens and (by deleting the family) its refresh tokens.
pub async fn revoke_family(app: &App, id: &str) -> Result<(), OAuthError> {
    let store = &app.store;
    let key = store.key("family", id);
    if let Some(f) = store.get::<Family>(&key).await? {
        let mut keys: Vec<String> = f.jtis.iter().map(|j| store.key("token", j)).collect();
        keys.push(key);
        store.del(&keys).await?;
        tracing::warn!(oauth.client_id = %f.client_id, user.id = %f.user.id, "token family revoked");
    }
    Ok(())
}
