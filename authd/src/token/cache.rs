//! Recently verified access tokens, so `/verify` (every MCP request) checks the RSA signature of a
//! token once, not on every call. Only tokens whose signature verified are cached; times, issuer,
//! audience, revocation and allow lists are still checked on every call by the caller. The cache
//! is bounded (cleared when full) and cleared whenever the key set is reloaded.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::jwt::{self, AccessClaims, JwtError};
use super::keys::KeyRing;
use crate::allow::Identity;

/// A token whose signature verified: its claims, and the identity the allow lists are checked
/// on, built once per token instead of once per call.
#[derive(Debug)]
pub struct Verified {
    pub claims: AccessClaims,
    pub identity: Identity,
}

/// Entries at most; one entry is a token string and its claims (about 1-2 KiB).
pub const CAPACITY: usize = 8192;

#[derive(Default)]
pub struct VerifiedTokens {
    map: RwLock<HashMap<Box<str>, Arc<Verified>>>,
}

impl VerifiedTokens {
    /// The claims of `token` with its signature verified (from the cache or now), then its times
    /// and issuer checked at `now`.
    pub fn check(
        &self,
        ring: &KeyRing,
        token: &str,
        issuer: &str,
        now: u64,
    ) -> Result<Arc<Verified>, JwtError> {
        let cached = self.map.read().ok().and_then(|m| m.get(token).cloned());
        let verified = match cached {
            Some(c) => c,
            None => {
                let claims = jwt::verify_signature(ring, token)?;
                let c = Arc::new(Verified {
                    identity: claims.identity(),
                    claims,
                });
                if let Ok(mut m) = self.map.write() {
                    if m.len() >= CAPACITY {
                        m.clear();
                    }
                    m.insert(token.into(), Arc::clone(&c));
                }
                c
            }
        };
        jwt::check_claims(&verified.claims, issuer, now)?;
        Ok(verified)
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.map.write() {
            m.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::token::keys::generate_pem;

    #[test]
    fn cached_tokens_still_expire_and_forgeries_never_enter() {
        let ring = KeyRing::from_pem(&generate_pem().unwrap()).unwrap();
        let claims = AccessClaims {
            iss: "https://a".into(),
            sub: "oidc:1".into(),
            aud: "https://a/x/mcp".into(),
            client_id: "c".into(),
            scope: "mcp".into(),
            jti: "j".into(),
            iat: 100,
            nbf: 100,
            exp: 160,
            name: "n".into(),
            email: None,
            orgs: vec![],
        };
        let token = jwt::sign(&ring, &claims).unwrap();
        let cache = VerifiedTokens::default();
        assert_eq!(
            cache
                .check(&ring, &token, "https://a", 100)
                .unwrap()
                .claims
                .sub,
            "oidc:1"
        );
        assert_eq!(
            cache
                .check(&ring, &token, "https://a", 159)
                .unwrap()
                .claims
                .sub,
            "oidc:1"
        );
        assert_eq!(
            cache.check(&ring, &token, "https://a", 160).unwrap_err(),
            JwtError::Expired
        );
        assert_eq!(
            cache.check(&ring, &token, "https://b", 120).unwrap_err(),
            JwtError::WrongIssuer
        );
        let forged = format!("{}x", &token[..token.len() - 1]);
        assert!(cache.check(&ring, &forged, "https://a", 120).is_err());
        assert_eq!(cache.map.read().unwrap().len(), 1);
    }
}
