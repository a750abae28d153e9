//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6, RFC 8707 §2.2).

use super::family::{Family, issue, revoke_family, same_resource};
use super::request::TokenForm;
use super::response::TokenResponse;
use crate::error::OAuthError;
use crate::oauth::client::Client;
use crate::oauth::code::CodeGrant;
use crate::oauth::pkce;
use crate::state::App;
use crate::store::{hash, random_token};

/// Pure checks of a redeemed code against the token request.
pub fn check(grant: &CodeGrant, client: &Client, f: &TokenForm) -> Result<(), OAuthError> {
    if grant.client_id != client.client_id {
        return Err(OAuthError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    // RFC 6749 §4.1.3: the redirect_uri must be identical to the one of the authorization request.
    if f.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri does not match".into(),
        ));
    }
    let verifier = f
        .code_verifier
        .as_deref()
        .ok_or_else(|| OAuthError::InvalidGrant("code_verifier is required (PKCE)".into()))?;
    if !pkce::verify(verifier, &grant.code_challenge) {
        return Err(OAuthError::InvalidGrant(
            "code_verifier does not match the challenge".into(),
        ));
    }
    same_resource(f.resource.as_deref(), &grant.resource)
}

pub async fn exchange(
    app: &App,
    client: &Client,
    f: &TokenForm,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::UnauthorizedClient(
            "authorization_code not registered".into(),
        ));
    }
    let code = f
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::InvalidRequest("code is missing".into()))?;
    let h = hash(code);
    let store = &app.store;
    let (key, used_key) = (store.key("code", &h), store.key("code_used", &h));
    let family_id = random_token();
    let taken: Option<CodeGrant> = store
        .take_code(&key, &used_key, &family_id, app.config.limits.access_ttl)
        .await?;
    let Some(grant) = taken else {
        // RFC 6749 §4.1.2: a code used twice revokes what the first use issued.
        if let Some(previous) = store.get_raw(&used_key).await? {
            revoke_family(app, &previous).await?;
        }
        return Err(OAuthError::InvalidGrant(
            "the code is invalid, expired or already used".into(),
        ));
    };
    check(&grant, client, f)?;
    let mut family = Family {
        id: family_id,
        client_id: grant.client_id,
        user: grant.user,
        resource: grant.resource,
        scope: grant.scope.clone(),
        current: String::new(),
        jtis: Vec::new(),
    };
    let answer = issue(app, &mut family, &grant.scope, &random_token()).await?;
    // The client completed an authorization: it no longer expires as unused.
    if client.is_registered() {
        store
            .persist(&store.key("client", &client.client_id))
            .await?;
    }
    Ok(answer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::allow::Identity;
    use crate::oauth::client::ClientMetadata;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn grant() -> CodeGrant {
        CodeGrant {
            client_id: "c1".into(),
            redirect_uri: "http://127.0.0.1:5000/cb".into(),
            code_challenge: pkce::challenge_of(VERIFIER),
            resource: "http://127.0.0.1:8080/fetch/mcp".into(),
            scope: "mcp".into(),
            user: Identity {
                id: "oidc:1".into(),
                name: "dev".into(),
                email: None,
                orgs: vec![],
            },
            issued_at: 0,
        }
    }

    fn client(id: &str) -> Client {
        Client {
            client_id: id.into(),
            metadata: ClientMetadata::default(),
            secret_hash: None,
            registration_token_hash: None,
            issued_at: 0,
        }
    }

    fn form() -> TokenForm {
        TokenForm {
            redirect_uri: Some("http://127.0.0.1:5000/cb".into()),
            code_verifier: Some(VERIFIER.into()),
            ..Default::default()
        }
    }

    #[test]
    fn every_binding_is_checked() {
        assert!(check(&grant(), &client("c1"), &form()).is_ok());
        assert!(matches!(
            check(&grant(), &client("c2"), &form()),
            Err(OAuthError::InvalidGrant(_))
        ));
        let mut f = form();
        f.redirect_uri = Some("http://127.0.0.1:5001/cb".into());
        assert!(matches!(
            check(&grant(), &client("c1"), &f),
            Err(OAuthError::InvalidGrant(_))
        ));
        let mut f = form();
        f.code_verifier = None;
        assert!(check(&grant(), &client("c1"), &f).is_err());
        let mut f = form();
        f.code_verifier = Some("x".repeat(43));
        assert!(check(&grant(), &client("c1"), &f).is_err());
        let mut f = form();
        f.resource = Some("http://127.0.0.1:8080/fetch/mcp/".into());
        assert!(check(&grant(), &client("c1"), &f).is_ok());
        f.resource = Some("http://127.0.0.1:8080/memory/mcp".into());
        assert!(matches!(
            check(&grant(), &client("c1"), &f),
            Err(OAuthError::InvalidTarget(_))
        ));
    }
}
