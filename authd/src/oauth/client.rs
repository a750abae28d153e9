//! Client records and metadata rules (RFC 7591 §2): what a registration or a Client ID Metadata
//! Document may contain, validated by pure functions.

use serde::{Deserialize, Serialize};

use super::redirect;
use crate::error::OAuthError;

/// RFC 7591 §2 `token_endpoint_auth_method` values we implement (client requirements D2, C4 of
/// docs/architecture/client-requirements.md).
pub const AUTH_METHODS: [&str; 4] = [
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];
/// RFC 7523 §2.2 client authentication with a JWT signed by a key at the client's `jwks_uri`.
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";
/// The methods for which registration issues a client secret.
pub const SECRET_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];
/// RFC 8628 §3.4: the grant type of the device authorization grant.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Every grant type a client may register (RFC 8414 `grant_types_supported`).
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", DEVICE_CODE_GRANT];
/// What a client gets when it names none: the device grant only when asked for, since a user
/// code can be phished (RFC 8628 §5.4) and most clients never use it.
pub const DEFAULT_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];
/// Client requirement D1: clients send several redirect URIs; this bounds the record size.
pub const MAX_REDIRECT_URIS: usize = 16;
const MAX_FIELD_LEN: usize = 2048;

/// Registered client metadata; unknown fields are ignored (RFC 7591 §3.1, client requirement D2).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    /// RFC 7591 §2: where the client publishes its keys (for `private_key_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

/// A client as stored: metadata plus hashes of its secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub metadata: ClientMetadata,
    #[serde(default)]
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub registration_token_hash: Option<String>,
    pub issued_at: u64,
}

impl Client {
    pub fn auth_method(&self) -> &str {
        self.metadata
            .token_endpoint_auth_method
            .as_deref()
            .unwrap_or("client_secret_basic")
    }

    /// Registered by RFC 7591 (kept under `client:{id}`), not described by a metadata document.
    pub fn is_registered(&self) -> bool {
        self.registration_token_hash.is_some()
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.metadata.grant_types.iter().any(|g| g == grant)
    }

    /// What the consent page shows as the client's name.
    pub fn display_name(&self) -> &str {
        self.metadata
            .client_name
            .as_deref()
            .unwrap_or(&self.client_id)
    }
}

/// Decodes a registration body (RFC 7591 §2, JSON); unknown fields are ignored. Pure, so fuzz
/// targets can call it (with `validate`).
pub fn parse_metadata(body: &[u8]) -> Result<ClientMetadata, OAuthError> {
    // RFC 8259 §8.1: JSON is UTF-8. serde_json checks only the strings it keeps, so a body with
    // invalid UTF-8 inside an ignored member would pass (found by the fuzz target
    // `client_metadata`).
    let body = std::str::from_utf8(body).map_err(|_| {
        OAuthError::InvalidClientMetadata(
            "body is not valid client metadata JSON: not UTF-8".into(),
        )
    })?;
    serde_json::from_str(body).map_err(|e| {
        OAuthError::InvalidClientMetadata(format!("body is not valid client metadata JSON: {e}"))
    })
}

