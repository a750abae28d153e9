//! Signing keys: the current RSA key (from `JWT_PRIVATE_KEY`, signs), the next one (from
//! `JWT_NEXT_PRIVATE_KEY`: published and accepted, not yet used to sign, so that every replica
//! accepts it before any replica signs with it) and the public keys published in Redis (`store::
//! published`: every key some replica signs with, kept until its tokens expire). `kid` is the
//! RFC 7638 SHA-256 thumbprint. Decoding keys are built once and cached: `/verify` only looks them up.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid RSA private key: {0}")]
    Invalid(String),
    #[error("key generation failed")]
    Generate,
}

type Verifiers = Arc<HashMap<String, Arc<DecodingKey>>>;

/// The key ring shared by every request.
pub struct KeyRing {
    kid: String,
    encoding: EncodingKey,
    current: Jwk,
    /// The prepared key of a two-phase rotation (public part only: it does not sign yet).
    next: Option<Jwk>,
    /// Secret for deriving rotated refresh tokens (see `oauth::grant::refresh`).
    rotation: aws_lc_rs::hmac::Key,
    verifiers: RwLock<Verifiers>,
    previous: RwLock<Arc<Vec<Jwk>>>,
}

impl KeyRing {
    /// The ring of the signing key `pem` and, during a two-phase rotation, the prepared key.
    pub fn new(pem: &str, next_pem: Option<&str>) -> Result<KeyRing, KeyError> {
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let current = public_jwk(&encoding)?;
        let kid = current.common.key_id.clone().unwrap_or_default();
        let next = match next_pem {
            Some(p) => {
                let key = EncodingKey::from_rsa_pem(p.as_bytes())
                    .map_err(|e| KeyError::Invalid(e.to_string()))?;
                Some(public_jwk(&key)?).filter(|n| n.common.key_id.as_deref() != Some(&kid))
            }
            None => None,
        };
        let secret = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            [b"authd refresh rotation\0".as_slice(), pem.as_bytes()]
                .concat()
                .as_slice(),
        );
        let rotation = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_ref());
        let ring = KeyRing {
            kid,
            encoding,
            current,
            next,
            rotation,
            verifiers: RwLock::new(Arc::new(HashMap::new())),
            previous: RwLock::new(Arc::new(Vec::new())),
        };
        ring.set_previous(Vec::new());
        Ok(ring)
    }

    /// The ring of one signing key, without a prepared one.
    pub fn from_pem(pem: &str) -> Result<KeyRing, KeyError> {
        KeyRing::new(pem, None)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn current_jwk(&self) -> &Jwk {
        &self.current
    }

    /// The public keys this process vouches for: the one it signs with and the prepared one.
    pub fn own_jwks(&self) -> impl Iterator<Item = &Jwk> {
        std::iter::once(&self.current).chain(self.next.iter())
    }

    /// The cached decoding key for a `kid` (current or previous).
    pub fn decoding_key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let map = self.verifiers.read().map(|g| Arc::clone(&g)).ok()?;
        map.get(kid).cloned()
    }

    /// Replaces the published keys (loaded from Redis); the own keys are always accepted.
    pub fn set_previous(&self, keys: Vec<Jwk>) {
        let mut map: HashMap<String, Arc<DecodingKey>> = HashMap::new();
        let mut others: Vec<Jwk> = Vec::new();
        let own: Vec<Jwk> = self.own_jwks().cloned().collect();
        for jwk in own.into_iter().chain(keys) {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if map.contains_key(&kid) {
                continue;
            }
            if let Ok(k) = DecodingKey::from_jwk(&jwk) {
                map.insert(kid, Arc::new(k));
                others.push(jwk);
            }
        }
        if let Ok(mut g) = self.verifiers.write() {
            *g = Arc::new(map);
        }
        // The current key is listed first by `jwks`.
        others.retain(|k| k.common.key_id.as_deref() != Some(&self.kid));
        if let Ok(mut g) = self.previous.write() {
            *g = Arc::new(others);
        }
    }

    /// RFC 7517 JWK set: the current key first, then the prepared one, then the published ones,
    /// each `kid` once.
    pub fn jwks(&self) -> serde_json::Value {
        let others = self
            .previous
            .read()
            .map(|g| Arc::clone(&g))
            .unwrap_or_default();
        let keys: Vec<&Jwk> = std::iter::once(&self.current)
            .chain(others.iter())
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// HMAC-SHA256 of a refresh token under a secret derived from the signing key.
    pub fn derive(&self, token: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.rotation, token.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }
}

