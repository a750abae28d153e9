//! Discovery from a 401 (MCP authorization spec "Authorization Server Discovery"): the
//! protected-resource metadata named by the challenge's `resource_metadata` (else the RFC 9728
//! §3.1 well-known URLs), its `resource` checked against the URL we use (§3.3), its first
//! authorization server, whose metadata (RFC 8414 §3.1, then OpenID Connect Discovery) must name
//! the same `issuer` (§3.3) and support PKCE S256.

use serde::Deserialize;
use url::Url;

use super::challenge;
use crate::connect::error::ConnectError;

/// Authorization-server metadata (RFC 8414 §2; RFC 8628 §4), the fields a public client uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerMeta {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    pub registration_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

#[derive(Debug, Deserialize)]
struct ResourceMeta {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
}

/// What discovery found for one resource.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub resource: String,
    pub meta: ServerMeta,
    /// What to ask for: the challenge's scope, else the resource's, plus `offline_access` when
    /// the server knows it (a refresh token, MCP authorization "Refresh Tokens").
    pub scope: String,
}

fn login(what: impl Into<String>) -> ConnectError {
    ConnectError::Login(what.into())
}

/// The RFC 9728 §3.1 URLs of a resource's metadata: path-suffixed first, then the root.
pub fn resource_metadata_urls(resource: &Url) -> Vec<String> {
    let origin = resource.origin().ascii_serialization();
    let path = resource.path().trim_end_matches('/');
    let mut urls = Vec::new();
    if !path.is_empty() {
        urls.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    urls.push(format!("{origin}/.well-known/oauth-protected-resource"));
    urls
}

/// RFC 8414 §3.1 (the well-known segment between host and path), then OpenID Connect Discovery
/// 1.0 §4 (appended to the issuer, and inserted like RFC 8414 for issuers with a path).
pub fn server_metadata_urls(issuer: &str) -> Result<Vec<String>, ConnectError> {
    let url = Url::parse(issuer).map_err(|_| login(format!("issuer is not a URL: {issuer}")))?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut urls = vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ];
    if !path.is_empty() {
        urls.push(format!("{origin}/.well-known/openid-configuration{path}"));
    }
    Ok(urls)
}

/// The same resource, however the user spelled it (case of scheme and host, a trailing slash).
pub fn same_resource(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        Url::parse(s)
            .ok()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
    };
    norm(a).is_some() && norm(a) == norm(b)
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
) -> Result<Option<T>, ConnectError> {
    let resp = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await?;
    if !resp.status().is_success() {
        return Ok(None);
    }
    let body = resp.bytes().await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| login(format!("{url}: not valid metadata: {e}")))
}

/// The authorization server's metadata, checked (RFC 8414 §3.3, OAuth 2.1 §7.5.2).
pub async fn server_meta(http: &reqwest::Client, issuer: &str) -> Result<ServerMeta, ConnectError> {
    for url in server_metadata_urls(issuer)? {
        let Some(meta) = get_json::<ServerMeta>(http, &url).await? else {
            continue;
        };
        if meta.issuer != issuer {
            return Err(login(format!(
                "{url} names the issuer {:?}, not {issuer:?} (RFC 8414 §3.3)",
                meta.issuer
            )));
        }
        // MCP authorization "Authorization Code Protection": refuse without S256.
        if !meta
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
        {
            return Err(login("the authorization server does not support PKCE S256"));
        }
        return Ok(meta);
    }
    Err(login(format!(
        "no authorization server metadata for {issuer}"
    )))
}

/// Discovery for `resource` from the 401's `WWW-Authenticate` (if any).
pub async fn discover(
    http: &reqwest::Client,
    resource: &Url,
    www_authenticate: Option<&str>,
    wanted_scope: Option<&str>,
) -> Result<Discovered, ConnectError> {
    let named = www_authenticate.and_then(|h| challenge::param(h, "resource_metadata"));
    let urls = named.map_or_else(|| resource_metadata_urls(resource), |u| vec![u]);
    let mut found = None;
    for url in &urls {
        if let Some(doc) = get_json::<ResourceMeta>(http, url).await? {
            found = Some(doc);
            break;
        }
    }
    let prm = found.ok_or_else(|| login(format!("no protected-resource metadata at {urls:?}")))?;
    if !same_resource(&prm.resource, resource.as_str()) {
        return Err(login(format!(
            "the metadata is for {:?}, not for {resource} (RFC 9728 §3.3)",
            prm.resource
        )));
    }
    let issuer = prm
        .authorization_servers
        .first()
        .ok_or_else(|| login("the resource names no authorization server"))?;
    let meta = server_meta(http, issuer).await?;
    let mut scope: Vec<String> = match wanted_scope
        .map(str::to_owned)
        .or_else(|| www_authenticate.and_then(|h| challenge::param(h, "scope")))
    {
        Some(s) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => prm.scopes_supported.clone(),
    };
    if wanted_scope.is_none()
        && meta.scopes_supported.iter().any(|s| s == "offline_access")
        && !scope.iter().any(|s| s == "offline_access")
    {
        scope.push("offline_access".into());
    }
    Ok(Discovered {
        resource: prm.resource,
        meta,
        scope: scope.join(" "),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn well_known_urls() {
        let r = Url::parse("https://gw.example/time/mcp").unwrap();
        assert_eq!(
            resource_metadata_urls(&r),
            [
                "https://gw.example/.well-known/oauth-protected-resource/time/mcp",
                "https://gw.example/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            server_metadata_urls("https://auth.example").unwrap(),
            [
                "https://auth.example/.well-known/oauth-authorization-server",
                "https://auth.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            server_metadata_urls("https://auth.example/t1").unwrap()[0],
            "https://auth.example/.well-known/oauth-authorization-server/t1"
        );
        assert!(same_resource(
            "HTTPS://GW.example/time/mcp/",
            "https://gw.example/time/mcp"
        ));
        assert!(!same_resource(
            "https://gw.example/time/mcp",
            "https://gw.example/memory/mcp"
        ));
    }
}
