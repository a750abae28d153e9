//! The device authorization grant (RFC 8628) for machines without a browser (a server over SSH,
//! CI): the device asks `/device_authorization` for a device code and a user code; the user
//! opens the verification page elsewhere, enters the user code, logs in upstream, passes the
//! allow lists and approves on the consent page (always shown: a user code can be phished, §5.4);
//! the device polls `/token` until it gets tokens, `access_denied` or `expired_token`.
//!
//! Storage (only hashes of both codes, like every code here): `device:{hash(device code)}` the
//! grant, kept twice its life so late polls hear `expired_token`; `device_user:{hash(user code)}`
//! the device code's hash for the verification page; `device_decision:{hash}` the user's answer,
//! set once; `device_poll:{hash}` the interval marker for `slow_down`; `device_used:{hash}` the
//! family issued, so a replayed device code revokes it (as a replayed authorization code does).

pub mod authorization;
pub mod page;
pub mod user_code;
pub mod verification;

use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::allow::Identity;
use crate::clock;
use crate::error::{AuthorizeError, PageError};
use crate::state::App;
use crate::store::{StoreError, hash};

/// What a device code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceGrant {
    pub client_id: String,
    /// The configured resource (RFC 8707) the device asked for, normalised.
    pub resource: String,
    pub scope: String,
    /// Unix seconds after which polls get `expired_token` (RFC 8628 §3.5).
    pub expires_at: u64,
}

/// The user's answer, recorded once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Approved { user: Identity },
    Denied,
}

/// The Redis keys of one device code, by the code's hash.
pub struct Keys {
    pub grant: String,
    pub decision: String,
    pub poll: String,
    pub used: String,
}

impl Keys {
    pub fn of(app: &App, device_hash: &str) -> Keys {
        let k = |family| app.store.key(family, device_hash);
        Keys {
            grant: k("device"),
            decision: k("device_decision"),
            poll: k("device_poll"),
            used: k("device_used"),
        }
    }
}

/// The key that finds a device code's hash from its user code (normalised).
pub fn user_code_key(app: &App, normalized: &str) -> String {
    app.store.key("device_user", &hash(normalized))
}

/// The grant, unless it is unknown or past its life.
pub async fn live_grant(app: &App, device_hash: &str) -> Result<Option<DeviceGrant>, StoreError> {
    let grant: Option<DeviceGrant> = app.store.get(&Keys::of(app, device_hash).grant).await?;
    Ok(grant.filter(|g| clock::now() < g.expires_at))
}

/// Records a poll; false when the previous one was less than `interval` seconds ago (RFC 8628
/// §3.5 `slow_down`). A tenth of the interval is forgiven for timers and network delays.
pub async fn polled_in_time(app: &App, keys: &Keys, interval: u64) -> Result<bool, StoreError> {
    let opts = redis::SetOptions::default()
        .conditional_set(redis::ExistenceCheck::NX)
        .with_expiration(redis::SetExpiry::PX(interval.saturating_mul(900).max(1)));
    let set: Option<String> =
        redis::AsyncCommands::set_options(&mut app.store.conn(), &keys.poll, clock::now(), opts)
            .await?;
    Ok(set.is_some())
}

/// Records the user's answer once, while the code lives; false when it expired or was answered.
async fn decide(app: &App, device_hash: &str, decision: &Decision) -> Result<bool, PageError> {
    let Some(grant) = live_grant(app, device_hash).await? else {
        return Ok(false);
    };
    let ttl = grant.expires_at.saturating_sub(clock::now()) + app.config.limits.device_ttl;
    let key = Keys::of(app, device_hash).decision;
    Ok(app.store.put_new(&key, decision, ttl).await?)
}

/// The user approved on the consent page: the device's next poll gets the tokens.
pub async fn approve(app: &App, device_hash: &str, user: Identity) -> Result<Response, PageError> {
    tracing::info!(user.id = %user.id, "device authorization approved");
    Ok(
        if decide(app, device_hash, &Decision::Approved { user }).await? {
            page::approved()
        } else {
            page::too_late()
        },
    )
}

/// The login ended without an approval. A refusal (the user, the allow list, the provider) is
/// recorded so the device hears `access_denied`; a failure of the provider leaves the code open
/// for another try.
pub async fn refuse(
    app: &App,
    device_hash: &str,
    e: &AuthorizeError,
) -> Result<Response, PageError> {
    let (code, description) = e.parameters();
    if matches!(e, AuthorizeError::AccessDenied(_)) {
        decide(app, device_hash, &Decision::Denied).await?;
        tracing::info!("device authorization denied");
        return Ok(page::denied(description));
    }
    tracing::warn!(oauth.error = code, "device login failed");
    Ok(page::failed(description))
}