/// The public JWK of a private key, with `kid` (RFC 7638 thumbprint), `alg` and `use`.
pub fn public_jwk(key: &EncodingKey) -> Result<Jwk, KeyError> {
    let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256)
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    jwk.common.key_id = Some(kid);
    jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// A fresh RSA-2048 key as PKCS#8 PEM text.
pub fn generate_pem() -> Result<String, KeyError> {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| KeyError::Generate)?;
    let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(|_| KeyError::Generate)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

/// The `.env` value of a PEM: base64 of the PEM text (one line).
pub fn env_value(pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// The `.env` line for a PEM: `JWT_PRIVATE_KEY=<base64 of the PEM>`.
pub fn env_line(pem: &str) -> String {
    format!("JWT_PRIVATE_KEY={}", env_value(pem))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_with_thumbprint_kid() {
        let pem = generate_pem().unwrap();
        let ring = KeyRing::from_pem(&pem).unwrap();
        assert_eq!(ring.kid().len(), 43);
        assert!(ring.decoding_key(ring.kid()).is_some());
        assert!(ring.decoding_key("other").is_none());
        let jwks = ring.jwks();
        assert_eq!(jwks["keys"][0]["kid"], ring.kid());
        assert_eq!(jwks["keys"][0]["alg"], "RS256");
        assert!(jwks["keys"][0].get("d").is_none(), "private part leaked");
        let other = KeyRing::from_pem(&generate_pem().unwrap()).unwrap();
        ring.set_previous(vec![other.current_jwk().clone()]);
        assert!(ring.decoding_key(other.kid()).is_some());
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 2);
        assert_ne!(ring.derive("a"), other.derive("a"));
        assert_eq!(ring.derive("a"), ring.derive("a"));
    }

    #[test]
    fn the_prepared_key_is_published_and_accepted_but_never_signs() {
        let (current, next) = (generate_pem().unwrap(), generate_pem().unwrap());
        let ring = KeyRing::new(&current, Some(&next)).unwrap();
        let next_kid = KeyRing::from_pem(&next).unwrap().kid().to_owned();
        assert_eq!(ring.kid(), KeyRing::from_pem(&current).unwrap().kid());
        assert!(ring.decoding_key(&next_kid).is_some());
        let kids = |r: &KeyRing| -> Vec<String> {
            r.jwks()["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(kids(&ring), [ring.kid().to_owned(), next_kid.clone()]);
        // Published keys that repeat the own ones are listed once; the own ones stay accepted.
        let retired = KeyRing::from_pem(&generate_pem().unwrap()).unwrap();
        let own: Vec<Jwk> = ring.own_jwks().cloned().collect();
        ring.set_previous([own.clone(), vec![retired.current_jwk().clone()], own].concat());
        assert_eq!(
            kids(&ring),
            [
                ring.kid().to_owned(),
                next_kid.clone(),
                retired.kid().to_owned()
            ]
        );
        ring.set_previous(Vec::new());
        assert!(ring.decoding_key(&next_kid).is_some());
        assert!(ring.decoding_key(retired.kid()).is_none());
        // The same key given twice is just the current key.
        let same = KeyRing::new(&current, Some(&current)).unwrap();
        assert_eq!(same.own_jwks().count(), 1);
    }
}
