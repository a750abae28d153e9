//! Which client id to use at an authorization server (MCP authorization "Client Registration
//! Approaches"): the Client ID Metadata Document's URL when one is configured and the server
//! supports them, else a registration kept from an earlier run, else a new dynamic registration
//! (RFC 7591) as a public native client (RFC 8252) with loopback redirects on any port (§7.3).

use serde::Deserialize;
use serde_json::json;

use super::discovery::ServerMeta;
use super::store::{Registration, Store};
use crate::connect::error::ConnectError;

/// The redirect URI registered; the login uses it with the port it listens on (RFC 8252 §7.3).
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// RFC 8628 §3.4.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Deserialize)]
struct Registered {
    client_id: String,
    #[serde(default)]
    registration_client_uri: Option<String>,
    #[serde(default)]
    registration_access_token: Option<String>,
}

/// The client id for `meta`'s issuer, registering (and saving the registration) when needed.
pub async fn client_id(
    http: &reqwest::Client,
    store: &mut Store,
    meta: &ServerMeta,
    metadata_url: Option<&str>,
) -> Result<String, ConnectError> {
    if let Some(url) = metadata_url.filter(|_| meta.client_id_metadata_document_supported) {
        return Ok(url.to_owned());
    }
    if let Some(r) = store.registration(&meta.issuer) {
        return Ok(r.client_id.clone());
    }
    let endpoint = meta.registration_endpoint.as_deref().ok_or_else(|| {
        ConnectError::Login(
            "the authorization server offers no registration; pass --client-metadata-url".into(),
        )
    })?;
    let mut grants = vec!["authorization_code", "refresh_token"];
    if meta.device_authorization_endpoint.is_some() {
        grants.push(DEVICE_GRANT);
    }
    let body = json!({
        "client_name": "sidecar connect",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": grants,
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
        "software_id": "mcp-gateway-sidecar-connect",
        "software_version": env!("CARGO_PKG_VERSION"),
    });
    let resp = http.post(endpoint).json(&body).send().await?;
    let status = resp.status();
    let text = resp.bytes().await?;
    if status.as_u16() != 201 && !status.is_success() {
        return Err(ConnectError::Login(format!(
            "registration refused ({status}): {}",
            String::from_utf8_lossy(&text[..text.len().min(300)])
        )));
    }
    let r: Registered = serde_json::from_slice(&text)
        .map_err(|e| ConnectError::Login(format!("registration answer: {e}")))?;
    let id = r.client_id.clone();
    store.set_registration(
        &meta.issuer,
        Some(Registration {
            client_id: r.client_id,
            registration_client_uri: r.registration_client_uri,
            registration_access_token: r.registration_access_token,
        }),
    );
    store.save()?;
    tracing::info!(oauth.issuer = %meta.issuer, "registered a client");
    Ok(id)
}

/// Whether a kept registration still exists (RFC 7592 §2.1 read with the registration access
/// token): a deleted client must be registered again before a browser login, whose error page
/// would otherwise never come back to us.
pub async fn still_registered(http: &reqwest::Client, r: &Registration) -> bool {
    let (Some(uri), Some(token)) = (&r.registration_client_uri, &r.registration_access_token)
    else {
        return true;
    };
    match http.get(uri).bearer_auth(token).send().await {
        Ok(resp) => resp.status().is_success(),
        // Unreachable now: the login will say so.
        Err(_) => true,
    }
}
