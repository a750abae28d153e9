//! Access tokens as JWTs (RFC 9068 profile, RS256): the claims, signing, and the checks `/verify`,
//! `/revoke` and `/introspect` share. Times are checked here with an explicit `now`, not by the
//! library, so every expiry rule is tested with exact times.

use std::sync::LazyLock;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;

/// The claims of our access tokens (docs/architecture/security.md#access-tokens).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    /// Exactly one audience: the MCP resource URL (RFC 8707 §2).
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// The user's login or display name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orgs: Vec<String>,
}

impl AccessClaims {
    pub fn identity(&self) -> crate::allow::Identity {
        crate::allow::Identity {
            id: self.sub.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            orgs: self.orgs.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature or algorithm")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong issuer")]
    WrongIssuer,
}

pub fn sign(ring: &KeyRing, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(ring.kid().to_owned());
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, claims, ring.encoding_key())
}

/// The library checks only the signature and that `alg` is RS256 (so `none` and HS256 signed with
/// our public key are refused); times and issuer are checked by `check_claims`.
/// Built once: `/verify` is the hot path.
static VALIDATION: LazyLock<Validation> = LazyLock::new(|| {
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
});

/// Verifies the signature with the cached key named by `kid`, then the claims at `now`.
pub fn check(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    now: u64,
) -> Result<AccessClaims, JwtError> {
    let claims = verify_signature(ring, token)?;
    check_claims(&claims, issuer, now)?;
    Ok(claims)
}

/// The claims of a token whose RS256 signature verifies with the key named by its `kid`.
pub fn verify_signature(ring: &KeyRing, token: &str) -> Result<AccessClaims, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if header.alg != Algorithm::RS256 {
        return Err(JwtError::BadSignature);
    }
    let kid = header.kid.ok_or(JwtError::UnknownKey)?;
    let key = ring.decoding_key(&kid).ok_or(JwtError::UnknownKey)?;
    jsonwebtoken::decode::<AccessClaims>(token, &key, &VALIDATION)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::Json(_) => JwtError::Malformed,
            _ => JwtError::BadSignature,
        })
}

/// RFC 7519 §4.1.4/§4.1.5 with no leeway: valid for `nbf <= now < exp`.
pub fn check_claims(c: &AccessClaims, issuer: &str, now: u64) -> Result<(), JwtError> {
    if c.iss != issuer {
        return Err(JwtError::WrongIssuer);
    }
    if now >= c.exp {
        return Err(JwtError::Expired);
    }
    if now < c.nbf {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::token::keys::{KeyRing, generate_pem};

    fn claims(now: u64) -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example.com".into(),
            sub: "oidc:1".into(),
            aud: "https://mcp-fetch.example.com/mcp".into(),
            client_id: "c".into(),
            scope: "mcp offline_access".into(),
            jti: "j".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            name: "dev".into(),
            email: None,
            orgs: vec![],
        }
    }

    #[test]
    fn times_are_exact() {
        let c = claims(1000);
        let iss = "https://auth.example.com";
        assert_eq!(check_claims(&c, iss, 999), Err(JwtError::NotYetValid));
        assert_eq!(check_claims(&c, iss, 1000), Ok(()));
        assert_eq!(check_claims(&c, iss, 1059), Ok(()));
        assert_eq!(check_claims(&c, iss, 1060), Err(JwtError::Expired));
        assert_eq!(
            check_claims(&c, "https://other", 1000),
            Err(JwtError::WrongIssuer)
        );
    }

    #[test]
    fn forgeries_are_refused() {
        let ring = KeyRing::from_pem(&generate_pem().unwrap()).unwrap();
        let iss = "https://auth.example.com";
        let good = sign(&ring, &claims(1000)).unwrap();
        assert_eq!(check(&ring, &good, iss, 1001).unwrap().sub, "oidc:1");
        let parts: Vec<&str> = good.split('.').collect();
        // alg: none with the real kid
        let none = URL_SAFE_NO_PAD
            .encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, ring.kid()).as_bytes());
        assert!(check(&ring, &format!("{none}.{}.", parts[1]), iss, 1001).is_err());
        // HS256 "signed" with the public key material
        let hs = URL_SAFE_NO_PAD
            .encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, ring.kid()).as_bytes());
        let n = ring.jwks()["keys"][0]["n"].as_str().unwrap().to_owned();
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, n.as_bytes()),
            format!("{hs}.{}", parts[1]).as_bytes(),
        );
        let forged = format!("{hs}.{}.{}", parts[1], URL_SAFE_NO_PAD.encode(tag.as_ref()));
        assert_eq!(
            check(&ring, &forged, iss, 1001),
            Err(JwtError::BadSignature)
        );
        // tampered payload
        let mut c2 = claims(1000);
        c2.sub = "oidc:2".into();
        let other = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c2).unwrap());
        let tampered = format!("{}.{other}.{}", parts[0], parts[2]);
        assert_eq!(
            check(&ring, &tampered, iss, 1001),
            Err(JwtError::BadSignature)
        );
        // a key we do not know
        let stranger = KeyRing::from_pem(&generate_pem().unwrap()).unwrap();
        let foreign = sign(&stranger, &claims(1000)).unwrap();
        assert_eq!(check(&ring, &foreign, iss, 1001), Err(JwtError::UnknownKey));
        assert_eq!(check(&ring, "garbage", iss, 1001), Err(JwtError::Malformed));
    }
}
