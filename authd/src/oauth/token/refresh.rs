//! The refresh token grant (RFC 6749 §6) with rotation (OAuth 2.1 §4.3.1): each use returns a new
//! refresh token; a replay of a rotated one revokes the family, except within a short grace window
//! for the immediately previous token, where the retry gets the same new pair (client requirement
//! T3 of docs/architecture/client-requirements.md).
//!
//! No token is stored in clear: the new refresh token is an HMAC of the old one under a server
//! secret, and the answer kept for the grace window is sealed (AES-256-GCM) under a key derived
//! from the old refresh token, which Redis never holds. Failed validation consumes nothing.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::family::{Family, RefreshRecord, issue, revoke_family, same_resource, still_allowed};
use super::request::TokenForm;
use super::response::TokenResponse;
use crate::clock;
use crate::error::OAuthError;
use crate::oauth::client::Client;
use crate::oauth::scope;
use crate::state::App;
use crate::store::hash;

/// `refresh_rotated:{hash}`: when the token was rotated and the sealed answer given then.
#[derive(Debug, Serialize, Deserialize)]
struct Rotation {
    at: u64,
    #[serde(default)]
    sealed: Option<String>,
}

/// Whether a retry of a token rotated at `rotated_at` is still the tolerated client race.
pub fn replay_allowed(rotated_at: u64, now: u64, grace: u64, successor_is_current: bool) -> bool {
    successor_is_current && now.saturating_sub(rotated_at) < grace
}

fn seal_key(token: &str) -> Option<LessSafeKey> {
    let k = Sha256::digest([b"authd grace seal\0".as_slice(), token.as_bytes()].concat());
    UnboundKey::new(&AES_256_GCM, &k).ok().map(LessSafeKey::new)
}

/// Encrypts `plain` under a key only the holder of `token` can derive.
pub fn seal(token: &str, plain: &[u8]) -> Option<String> {
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let mut buf = plain.to_vec();
    seal_key(token)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::empty(),
            &mut buf,
        )
        .ok()?;
    Some(URL_SAFE_NO_PAD.encode([nonce_bytes.as_slice(), &buf].concat()))
}

pub fn unseal(token: &str, sealed: &str) -> Option<Vec<u8>> {
    let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (n, c) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(n).ok()?;
    let mut buf = c.to_vec();
    let plain = seal_key(token)?
        .open_in_place(nonce, Aad::empty(), &mut buf)
        .ok()?;
    Some(plain.to_vec())
}

pub async fn exchange(
    app: &App,
    client: &Client,
    f: &TokenForm,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::UnauthorizedClient(
            "refresh_token not registered".into(),
        ));
    }
    let token = f
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is missing".into()))?;
    let store = &app.store;
    let h = hash(token);
    let record: RefreshRecord = store
        .get(&store.key("refresh", &h))
        .await?
        .ok_or_else(|| OAuthError::InvalidGrant("unknown or expired refresh token".into()))?;
    if record.client_id != client.client_id {
        return Err(OAuthError::InvalidGrant(
            "the refresh token belongs to another client".into(),
        ));
    }
    let mut family: Family = store
        .get(&store.key("family", &record.family))
        .await?
        .ok_or_else(|| OAuthError::InvalidGrant("the refresh token was revoked".into()))?;
    let granted_scope = scope::narrow(&family.scope, f.scope.as_deref())
        .ok_or_else(|| OAuthError::InvalidRequest("scope exceeds the original grant".into()))?;
    // Client requirement T2: no resource keeps the grant's resource.
    same_resource(f.resource.as_deref(), &family.resource)?;
    if !still_allowed(app, &family.user, &family.resource).await? {
        return Err(OAuthError::InvalidGrant(
            "the user is no longer allowed".into(),
        ));
    }
    let successor = app.keys.derive(token);
    let now = clock::now();
    let limits = &app.config.limits;
    let marker = store.key("refresh_rotated", &h);
    let claim = Rotation {
        at: now,
        sealed: None,
    };
    if store.put_new(&marker, &claim, limits.refresh_ttl).await? {
        let answer = issue(app, &mut family, &granted_scope, &successor).await?;
        let sealed = serde_json::to_vec(&answer)
            .ok()
            .and_then(|p| seal(token, &p));
        let done = Rotation { at: now, sealed };
        store.put(&marker, &done, Some(limits.refresh_ttl)).await?;
        return Ok(answer);
    }
    let rotation: Option<Rotation> = store.get(&marker).await?;
    let rotated_at = rotation.as_ref().map_or(0, |r| r.at);
    if replay_allowed(
        rotated_at,
        now,
        limits.refresh_grace,
        family.current == hash(&successor),
    ) {
        let earlier = rotation
            .and_then(|r| r.sealed)
            .and_then(|s| unseal(token, &s))
            .and_then(|p| serde_json::from_slice::<TokenResponse>(&p).ok());
        return match earlier {
            Some(answer) => Ok(answer),
            // The first request is still being answered: give the retry its own access token.
            None => issue(app, &mut family, &granted_scope, &successor).await,
        };
    }
    revoke_family(app, &family.id).await?;
    Err(OAuthError::InvalidGrant(
        "refresh token reused; the grant was revoked".into(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn grace_window_is_exact() {
        assert!(replay_allowed(100, 100, 30, true));
        assert!(replay_allowed(100, 129, 30, true));
        assert!(!replay_allowed(100, 130, 30, true));
        assert!(!replay_allowed(100, 101, 30, false));
        assert!(!replay_allowed(100, 100, 0, true), "grace 0 means no grace");
    }

    #[test]
    fn sealed_answers_open_only_with_the_old_token() {
        let s = seal("old-token", b"pair").unwrap();
        assert_eq!(unseal("old-token", &s).unwrap(), b"pair");
        assert!(unseal("other-token", &s).is_none());
        assert!(unseal("old-token", "AAAA").is_none());
    }
}
