//! Public signing keys published in Redis, so that every replica accepts every key some replica
//! signs with (the RFC 7517 key set at `/jwks`, and `/verify`): `jwks:previous`, a sorted set of
//! public JWKs scored by the time until which each stays published. Every running authd re-publishes its own
//! keys (current and prepared) every `REFRESH_SECS`, and `authd keys rotate` publishes the key it
//! retires, each until the last token it may have signed expires. Private keys never go to Redis.

use jsonwebtoken::jwk::Jwk;

use super::{Result, Store, StoreError};
use crate::clock;

/// Seconds between a replica's re-publishing of its keys and reloading of the others'.
pub const REFRESH_SECS: u64 = 30;

/// How long after `now` a key signing tokens of `access_ttl` stays published: a token signed
/// just before the next re-publishing lives `access_ttl` after it.
pub fn until(now: u64, access_ttl: u64) -> u64 {
    now + access_ttl + 2 * REFRESH_SECS
}

/// The keys still published.
pub async fn load(store: &Store) -> Result<Vec<Jwk>> {
    let raw: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(store.key("jwks", "previous"))
        .arg(clock::now())
        .arg("+inf")
        .query_async(&mut store.conn())
        .await?;
    Ok(raw
        .iter()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect())
}

/// Publishes `keys` until `until` (never shortening an earlier, longer publication: ZADD GT) and
/// drops the expired ones.
pub async fn publish(store: &Store, keys: &[&Jwk], until: u64) -> Result<()> {
    let key = store.key("jwks", "previous");
    let now = clock::now();
    let mut pipe = redis::pipe();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(now)
        .ignore();
    for jwk in keys {
        let member = serde_json::to_string(jwk).map_err(|_| StoreError::Corrupt(key.clone()))?;
        pipe.cmd("ZADD")
            .arg(&key)
            .arg("GT")
            .arg(until)
            .arg(member)
            .ignore();
    }
    pipe.cmd("EXPIRE")
        .arg(&key)
        .arg(until.saturating_sub(now).max(1))
        .ignore();
    pipe.query_async::<()>(&mut store.conn()).await?;
    Ok(())
}
