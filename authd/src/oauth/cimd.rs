//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP authorization
//! spec 2025-11-25 §"Client ID Metadata Documents"): a `client_id` that is an https URL names a
//! JSON document describing the client. The fetch is SSRF-guarded (`fetch`); results are cached
//! in Redis, and an operator-pinned copy stands in when the fetch fails (client requirement C3 of
//! docs/architecture/client-requirements.md).

use super::client::{self, Client, ClientMetadata};
use super::fetch::guarded_get;
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
    let body = guarded_get(&app.config.limits, client_id, "client metadata document").await?;
    document_to_client(client_id, &body, crate::clock::now())
}

/// Validates a fetched document: its `client_id` must equal the URL (client requirement C1) and it
/// must name the client (`client_name`: MCP authorization 2026-07-28 "Client ID Metadata Documents"
/// lists `client_id`, `client_name` and `redirect_uris` as required; the consent page shows the
/// name). Such a
/// client authenticates with `private_key_jwt` when its document says so (keys at its
/// `jwks_uri`, client requirement C4), otherwise it is public (`none`): a document cannot carry a
/// secret.
pub fn document_to_client(client_id: &str, body: &[u8], now: u64) -> Option<Client> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    if doc.get("client_id").and_then(|v| v.as_str()) != Some(client_id) {
        return None;
    }
    let mut metadata: ClientMetadata = serde_json::from_value(doc).ok()?;
    metadata
        .client_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())?;
    if metadata.token_endpoint_auth_method.as_deref() != Some(client::PRIVATE_KEY_JWT) {
        metadata.token_endpoint_auth_method = Some("none".into());
    }
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
    fn document_must_name_itself() {
        let id = "https://app.example.com/client.json";
        let nameless =
            serde_json::json!({"client_id": id, "redirect_uris": ["http://localhost/cb"]});
        assert!(document_to_client(id, nameless.to_string().as_bytes(), 5).is_none());
        let doc = serde_json::json!({"client_id": id, "client_name": "App", "redirect_uris": ["http://localhost/cb"],
            "grant_types": ["authorization_code", "urn:unknown"], "token_endpoint_auth_method": "none"});
        let c = document_to_client(id, doc.to_string().as_bytes(), 5).unwrap();
        assert_eq!(c.auth_method(), "none");
        assert_eq!(c.metadata.grant_types, vec!["authorization_code"]);
        let other = serde_json::json!({"client_id": "https://evil.example/x", "redirect_uris": ["http://localhost/cb"]});
        assert!(document_to_client(id, other.to_string().as_bytes(), 5).is_none());
        assert!(document_to_client(id, b"not json", 5).is_none());
    }
}
