//! Tokens built by the tests themselves: re-signed copies of real tokens with other times or
//! audiences (signed with authd's real key, so only the changed claim can make them fail), and
//! forgeries (`alg: none`, HS256 keyed with the public key). Every negative case has a positive control.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

use super::browser::b64url;

/// `claims` with some of them replaced.
pub fn with(claims: &Value, changes: &[(&str, Value)]) -> Value {
    let mut c = claims.clone();
    for (k, v) in changes {
        c[*k] = v.clone();
    }
    c
}

/// The claims of a JWT (no signature check: the tests only read their own tokens).
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The header of a JWT.
pub fn header(token: &str) -> Value {
    let head = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `claims` signed RS256 with `pem` under `kid`.
pub fn sign_rs256(pem: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// An unsigned token (`alg: none`, empty signature), RFC 7519 §6.
pub fn alg_none(kid: &str, claims: &Value) -> String {
    let head = serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        b64url(head.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    )
}

/// HS256 keyed with `secret` (the algorithm-confusion attack uses the public key as HMAC secret).
pub fn hs256(kid: &str, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// The public key of `pem` in the encodings an attacker would try as an HMAC secret: SPKI PEM
/// (`PUBLIC KEY`) and PKCS#1 PEM (`RSA PUBLIC KEY`), derived with the system's `openssl`.
pub fn public_pems(pem: &str) -> Vec<Vec<u8>> {
    ["-pubout", "-RSAPublicKey_out"]
        .iter()
        .map(|flag| {
            let mut child = std::process::Command::new("openssl")
                .args(["rsa", flag])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(pem.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "openssl rsa {flag}");
            out.stdout
        })
        .collect()
}
