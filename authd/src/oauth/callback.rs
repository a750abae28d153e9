//! `GET /callback`: the upstream provider's redirect. Exchanges its code, looks the user up,
//! checks the allow lists (docs/architecture/security.md#users-consent-and-allow-lists), then asks
//! for consent or issues our authorization code.
//! Once the pending request is found, every failure goes back to the client's redirect URI
//! (RFC 6749 §4.1.2.1), never to a page the client cannot see.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::authorize::parse_query;
use super::code::{issue_code, refuse};
use super::consent;
use super::pending::Pending;
use crate::allow::Identity;
use crate::error::{AuthorizeError, PageError};
use crate::state::{App, AppState};
use crate::store::{hash, random_token};

/// Whether the user may use the resource now: allow lists and the disabled set.
pub async fn user_allowed(app: &App, user: &Identity, resource: &str) -> Result<bool, PageError> {
    let service = app
        .config
        .resources
        .service_of(resource)
        .unwrap_or_default();
    if !app.config.allow.may_use(user, service) {
        return Ok(false);
    }
    Ok(!app.store.is_disabled(&user.id).await?)
}

/// The client's error for the provider's `error` (RFC 6749 §4.1.2.1): the interaction errors of
/// OpenID Connect Core §3.1.2.6 pass through when the client asked for `prompt=none` (the
/// provider could not log the user in silently); everything else is a refusal.
pub fn upstream_refusal(error: &str, silent: bool) -> AuthorizeError {
    let d = |what: &str| format!("the identity provider needs {what} (prompt=none)");
    match error {
        "login_required" if silent => AuthorizeError::LoginRequired(d("a login")),
        "consent_required" if silent => AuthorizeError::ConsentRequired(d("the user's consent")),
        "interaction_required" | "account_selection_required" if silent => {
            AuthorizeError::InteractionRequired(d("the user"))
        }
        _ => AuthorizeError::AccessDenied("the identity provider refused the login".into()),
    }
}

pub async fn callback(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let q = parse_query(raw.as_deref())?;
    let state = q
        .get("state")
        .ok_or_else(|| PageError::BadRequest("state is missing".into()))?;
    let pending: Pending = app
        .store
        .take(&app.store.key("state", &hash(state)))
        .await?
        .ok_or_else(|| {
            PageError::BadRequest("this login expired or was already used; start again".into())
        })?;
    match complete(&app, &pending, &q).await {
        Ok(answer) => Ok(answer),
        Err(Failure::Client(e)) => refuse(&app, &pending, &e).await,
        Err(Failure::Page(e)) => Err(e),
    }
}

/// Why a callback did not complete: an error for the client, or (storage down) a page.
enum Failure {
    Client(AuthorizeError),
    Page(PageError),
}

impl From<AuthorizeError> for Failure {
    fn from(e: AuthorizeError) -> Self {
        Failure::Client(e)
    }
}

impl From<PageError> for Failure {
    fn from(e: PageError) -> Self {
        Failure::Page(e)
    }
}

async fn complete(
    app: &App,
    pending: &Pending,
    q: &std::collections::HashMap<String, String>,
) -> Result<Response, Failure> {
    if let Some(error) = q.get("error") {
        return Err(upstream_refusal(error, pending.prompt.none).into());
    }
    let code = q.get("code").ok_or_else(|| {
        AuthorizeError::ServerError("the identity provider sent neither code nor error".into())
    })?;
    let user = app
        .upstream
        .identify(
            &app.config.upstream,
            &app.http,
            code,
            &pending.upstream_verifier,
            &format!("{}/callback", app.issuer()),
        )
        .await
        .map_err(AuthorizeError::from)?;
    if !user_allowed(app, &user, &pending.resource).await? {
        tracing::warn!(user.id = %user.id, "login refused by allow list");
        return Err(AuthorizeError::AccessDenied(
            "this user is not allowed to use this server".into(),
        )
        .into());
    }
    // OpenID Connect Core §3.1.2.1: `consent` asks again even when remembered; `none` never
    // shows the page.
    let remembered =
        !pending.prompt.consent && consent::remembered(app, &user.id, &pending.client_id).await?;
    if remembered {
        return Ok(issue_code(app, pending, user).await?);
    }
    if pending.prompt.none {
        return Err(AuthorizeError::ConsentRequired(
            "the user has not consented to this client yet (prompt=none)".into(),
        )
        .into());
    }
    let csrf = random_token();
    Ok(consent::ask(app, pending.clone(), user, &csrf)
        .await
        .map(IntoResponse::into_response)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_pass_through_only_for_prompt_none() {
        let code = |e: &str, silent| upstream_refusal(e, silent).parameters().0;
        assert_eq!(code("login_required", true), "login_required");
        assert_eq!(code("consent_required", true), "consent_required");
        assert_eq!(
            code("account_selection_required", true),
            "interaction_required"
        );
        assert_eq!(code("login_required", false), "access_denied");
        assert_eq!(code("access_denied", true), "access_denied");
        assert_eq!(code("<script>", true), "access_denied");
    }
}
