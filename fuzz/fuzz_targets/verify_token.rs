//! The token of an `Authorization` header at `/verify` (RFC 6750 §2.1, RFC 9110 §11.4) and its
//! JWT checks (RFC 7519, RFC 9068 profile, RS256 only), plus the unverified subject of a client
//! assertion (RFC 7523 §3).
//!
//! Properties: the bearer token is what follows a case-insensitive `Bearer` and spaces; nothing
//! the fuzzer writes verifies against the signing key (forgery, `alg` tricks); a token the key
//! signed verifies to exactly its claims, and only within `nbf <= now < exp` for its issuer.
//!
//! Input: an `Authorization` header value; with the prefix `sign:`, the rest are the claims'
//! strings (subject, audience, ...) of a token that is signed and then checked.
#![no_main]

use std::sync::LazyLock;

use authd::oauth::client_assertion;
use authd::token::jwt::{self, AccessClaims, JwtError};
use authd::token::keys::{self, KeyRing};
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

static RING: LazyLock<Option<KeyRing>> = LazyLock::new(|| {
    keys::generate_pem()
        .ok()
        .and_then(|p| KeyRing::from_pem(&p).ok())
});
const ISSUER: &str = "http://127.0.0.1:8080";

fn signed_round_trip(ring: &KeyRing, text: &str) {
    let mut parts = text.split('\u{1f}');
    let mut next = || parts.next().unwrap_or("").to_owned();
    let claims = AccessClaims {
        iss: ISSUER.into(),
        sub: next(),
        aud: next(),
        client_id: next(),
        scope: next(),
        jti: next(),
        iat: 100,
        nbf: 100,
        exp: 200,
        name: next(),
        email: Some(next()).filter(|e| !e.is_empty()),
        orgs: Vec::new(),
    };
    let token = jwt::sign(ring, &claims).unwrap_or_else(|e| panic!("signing: {e}"));
    assert_eq!(jwt::verify_signature(ring, &token), Ok(claims.clone()));
    assert_eq!(jwt::check(ring, &token, ISSUER, 100), Ok(claims.clone()));
    assert_eq!(
        jwt::check(ring, &token, ISSUER, 200),
        Err(JwtError::Expired)
    );
    assert_eq!(
        jwt::check(ring, &token, ISSUER, 99),
        Err(JwtError::NotYetValid)
    );
    assert_eq!(
        jwt::check(ring, &token, "https://evil.example", 100),
        Err(JwtError::WrongIssuer)
    );
    // Bearer in any case, any spacing, finds the token again.
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("bEaReR   {token} ")) {
        h.insert(header::AUTHORIZATION, v);
    }
    assert_eq!(authd::credentials::bearer(&h), Some(token.as_str()));
}

fuzz_target!(|input: &[u8]| {
    let Some(ring) = RING.as_ref() else {
        panic!("no signing key");
    };
    if let Some(rest) = input.strip_prefix(b"sign:") {
        if let Ok(text) = std::str::from_utf8(rest) {
            signed_round_trip(ring, text);
        }
        return;
    }
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(input) {
        h.insert(header::AUTHORIZATION, v);
    }
    let token = authd::credentials::bearer(&h);
    if let Some(t) = token {
        let value = std::str::from_utf8(input).unwrap_or("");
        let (scheme, rest) = value.split_once(' ').unwrap_or(("", ""));
        assert!(scheme.eq_ignore_ascii_case("bearer"));
        assert_eq!(rest.trim_matches(' '), t);
        assert!(!t.is_empty() && !t.starts_with(' ') && !t.ends_with(' '));
    }
    let candidate = token.unwrap_or(std::str::from_utf8(input).unwrap_or(""));
    if let Ok(claims) = jwt::verify_signature(ring, candidate) {
        panic!("forged token verified: {claims:?}");
    }
    let _ = client_assertion::unverified_subject(candidate);
});
