//! An authorization request being processed: what `/authorize` validated, kept in Redis under our
//! upstream `state` while the user logs in at the provider, then under the consent form's CSRF
//! token while the user decides; the same for a device authorization (RFC 8628 §3.3) (the
//! `state:*` and `consent_pending:*` keys of docs/architecture/security.md#what-redis-holds).

use serde::{Deserialize, Serialize};

use super::prompt::Prompt;

/// Seconds a user has to finish the upstream login (the `state:*` keys of
/// docs/architecture/security.md#what-redis-holds).
pub const LOGIN_TTL: u64 = 300;

/// An authorization request being processed, stored under our upstream `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    pub scope: String,
    /// The client's `state`, returned verbatim.
    pub state: Option<String>,
    /// Our PKCE verifier towards the upstream provider.
    pub upstream_verifier: String,
    /// The `prompt` of the request (OpenID Connect Core §3.1.2.1).
    #[serde(default)]
    pub prompt: Prompt,
    /// A device authorization being approved (RFC 8628 §3.3): the hash of its device code. Such
    /// a request has no redirect URI; it ends on a page and the device learns by polling.
    #[serde(default)]
    pub device: Option<String>,
}
