//! Handing the user over to the upstream provider: the request being processed is kept under our
//! own `state` (the `state:*` keys of docs/architecture/security.md#what-redis-holds) and the
//! browser goes to the provider with our PKCE challenge (RFC 7636 §4.3). Shared by `/authorize`
//! and the device verification page.

use super::pending::{LOGIN_TTL, Pending};
use super::pkce;
use crate::error::{AuthorizeError, PageError};
use crate::state::App;
use crate::store::{hash, random_token};

/// Stores `pending` and returns the provider's authorization URL, or why the provider could not
/// be reached (an error for the client, RFC 6749 §4.1.2.1).
pub async fn upstream_url(
    app: &App,
    pending: &Pending,
    prompt: Option<&'static str>,
) -> Result<Result<String, AuthorizeError>, PageError> {
    let upstream_state = random_token();
    app.store
        .put(
            &app.store.key("state", &hash(&upstream_state)),
            pending,
            Some(LOGIN_TTL),
        )
        .await?;
    let url = app
        .upstream
        .authorize_url(
            &app.config.upstream,
            &app.http,
            &format!("{}/callback", app.issuer()),
            &upstream_state,
            &pkce::challenge_of(&pending.upstream_verifier),
            prompt,
        )
        .await;
    Ok(url.map_err(AuthorizeError::from))
}
