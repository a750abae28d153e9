//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9): the
//! client signs a short-lived JWT with a key published at its `jwks_uri` (in its Client ID
//! Metadata Document or its registration; ChatGPT uses this, client requirement C4
//! (docs/architecture/client-requirements.md)). The key set is fetched through the SSRF guard and
//! cached; a `kid` it does not hold makes one fresh fetch (the client rotated its keys). Each
//! assertion is usable once (`jti`, RFC 7523 §3 item 7).

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::client::Client;
use super::fetch::guarded_get;
use crate::clock;
use crate::error::OAuthError;
use crate::state::App;
use crate::store::hash;

/// RFC 7523 §2.2 `client_assertion_type`.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The signature algorithms accepted (RFC 8414 `token_endpoint_auth_signing_alg_values_supported`):
/// asymmetric only, since a client's key set is public (`none` and HMAC are never accepted).
pub const SIGNING_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];
/// Clock skew tolerated on `exp`, `nbf` and `iat` (seconds).
const SKEW: u64 = 60;
/// Longest lifetime an assertion may claim (RFC 7523 §3 item 4: the server may reject an `exp`
/// unreasonably far in the future); it also bounds how long a `jti` is remembered.
pub const MAX_LIFETIME: u64 = 3600;

/// Why an assertion is refused (all of them are `invalid_client`, RFC 7521 §4.2.1).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssertionError {
    #[error("client_assertion is not a JWT")]
    Malformed,
    #[error("client_assertion algorithm not accepted")]
    Algorithm,
    #[error("client_assertion signed by a key not in the client's jwks_uri")]
    UnknownKey,
    #[error("client_assertion signature does not verify")]
    Signature,
    #[error("client_assertion iss and sub must both be the client_id")]
    Subject,
    #[error("client_assertion aud must name this authorization server")]
    Audience,
    #[error("client_assertion expired")]
    Expired,
    #[error("client_assertion lives longer than allowed")]
    TooLong,
    #[error("client_assertion not yet valid")]
    NotYetValid,
    #[error("client_assertion has no jti")]
    NoJti,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
}

/// What a verified assertion leaves to remember: its `jti` until its `exp`.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub jti: String,
    pub exp: u64,
}

/// The `sub` of an assertion, unverified: who claims to be the client when the request has no
/// `client_id` (RFC 7523 §3 item 2). Verification follows with that client's keys.
pub fn unverified_subject(assertion: &str) -> Option<String> {
    use base64::Engine;
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("sub")?.as_str().map(str::to_owned)
}

/// The key of `keys` that may verify a signature with `alg`: by `kid`, or the only usable key
/// when the header names none. Symmetric keys and keys for another use or algorithm never count.
fn key_for<'a>(keys: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let usable = |k: &&Jwk| {
        !matches!(k.algorithm, AlgorithmParameters::OctetKey(_))
            && k.common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == PublicKeyUse::Signature)
            && k.common
                .key_algorithm
                .is_none_or(|a| a == KeyAlgorithm::from(alg))
    };
    let mut candidates = keys.keys.iter().filter(usable);
    match kid {
        Some(kid) => candidates.find(|k| k.common.key_id.as_deref() == Some(kid)),
        None => {
            let first = candidates.next();
            candidates.next().is_none().then_some(first).flatten()
        }
    }
}

/// Verifies an assertion of `client_id` against its key set at `now` (RFC 7523 §3): signature,
/// `iss` = `sub` = `client_id`, `aud` naming one of `audiences`, `exp` in the future and not
/// beyond `MAX_LIFETIME`, `nbf` and `iat` not in the future, a `jti`. Pure, for tests and fuzzing.
pub fn verify(
    assertion: &str,
    client_id: &str,
    audiences: &[&str],
    keys: &JwkSet,
    now: u64,
) -> Result<Verified, AssertionError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
    let alg = header.alg;
    if !SIGNING_ALGS.contains(&format!("{alg:?}").as_str()) {
        return Err(AssertionError::Algorithm);
    }
    let jwk = key_for(keys, header.kid.as_deref(), alg).ok_or(AssertionError::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| AssertionError::UnknownKey)?;
    let mut validation = Validation::new(alg);
    // Times and audience are checked below with an explicit `now`.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let c = jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::Json(_) => AssertionError::Malformed,
            _ => AssertionError::Signature,
        })?
        .claims;
    if c.iss != client_id || c.sub != client_id {
        return Err(AssertionError::Subject);
    }
    let named = match &c.aud {
        Audience::One(a) => audiences.contains(&a.as_str()),
        Audience::Many(all) => all.iter().any(|a| audiences.contains(&a.as_str())),
    };
    if !named {
        return Err(AssertionError::Audience);
    }
    if c.exp.saturating_add(SKEW) <= now {
        return Err(AssertionError::Expired);
    }
    if c.exp > now.saturating_add(MAX_LIFETIME + SKEW) {
        return Err(AssertionError::TooLong);
    }
    if [c.nbf, c.iat]
        .into_iter()
        .flatten()
        .any(|t| t > now.saturating_add(SKEW))
    {
        return Err(AssertionError::NotYetValid);
    }
    let jti = c
        .jti
        .filter(|j| !j.is_empty())
        .ok_or(AssertionError::NoJti)?;
    Ok(Verified { jti, exp: c.exp })
}

