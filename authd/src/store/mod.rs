//! Redis storage (docs/architecture/security.md#what-redis-holds). Key families (all under the
//! configured prefix, default `oauth:`; the table is in `authd/CONTRACT.md`): `state:*`,
//! `consent_pending:*`, `code:*`, `code_used:*`, `token:{jti}`, `refresh:*`, `refresh_rotated:*`,
//! `family:*`, `client:*`, `consent:*`, `cimd:*`, `jwks:previous` (see `published`), `device*:*`
//! (see `oauth::device`), `disabled_users`, `register_rate:*`, `register_global` (see `rate`),
//! `user_tokens:{user}` (see `user_tokens`).
//!
//! Secrets (codes, refresh tokens, registration tokens, client secrets) are stored only as SHA-256
//! hashes, so a leaked dump grants nothing. Every key has a TTL except clients that completed an
//! authorization and the admin-managed set of disabled users. Single use is atomic (GETDEL in a
//! Lua script).

pub mod connection;
pub mod published;
pub mod rate;
pub mod user_tokens;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::config::Config;
use connection::Connection;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("corrupt record at {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Handle on Redis; cheap to clone (the connection manager multiplexes one connection).
#[derive(Clone)]
pub struct Store {
    conn: Connection,
    prefix: std::sync::Arc<str>,
    /// `{prefix}disabled_users`, built once: `/verify` names it on every call.
    disabled: std::sync::Arc<str>,
}

/// Redeems a code once: returns it and leaves a marker naming the family it issued (replay
/// detection, RFC 6749 §4.1.2 "SHOULD revoke all tokens previously issued based on that code").
const TAKE_CODE: &str = r"
local v = redis.call('GETDEL', KEYS[1])
if v then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2]) end
return v";

impl Store {
    /// Creates the store without connecting: authd starts (and reports 503) while Redis is down.
    pub fn new(config: &Config) -> Result<Store> {
        Ok(Store {
            conn: Connection::new(
                &config.redis,
                config.redis_password.as_ref(),
                config.redis_sentinel_password.as_ref(),
            )?,
            prefix: config.key_prefix.as_str().into(),
            disabled: format!("{}disabled_users", config.key_prefix).into(),
        })
    }

    /// The full key of `family:id`.
    pub fn key(&self, family: &str, id: &str) -> String {
        format!("{}{family}:{id}", self.prefix)
    }

    pub fn conn(&self) -> Connection {
        self.conn.clone()
    }

    pub async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(())
    }

    pub async fn put<T: Serialize>(&self, key: &str, value: &T, ttl: Option<u64>) -> Result<()> {
        let json = serde_json::to_string(value).map_err(|_| StoreError::Corrupt(key.into()))?;
        let mut c = self.conn();
        match ttl {
            Some(t) => c.set_ex::<_, _, ()>(key, json, t.max(1)).await?,
            None => c.set::<_, _, ()>(key, json).await?,
        }
        Ok(())
    }

    /// Stores only when absent; true when this call stored it.
    pub async fn put_new<T: Serialize>(&self, key: &str, value: &T, ttl: u64) -> Result<bool> {
        let json = serde_json::to_string(value).map_err(|_| StoreError::Corrupt(key.into()))?;
        let opts = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(ttl.max(1)));
        let r: Option<String> = self.conn().set_options(key, json, opts).await?;
        Ok(r.is_some())
    }

    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let raw: Option<String> = self.conn().get(key).await?;
        decode(key, raw)
    }

    /// A plain string value (markers written by Lua scripts).
    pub async fn get_raw(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn().get(key).await?)
    }

    /// GETDEL: the value at most once.
    pub async fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let raw: Option<String> = self.conn().get_del(key).await?;
        decode(key, raw)
    }

    /// Takes a code and atomically records `marker` at `used_key` (see `TAKE_CODE`).
    pub async fn take_code<T: DeserializeOwned>(
        &self,
        key: &str,
        used_key: &str,
        marker: &str,
        ttl: u64,
    ) -> Result<Option<T>> {
        let raw: Option<String> = redis::Script::new(TAKE_CODE)
            .key(key)
            .key(used_key)
            .arg(marker)
            .arg(ttl.max(1))
            .invoke_async(&mut self.conn())
            .await?;
        decode(key, raw)
    }

    pub async fn del(&self, keys: &[String]) -> Result<()> {
        if !keys.is_empty() {
            let _: i64 = self.conn().del(keys).await?;
        }
        Ok(())
    }

    /// Replaces a value and keeps its time to live (RFC 7592 updates of a client that may still
    /// expire unused).
    pub async fn replace<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let json = serde_json::to_string(value).map_err(|_| StoreError::Corrupt(key.into()))?;
        let opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::KEEPTTL);
        let _: Option<String> = self.conn().set_options(key, json, opts).await?;
        Ok(())
    }

    /// Removes a key's time to live (a client that completed an authorization is kept).
    pub async fn persist(&self, key: &str) -> Result<()> {
        let _: bool = self.conn().persist(key).await?;
        Ok(())
    }

    /// Keys of one family (admin CLI only: SCAN, never KEYS).
    pub async fn scan(&self, family: &str) -> Result<Vec<String>> {
        let pattern = format!("{}{family}:*", self.prefix);
        let mut c = self.conn();
        let mut iter: redis::AsyncIter<String> = c.scan_match(pattern).await?;
        let mut keys = Vec::new();
        while let Some(k) = futures_next(&mut iter).await {
            keys.push(k?);
        }
        Ok(keys)
    }

    /// The set of users disabled by `authd users disable`.
    pub fn disabled_key(&self) -> &str {
        &self.disabled
    }

    /// Is the user in the disabled set (`authd users disable`)?
    pub async fn is_disabled(&self, user: &str) -> Result<bool> {
        let v: bool = self.conn().sismember(self.disabled_key(), user).await?;
        Ok(v)
    }
}

async fn futures_next(iter: &mut redis::AsyncIter<'_, String>) -> Option<Result<String>> {
    iter.next_item().await.map(|r| r.map_err(StoreError::from))
}

fn decode<T: DeserializeOwned>(key: &str, raw: Option<String>) -> Result<Option<T>> {
    raw.map(|s| serde_json::from_str(&s).map_err(|_| StoreError::Corrupt(key.into())))
        .transpose()
}

/// SHA-256 of a secret, base64url: what Redis keys and records hold instead of the secret.
pub fn hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// 256 bits from the OS CSPRNG, base64url: codes, refresh tokens, secrets, states.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time comparison of two secret hashes (no early exit on the first differing byte).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_tokens() {
        assert_eq!(hash("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_token());
        assert!(same_secret("x", "x"));
        assert!(!same_secret("x", "y"));
    }
}
