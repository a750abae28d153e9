//! OAuth as a public client, exactly as the MCP authorization spec has a client do it: discovery
//! from the gateway's 401, a client id (metadata document or dynamic registration, kept across
//! runs), a login in the browser or with a device code, tokens per issuer and resource in the
//! token file, refreshed with rotation before they expire or after a 401, and a new login only
//! when the refresh fails.

pub mod browser;
pub mod challenge;
pub mod device;
pub mod discovery;
pub mod pkce;
pub mod register;
pub mod store;
pub mod token;

use tokio::sync::Mutex;
use url::Url;

use crate::clock;
use crate::connect::args::Options;
use crate::connect::error::ConnectError;
use discovery::Discovered;
use store::{Store, Tokens};

/// Seconds before `expires_at` from which a token counts as expired (clock skew, the request's
/// own time on the wire).
const EXPIRY_MARGIN: u64 = 30;

/// Whether `t` is expired or about to be.
fn expiring(t: &Tokens) -> bool {
    t.expires_at != 0 && clock::unix_secs() + EXPIRY_MARGIN >= t.expires_at
}

/// The tokens for one resource and how to get new ones.
pub struct Auth {
    http: reqwest::Client,
    resource: Url,
    device: bool,
    open_browser: bool,
    metadata_url: Option<String>,
    scope: Option<String>,
    login_timeout: std::time::Duration,
    hidden_env: Vec<std::ffi::OsString>,
    state: Mutex<Store>,
}

impl Auth {
    pub fn new(http: reqwest::Client, opts: &Options, store: Store) -> Auth {
        Auth {
            http,
            resource: opts.url.clone(),
            device: opts.device,
            open_browser: opts.open_browser,
            metadata_url: opts.client_metadata_url.clone(),
            scope: opts.scope.clone(),
            login_timeout: opts.login_timeout,
            hidden_env: opts.from_dotenv.clone(),
            state: Mutex::new(store),
        }
    }

    /// The access token to send, refreshed first when it is about to expire; `None` before the
    /// first login (the gateway's 401 starts it).
    pub async fn token(&self) -> Option<String> {
        let mut store = self.state.lock().await;
        let t = store.tokens_for(self.resource.as_str())?.clone();
        if expiring(&t) && t.refresh_token.is_some() {
            match self.refresh(&mut store, &t).await {
                Ok(fresh) => return Some(fresh),
                Err(e) => tracing::warn!(error = %e, "refresh failed"),
            }
        }
        Some(t.access_token)
    }

    /// After a 401 to a request that carried `used`: a newer token if another request already got
    /// one, else a refresh, else a login (discovery from `challenge`).
    pub async fn renew(
        &self,
        used: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<String, ConnectError> {
        let mut store = self.state.lock().await;
        if let Some(t) = store.tokens_for(self.resource.as_str()).cloned() {
            if used != Some(t.access_token.as_str()) {
                return Ok(t.access_token);
            }
            if t.refresh_token.is_some() {
                match self.refresh(&mut store, &t).await {
                    Ok(fresh) => return Ok(fresh),
                    Err(e) => tracing::warn!(error = %e, "refresh failed; logging in again"),
                }
            }
            store.drop_tokens(&t.issuer, &t.resource);
            store.save()?;
        }
        let found =
            discovery::discover(&self.http, &self.resource, challenge, self.scope.as_deref())
                .await?;
        self.login(&mut store, &found).await
    }

    /// Refreshes `t` (RFC 6749 §6; the server rotates the refresh token, OAuth 2.1 §4.3.1): the
    /// new pair is saved before it is used, so a crash never loses it.
    async fn refresh(&self, store: &mut Store, t: &Tokens) -> Result<String, ConnectError> {
        // Another bridge sharing the token file may have rotated this grant since we read it:
        // its pair is the live one, and replaying our old refresh token would revoke the grant.
        store.reload()?;
        let current = store.tokens_for(t.resource.as_str()).cloned();
        let t = match current {
            Some(c) if c.refresh_token != t.refresh_token && !expiring(&c) => {
                return Ok(c.access_token);
            }
            Some(c) if c.refresh_token != t.refresh_token => c,
            _ => t.clone(),
        };
        let t = &t;
        let meta = discovery::server_meta(&self.http, &t.issuer).await?;
        let refresh = t.refresh_token.as_deref().unwrap_or_default();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", t.client_id.as_str()),
            ("resource", t.resource.as_str()),
        ];
        let answer = token::post::<token::Answer>(&self.http, &meta.token_endpoint, &form)
            .await
            .map_err(|f| f.into_error("refresh"))?;
        let answer = token::check(answer)?;
        let fresh = Tokens {
            access_token: answer.access_token,
            // RFC 6749 §6: without a new refresh token the old one stays valid.
            refresh_token: answer.refresh_token.or_else(|| t.refresh_token.clone()),
            expires_at: answer.expires_in.map_or(0, |s| clock::unix_secs() + s),
            scope: answer.scope.unwrap_or_else(|| t.scope.clone()),
            ..t.clone()
        };
        let access = fresh.access_token.clone();
        store.set_tokens(fresh);
        store.save()?;
        tracing::info!("access token refreshed");
        Ok(access)
    }

    /// A new login; a client the server no longer knows is registered again once.
    async fn login(&self, store: &mut Store, d: &Discovered) -> Result<String, ConnectError> {
        let issuer = d.meta.issuer.clone();
        if let Some(r) = store.registration(&issuer).cloned()
            && !register::still_registered(&self.http, &r).await
        {
            store.set_registration(&issuer, None);
        }
        let mut retried = false;
        let answer = loop {
            let client_id =
                register::client_id(&self.http, store, &d.meta, self.metadata_url.as_deref())
                    .await?;
            let attempt = if self.device {
                device::login(&self.http, d, &client_id, self.login_timeout).await
            } else {
                let opener = browser::Opener {
                    open: self.open_browser,
                    hidden_env: &self.hidden_env,
                };
                browser::login_in_browser(&self.http, d, &client_id, &opener, self.login_timeout)
                    .await
            };
            match attempt {
                Ok(answer) => break (answer, client_id),
                // RFC 6749 §5.2: the client is unknown (deleted, expired unused).
                Err(ConnectError::Login(e)) if e.contains("invalid_client") && !retried => {
                    retried = true;
                    store.set_registration(&issuer, None);
                }
                Err(e) => return Err(e),
            }
        };
        let (answer, client_id) = answer;
        let t = Tokens {
            issuer,
            resource: d.resource.clone(),
            client_id,
            access_token: answer.access_token,
            refresh_token: answer.refresh_token,
            expires_at: answer.expires_in.map_or(0, |s| clock::unix_secs() + s),
            scope: answer.scope.unwrap_or_else(|| d.scope.clone()),
        };
        let access = t.access_token.clone();
        store.set_tokens(t);
        store.save()?;
        eprintln!("sidecar connect: logged in");
        Ok(access)
    }
}
