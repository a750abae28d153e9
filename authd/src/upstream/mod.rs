//! Upstream identity providers. Both adapters share one authorization-code path (authorize URL
//! with our own state and PKCE, code exchange) and differ only in endpoints and identity lookup
//! (docs/architecture/security.md#users-consent-and-allow-lists): `oidc` finds its endpoints by
//! discovery, `github` derives them from a base URL.

pub mod github;
pub mod oidc;

use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::allow::Identity;
use crate::config::UpstreamConfig;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider answered and refused our code (a 4xx from its token endpoint): the login is
    /// denied (RFC 6749 §4.1.2.1 `access_denied`).
    #[error("refused: {0}")]
    Refused(String),
    /// The provider failed: unreachable, an error status, an answer we cannot read
    /// (RFC 6749 §4.1.2.1 `server_error`).
    #[error("{0}")]
    Failed(String),
}

pub fn failed(what: &str, e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Failed(format!("{what}: {e}"))
}

/// Where the provider's endpoints are.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub userinfo: String,
}

/// The upstream adapter; endpoints are resolved on first use and cached.
pub struct Upstream {
    endpoints: OnceCell<Endpoints>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

impl Upstream {
    pub fn new() -> Upstream {
        Upstream {
            endpoints: OnceCell::new(),
        }
    }

    async fn endpoints(
        &self,
        cfg: &UpstreamConfig,
        http: &reqwest::Client,
    ) -> Result<&Endpoints, UpstreamError> {
        self.endpoints
            .get_or_try_init(|| async {
                match cfg {
                    UpstreamConfig::Oidc { issuer, .. } => oidc::discover(http, issuer).await,
                    UpstreamConfig::Github { base_url, .. } => Ok(github::endpoints(base_url)),
                }
            })
            .await
    }

    /// The provider's authorization URL for our own `state` and PKCE `challenge`, with a
    /// `prompt` (OpenID Connect Core §3.1.2.1) when given.
    pub async fn authorize_url(
        &self,
        cfg: &UpstreamConfig,
        http: &reqwest::Client,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
        prompt: Option<&str>,
    ) -> Result<String, UpstreamError> {
        let ep = self.endpoints(cfg, http).await?;
        let (client_id, scope) = match cfg {
            UpstreamConfig::Oidc {
                client_id, scopes, ..
            } => (client_id, scopes.as_str()),
            UpstreamConfig::Github { client_id, .. } => (client_id, github::SCOPES),
        };
        let mut url =
            url::Url::parse(&ep.authorize).map_err(|e| failed("authorization endpoint", e))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(p) = prompt {
            url.query_pairs_mut().append_pair("prompt", p);
        }
        Ok(url.into())
    }

    /// The authorization-code exchange at the provider's token endpoint, then the lookup of the
    /// user behind the access token it returns.
    pub async fn identify(
        &self,
        cfg: &UpstreamConfig,
        http: &reqwest::Client,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Identity, UpstreamError> {
        let ep = self.endpoints(cfg, http).await?;
        let (client_id, secret) = match cfg {
            UpstreamConfig::Oidc {
                client_id,
                client_secret,
                ..
            }
            | UpstreamConfig::Github {
                client_id,
                client_secret,
                ..
            } => (client_id, client_secret),
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let request = http.post(&ep.token).header("accept", "application/json");
        // OpenID providers take client_secret_basic (their default, OIDC Core §9); GitHub
        // documents the credentials as form parameters.
        let request = match cfg {
            UpstreamConfig::Oidc { .. } => request.basic_auth(
                url_encode(client_id),
                Some(url_encode(secret.expose_secret())),
            ),
            UpstreamConfig::Github { .. } => {
                form.push(("client_id", client_id));
                form.push(("client_secret", secret.expose_secret()));
                request
            }
        };
        let resp = request
            .form(&form)
            .send()
            .await
            .map_err(|e| failed("token request", e))?;
        let status = resp.status();
        if status.is_client_error() {
            return Err(UpstreamError::Refused(format!("token request: {status}")));
        }
        if !status.is_success() {
            return Err(failed("token request", status));
        }
        let token: TokenResponse = resp.json().await.map_err(|e| failed("token response", e))?;
        self.lookup(cfg, http, &token.access_token).await
    }

    /// The identity behind an upstream access token: the one lookup both adapters share after
    /// the code exchange (also `authd upstream whoami`, and the live GitHub test).
    pub async fn lookup(
        &self,
        cfg: &UpstreamConfig,
        http: &reqwest::Client,
        access_token: &str,
    ) -> Result<Identity, UpstreamError> {
        let ep = self.endpoints(cfg, http).await?;
        match cfg {
            UpstreamConfig::Oidc { .. } => oidc::identity(http, &ep.userinfo, access_token).await,
            UpstreamConfig::Github { .. } => {
                github::identity(http, &ep.userinfo, access_token).await
            }
        }
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// GET a JSON document with a bearer token.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<T, UpstreamError> {
    let resp = http
        .get(url)
        .bearer_auth(token)
        .header("accept", "application/json")
        .header("user-agent", "authd")
        .send()
        .await
        .map_err(|e| failed(url, e))?;
    if !resp.status().is_success() {
        return Err(failed(url, resp.status()));
    }
    resp.json().await.map_err(|e| failed(url, e))
}
