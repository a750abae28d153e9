//! Shared application state handed to every handler.

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;
use crate::token::cache::VerifiedTokens;
use crate::token::keys::KeyRing;
use crate::upstream::Upstream;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub keys: KeyRing,
    /// Tokens whose signature `/verify` already checked.
    pub verified: VerifiedTokens,
    pub upstream: Upstream,
    /// Client for upstream provider calls (rustls, bounded timeouts).
    pub http: reqwest::Client,
}

pub type AppState = Arc<App>;

impl App {
    pub fn issuer(&self) -> &str {
        self.config.resources.issuer()
    }
}

impl App {
    /// Builds the state from a validated configuration (no network I/O: Redis connects lazily).
    pub fn build(config: Config) -> Result<App, String> {
        use secrecy::ExposeSecret;
        let next = config.jwt_next_private_key.as_ref();
        let keys = KeyRing::new(
            config.jwt_private_key.expose_secret(),
            next.map(|k| k.expose_secret()),
        )
        .map_err(|e| e.to_string())?;
        let store = Store::new(&config).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .connect_timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(App {
            config,
            store,
            keys,
            verified: VerifiedTokens::default(),
            upstream: Upstream::new(),
            http,
        })
    }
}