/// Validates and normalises metadata (RFC 7591 §2 defaults: auth method `client_secret_basic`,
/// grant `authorization_code`, response type `code`). `default_method` differs for CIMD clients.
pub fn validate(mut m: ClientMetadata, default_method: &str) -> Result<ClientMetadata, OAuthError> {
    let bad = |d: String| OAuthError::InvalidClientMetadata(d);
    if m.redirect_uris.is_empty() {
        return Err(OAuthError::InvalidRedirectUri(
            "redirect_uris: at least one is required".into(),
        ));
    }
    if m.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::InvalidRedirectUri(format!(
            "redirect_uris: at most {MAX_REDIRECT_URIS}"
        )));
    }
    let app_type = m.application_type.as_deref();
    if let Some(t) = app_type.filter(|t| !redirect::APPLICATION_TYPES.contains(t)) {
        return Err(bad(format!(
            "application_type: {t} is neither web nor native (OpenID Connect Registration §2)"
        )));
    }
    for uri in &m.redirect_uris {
        if uri.len() > MAX_FIELD_LEN {
            return Err(OAuthError::InvalidRedirectUri(
                "redirect_uris: URI too long".into(),
            ));
        }
        redirect::check_registrable(uri).map_err(OAuthError::InvalidRedirectUri)?;
        redirect::check_application_type(uri, app_type).map_err(OAuthError::InvalidRedirectUri)?;
    }
    let method = m
        .token_endpoint_auth_method
        .take()
        .unwrap_or_else(|| default_method.to_owned());
    if !AUTH_METHODS.contains(&method.as_str()) {
        return Err(bad(format!(
            "token_endpoint_auth_method: {method} is not supported"
        )));
    }
    // RFC 7523 §2.2 needs the client's keys; only `jwks_uri` is supported (an inline `jwks` is
    // not kept, so it cannot stand in).
    if method == PRIVATE_KEY_JWT && m.jwks_uri.is_none() {
        return Err(bad(
            "jwks_uri is required with private_key_jwt (inline jwks is not supported)".into(),
        ));
    }
    let http_url = |u: &str| {
        url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
    };
    if let Some(uri) = m.jwks_uri.as_deref().filter(|u| !http_url(u)) {
        return Err(bad(format!("jwks_uri: {uri} is not an https URL")));
    }
    m.token_endpoint_auth_method = Some(method);
    // Unknown grant types are dropped (client requirement C2); the code grant must remain.
    m.grant_types.retain(|g| GRANT_TYPES.contains(&g.as_str()));
    if m.grant_types.is_empty() {
        m.grant_types = DEFAULT_GRANT_TYPES
            .iter()
            .map(|g| (*g).to_owned())
            .collect();
    }
    if !m.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(bad("grant_types: authorization_code is required".into()));
    }
    if m.response_types.is_empty() {
        m.response_types = vec!["code".into()];
    }
    if m.response_types.iter().any(|r| r != "code") {
        return Err(bad("response_types: only code is supported".into()));
    }
    for (name, v) in [
        ("client_name", &m.client_name),
        ("client_uri", &m.client_uri),
        ("logo_uri", &m.logo_uri),
        ("scope", &m.scope),
        ("tos_uri", &m.tos_uri),
        ("policy_uri", &m.policy_uri),
        ("software_id", &m.software_id),
        ("software_version", &m.software_version),
        ("application_type", &m.application_type),
        ("jwks_uri", &m.jwks_uri),
    ] {
        if v.as_ref().is_some_and(|s| s.len() > MAX_FIELD_LEN) {
            return Err(bad(format!("{name}: too long")));
        }
    }
    Ok(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn meta(json: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_body_that_is_not_utf8_is_invalid_client_metadata() {
        let mut body = br#"{"redirect_uris":["https://a.example/cb"],"x":"#.to_vec();
        body.extend_from_slice(b"\"\xbb\"}");
        assert!(matches!(
            parse_metadata(&body),
            Err(OAuthError::InvalidClientMetadata(_))
        ));
        body.truncate(body.len() - 4);
        body.extend_from_slice(b"\"ok\"}");
        assert!(parse_metadata(&body).is_ok());
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let m = validate(
            meta(serde_json::json!({
                "redirect_uris": ["https://a.example/cb", "http://127.0.0.1/cb"],
                "application_type": "native", "whatever": 1
            })),
            "client_secret_basic",
        )
        .unwrap();
        assert_eq!(
            m.token_endpoint_auth_method.as_deref(),
            Some("client_secret_basic")
        );
        assert_eq!(m.grant_types, vec!["authorization_code", "refresh_token"]);
    }

    #[test]
    fn bad_redirect_is_named() {
        let err = validate(
            meta(serde_json::json!({"redirect_uris": ["https://a.example/cb", "javascript:alert(1)"]})),
            "none",
        )
        .unwrap_err();
        assert!(
            matches!(err, OAuthError::InvalidRedirectUri(ref d) if d.contains("javascript:alert(1)"))
        );
        assert!(matches!(
            validate(meta(serde_json::json!({"redirect_uris": []})), "none"),
            Err(OAuthError::InvalidRedirectUri(_))
        ));
        assert!(matches!(
            validate(
                meta(
                    serde_json::json!({"redirect_uris": ["https://a/cb"], "token_endpoint_auth_method": "private_key_jwt"})
                ),
                "none"
            ),
            Err(OAuthError::InvalidClientMetadata(_))
        ));
        let eight: Vec<String> = (0..8)
            .map(|i| format!("http://localhost:{}/cb", 3000 + i))
            .collect();
        assert!(validate(meta(serde_json::json!({ "redirect_uris": eight })), "none").is_ok());
    }
}
