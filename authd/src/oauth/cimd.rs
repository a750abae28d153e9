//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP authorization
//! spec 2025-11-25 §"Client ID Metadata Documents"): a `client_id` that is an https URL names a
//! JSON document describing the client. The fetch is SSRF-guarded (CLIENTS.md C1): https only,
//! public addresses only (the resolved address is pinned for the connection), no redirects
//! followed, size and time limits; results are cached in Redis.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::client::{self, Client, ClientMetadata};
use crate::error::OAuthError;
use crate::state::App;
use crate::store::hash;

/// Looks a client up: a registered one from Redis, or a metadata document for a URL client id.
pub async fn resolve_client(app: &App, client_id: &str) -> Result<Option<Client>, OAuthError> {
    if client_id.starts_with("https://") || client_id.starts_with("http://") {
        return fetch_cached(app, client_id).await;
    }
    if client_id.is_empty() || client_id.len() > 128 {
        return Ok(None);
    }
    Ok(app.store.get(&app.store.key("client", client_id)).await?)
}

/// Is this URL acceptable as a CIMD client id? (https with a path, no fragment or credentials;
/// http on loopback only with the test switch.)
pub fn acceptable_url(raw: &str, insecure_loopback: bool) -> Option<url::Url> {
    let url = url::Url::parse(raw).ok()?;
    let host_ok = url.host().is_some() && url.username().is_empty() && url.password().is_none();
    let path_ok = url.path() != "/" && !url.path().is_empty() && url.fragment().is_none();
    let scheme_ok = url.scheme() == "https" || (insecure_loopback && url.scheme() == "http");
    (host_ok && path_ok && scheme_ok && url.as_str() == raw).then_some(url)
}

/// Public unicast addresses only: no loopback, private, link-local, shared, documentation,
/// multicast or reserved ranges (the SSRF guard).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[0] == 0x64 && s[1] == 0xff9b)
        }
    }
}

async fn fetch_cached(app: &App, client_id: &str) -> Result<Option<Client>, OAuthError> {
    let key = app.store.key("cimd", &hash(client_id));
    if let Some(c) = app.store.get::<Client>(&key).await? {
        return Ok(Some(c));
    }
    let fetched = match fetch(app, client_id).await {
        Some(c) => Some(c),
        None => app
            .config
            .cimd_pinned
            .get(client_id)
            .and_then(|doc| document_to_client(client_id, doc, crate::clock::now())),
    };
    let Some(client) = fetched else {
        return Ok(None);
    };
    app.store
        .put(&key, &client, Some(app.config.limits.cimd_cache))
        .await?;
    Ok(Some(client))
}

/// Fetches and validates a document; any failure means "no such client" (logged).
async fn fetch(app: &App, client_id: &str) -> Option<Client> {
    let limits = &app.config.limits;
    let url = acceptable_url(client_id, limits.cimd_insecure_loopback)?;
    let host = url.host_str()?.to_owned();
    let port = url.port_or_known_default()?;
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        Duration::from_secs(limits.cimd_timeout),
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
    )
    .await
    .ok()?
    .ok()?
    .collect();
    let loopback_ok = limits.cimd_insecure_loopback;
    let addr = addrs
        .into_iter()
        .find(|a| is_public(a.ip()) || (loopback_ok && a.ip().is_loopback()));
    let Some(addr) = addr else {
        tracing::warn!(oauth.client_id = %client_id, "client metadata document host is not public");
        return None;
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(limits.cimd_timeout))
        .resolve(&host, addr)
        .build()
        .ok()?;
    let mut resp = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        tracing::warn!(oauth.client_id = %client_id, status = resp.status().as_u16(), "client metadata fetch failed");
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.ok()? {
        body.extend_from_slice(&chunk);
        if body.len() > limits.cimd_max_bytes {
            tracing::warn!(oauth.client_id = %client_id, "client metadata document too large");
            return None;
        }
    }
    document_to_client(client_id, &body, crate::clock::now())
}

/// Validates a fetched document: its `client_id` must equal the URL (CLIENTS.md C1); clients
/// identified this way are public (`none`), since a document cannot carry a secret.
pub fn document_to_client(client_id: &str, body: &[u8], now: u64) -> Option<Client> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    if doc.get("client_id").and_then(|v| v.as_str()) != Some(client_id) {
        return None;
    }
    let mut metadata: ClientMetadata = serde_json::from_value(doc).ok()?;
    metadata.token_endpoint_auth_method = Some("none".into());
    let metadata = client::validate(metadata, "none").ok()?;
    Some(Client {
        client_id: client_id.to_owned(),
        metadata,
        secret_hash: None,
        registration_token_hash: None,
        issued_at: now,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ssrf_guard_ranges() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "140.82.112.3", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn url_rules() {
        assert!(acceptable_url("https://app.example.com/oauth/client.json", false).is_some());
        assert!(acceptable_url("https://app.example.com/", false).is_none());
        assert!(acceptable_url("http://127.0.0.1:9/c.json", false).is_none());
        assert!(acceptable_url("http://127.0.0.1:9/c.json", true).is_some());
        assert!(acceptable_url("https://u:p@app.example.com/c.json", false).is_none());
        assert!(acceptable_url("https://app.example.com/c.json#x", false).is_none());
    }

    #[test]
    fn document_must_name_itself() {
        let id = "https://app.example.com/client.json";
        let doc = serde_json::json!({"client_id": id, "redirect_uris": ["http://localhost/cb"],
            "grant_types": ["authorization_code", "urn:unknown"], "token_endpoint_auth_method": "none"});
        let c = document_to_client(id, doc.to_string().as_bytes(), 5).unwrap();
        assert_eq!(c.auth_method(), "none");
        assert_eq!(c.metadata.grant_types, vec!["authorization_code"]);
        let other = serde_json::json!({"client_id": "https://evil.example/x", "redirect_uris": ["http://localhost/cb"]});
        assert!(document_to_client(id, other.to_string().as_bytes(), 5).is_none());
        assert!(document_to_client(id, b"not json", 5).is_none());
    }
}