/// The client's key set from its `jwks_uri`: cached for `CIMD_CACHE_SECS`, or fetched now.
async fn key_set(app: &App, uri: &str, fresh: bool) -> Result<Option<JwkSet>, OAuthError> {
    let key = app.store.key("client_jwks", &hash(uri));
    if !fresh && let Some(keys) = app.store.get::<JwkSet>(&key).await? {
        return Ok(Some(keys));
    }
    let keys = guarded_get(&app.config.limits, uri, "client jwks_uri")
        .await
        .and_then(|body| serde_json::from_slice::<JwkSet>(&body).ok());
    if let Some(keys) = &keys {
        app.store
            .put(&key, keys, Some(app.config.limits.cimd_cache))
            .await?;
    }
    Ok(keys)
}

/// Authenticates `client` by its assertion: verified with its published keys (once more with a
/// fresh copy when the signing key is unknown), then its `jti` recorded so it is used only once.
pub async fn authenticate(app: &App, client: &Client, assertion: &str) -> Result<(), OAuthError> {
    let refused = |e: AssertionError| OAuthError::InvalidClient(e.to_string());
    let uri = client.metadata.jwks_uri.as_deref().ok_or_else(|| {
        OAuthError::InvalidClient("the client has no jwks_uri for private_key_jwt".into())
    })?;
    let issuer = app.issuer();
    let token_endpoint = format!("{issuer}/token");
    let audiences = [issuer, token_endpoint.as_str()];
    let now = clock::now();
    let unavailable =
        || OAuthError::InvalidClient("the client's jwks_uri cannot be fetched".into());
    let keys = key_set(app, uri, false).await?.ok_or_else(unavailable)?;
    let verified = match verify(assertion, &client.client_id, &audiences, &keys, now) {
        Err(AssertionError::UnknownKey) => {
            let keys = key_set(app, uri, true).await?.ok_or_else(unavailable)?;
            verify(assertion, &client.client_id, &audiences, &keys, now)
        }
        other => other,
    }
    .map_err(refused)?;
    let seen = app.store.key(
        "assertion_jti",
        &hash(&format!("{}\0{}", client.client_id, verified.jti)),
    );
    let ttl = verified.exp.saturating_add(SKEW).saturating_sub(now).max(1);
    if !app.store.put_new(&seen, &now, ttl).await? {
        return Err(OAuthError::InvalidClient(
            "client_assertion already used (jti)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::*;
    use crate::token::keys::generate_pem;

    const ID: &str = "https://chat.example/client.json";
    const AS: &str = "https://auth.example";

    struct Signer {
        key: EncodingKey,
        alg: Algorithm,
        kid: &'static str,
    }

    impl Signer {
        fn rsa(kid: &'static str) -> Signer {
            let pem = generate_pem().unwrap();
            Signer {
                key: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
                alg: Algorithm::RS256,
                kid,
            }
        }

        fn ec(kid: &'static str) -> Signer {
            use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
            let der = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .unwrap();
            Signer {
                key: EncodingKey::from_ec_der(der.as_ref()),
                alg: Algorithm::ES256,
                kid,
            }
        }

        fn jwk(&self) -> Jwk {
            let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
            jwk.common.key_id = Some(self.kid.into());
            jwk
        }

        fn sign(&self, claims: &Value) -> String {
            let mut h = Header::new(self.alg);
            h.kid = Some(self.kid.into());
            jsonwebtoken::encode(&h, claims, &self.key).unwrap()
        }
    }

    fn claims(now: u64) -> Value {
        json!({"iss": ID, "sub": ID, "aud": AS, "exp": now + 60, "iat": now, "jti": "j-1"})
    }

    fn with(now: u64, k: &str, v: Value) -> Value {
        let mut c = claims(now);
        c[k] = v;
        c
    }

    #[test]
    fn valid_assertions_of_each_key_type() {
        let now = 1_000_000;
        for s in [Signer::rsa("r1"), Signer::ec("e1")] {
            let keys = JwkSet {
                keys: vec![s.jwk()],
            };
            let v = verify(&s.sign(&claims(now)), ID, &[AS], &keys, now).unwrap();
            assert_eq!(
                v,
                Verified {
                    jti: "j-1".into(),
                    exp: now + 60
                }
            );
            let list = with(now, "aud", json!(["other", format!("{AS}/token")]));
            let tok = [AS, &format!("{AS}/token")];
            assert!(verify(&s.sign(&list), ID, &tok, &keys, now).is_ok());
        }
    }

    #[test]
    fn every_rule_of_rfc7523_section_3() {
        let now = 1_000_000;
        let s = Signer::rsa("r1");
        let keys = JwkSet {
            keys: vec![s.jwk()],
        };
        let check = |c: &Value| verify(&s.sign(c), ID, &[AS], &keys, now).unwrap_err();
        assert_eq!(
            check(&with(now, "iss", json!("someone"))),
            AssertionError::Subject
        );
        assert_eq!(
            check(&with(now, "sub", json!("someone"))),
            AssertionError::Subject
        );
        assert_eq!(
            check(&with(now, "aud", json!("https://other"))),
            AssertionError::Audience
        );
        assert_eq!(
            check(&with(now, "exp", json!(now - 61))),
            AssertionError::Expired
        );
        assert_eq!(
            check(&with(now, "exp", json!(now + MAX_LIFETIME + 61))),
            AssertionError::TooLong
        );
        assert_eq!(
            check(&with(now, "nbf", json!(now + 120))),
            AssertionError::NotYetValid
        );
        assert_eq!(check(&with(now, "jti", json!(""))), AssertionError::NoJti);
        // Another key with the same kid, a kid the set lacks, no key at all.
        let stranger = Signer::rsa("r1");
        let forged = stranger.sign(&claims(now));
        assert_eq!(
            verify(&forged, ID, &[AS], &keys, now),
            Err(AssertionError::Signature)
        );
        let unknown = Signer::rsa("r2").sign(&claims(now));
        assert_eq!(
            verify(&unknown, ID, &[AS], &keys, now),
            Err(AssertionError::UnknownKey)
        );
        let empty = JwkSet { keys: vec![] };
        assert_eq!(
            verify(&s.sign(&claims(now)), ID, &[AS], &empty, now),
            Err(AssertionError::UnknownKey)
        );
        assert_eq!(
            verify("x.y", ID, &[AS], &keys, now),
            Err(AssertionError::Malformed)
        );
    }

    #[test]
    fn none_and_hmac_are_never_accepted() {
        use base64::Engine;
        let now = 1_000_000;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let s = Signer::rsa("r1");
        let keys = JwkSet {
            keys: vec![s.jwk()],
        };
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "r1"})),
            b64(&claims(now))
        );
        assert_eq!(
            verify(&none, ID, &[AS], &keys, now),
            Err(AssertionError::Malformed)
        );
        // An HMAC key published in the set (public, so anyone could sign with it).
        let secret = b"published-secret-published-secret";
        let mut oct =
            Jwk::from_encoding_key(&EncodingKey::from_secret(secret), Algorithm::HS256).unwrap();
        oct.common.key_id = Some("h1".into());
        let hmac_keys = JwkSet { keys: vec![oct] };
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("h1".into());
        let hs = jsonwebtoken::encode(&h, &claims(now), &EncodingKey::from_secret(secret)).unwrap();
        assert_eq!(
            verify(&hs, ID, &[AS], &hmac_keys, now),
            Err(AssertionError::Algorithm)
        );
        assert_eq!(
            unverified_subject(&s.sign(&claims(now))).as_deref(),
            Some(ID)
        );
    }
}
