//! The device code grant at `/token` (RFC 8628 §3.4, §3.5): the device polls with its device code
//! until the user answered. Errors in the order a device needs them: the code is unknown or used
//! (`invalid_grant`; a replay revokes what it issued, as for authorization codes), expired
//! (`expired_token`), polled too often (`slow_down`), not answered yet (`authorization_pending`),
//! refused (`access_denied`). The code is redeemed once, atomically.

use super::family::{Family, issue, revoke_family, still_allowed};
use super::request::TokenForm;
use super::response::TokenResponse;
use crate::clock;
use crate::error::OAuthError;
use crate::oauth::client::{Client, DEVICE_CODE_GRANT};
use crate::oauth::device::{Decision, DeviceGrant, Keys, polled_in_time};
use crate::state::App;
use crate::store::{hash, random_token};

pub async fn exchange(
    app: &App,
    client: &Client,
    f: &TokenForm,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(DEVICE_CODE_GRANT) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "{DEVICE_CODE_GRANT} not registered"
        )));
    }
    let code = f
        .device_code
        .as_deref()
        .ok_or_else(|| OAuthError::InvalidRequest("device_code is missing".into()))?;
    let store = &app.store;
    let keys = Keys::of(app, &hash(code));
    let Some(grant) = store.get::<DeviceGrant>(&keys.grant).await? else {
        if let Some(family) = store.get_raw(&keys.used).await? {
            revoke_family(app, &family).await?;
            return Err(OAuthError::InvalidGrant(
                "the device code was already used; its tokens are revoked".into(),
            ));
        }
        return Err(OAuthError::InvalidGrant("unknown device code".into()));
    };
    if grant.client_id != client.client_id {
        return Err(OAuthError::InvalidGrant(
            "the device code was issued to another client".into(),
        ));
    }
    if clock::now() >= grant.expires_at {
        return Err(OAuthError::ExpiredToken);
    }
    let limits = &app.config.limits;
    if !polled_in_time(app, &keys, limits.device_interval).await? {
        return Err(OAuthError::SlowDown);
    }
    let user = match store.get::<Decision>(&keys.decision).await? {
        None => return Err(OAuthError::AuthorizationPending),
        Some(Decision::Denied) => return Err(OAuthError::AccessDenied),
        Some(Decision::Approved { user }) => user,
    };
    let family_id = random_token();
    let taken: Option<DeviceGrant> = store
        .take_code(&keys.grant, &keys.used, &family_id, limits.access_ttl)
        .await?;
    let Some(grant) = taken else {
        return Err(OAuthError::InvalidGrant(
            "the device code was already used".into(),
        ));
    };
    // The allow lists were checked at the login; they may have changed since.
    if !still_allowed(app, &user, &grant.resource).await? {
        return Err(OAuthError::AccessDenied);
    }
    let mut family = Family {
        id: family_id,
        client_id: grant.client_id,
        user,
        resource: grant.resource,
        scope: grant.scope.clone(),
        current: String::new(),
        jtis: Vec::new(),
    };
    let answer = issue(app, &mut family, &grant.scope, &random_token()).await?;
    tracing::info!(oauth.client_id = %client.client_id, user.id = %family.user.id, "device code redeemed");
    if client.is_registered() {
        store
            .persist(&store.key("client", &client.client_id))
            .await?;
    }
    Ok(answer)
}
