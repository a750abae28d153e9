//! OpenID Connect upstream: endpoints by discovery (OpenID Connect Discovery 1.0 §4), the user
//! from the UserInfo endpoint (OpenID Connect Core §5.3). User id `oidc:<sub>`.

use serde::Deserialize;

use super::{Endpoints, UpstreamError, failed, get_json};
use crate::allow::Identity;

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
}

pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Endpoints, UpstreamError> {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| failed("discovery", e))?;
    if !resp.status().is_success() {
        return Err(failed("discovery", resp.status()));
    }
    let d: Discovery = resp
        .json()
        .await
        .map_err(|e| failed("discovery document", e))?;
    // Discovery §4.3: the issuer in the document must equal the one we asked.
    if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(failed(
            "discovery",
            format!("issuer mismatch: {}", d.issuer),
        ));
    }
    Ok(Endpoints {
        authorize: d.authorization_endpoint,
        token: d.token_endpoint,
        userinfo: d.userinfo_endpoint,
    })
}

#[derive(Deserialize)]
struct UserInfo {
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    preferred_username: Option<String>,
    name: Option<String>,
}

pub async fn identity(
    http: &reqwest::Client,
    userinfo: &str,
    token: &str,
) -> Result<Identity, UpstreamError> {
    let u: UserInfo = get_json(http, userinfo, token).await?;
    Ok(to_identity(u))
}

fn to_identity(u: UserInfo) -> Identity {
    // An email the provider says is unverified must not satisfy an email allow list.
    let email = u.email.filter(|_| u.email_verified != Some(false));
    let name = u
        .preferred_username
        .or(u.name)
        .or_else(|| email.clone())
        .unwrap_or_else(|| u.sub.clone());
    Identity {
        id: format!("oidc:{}", u.sub),
        name,
        email,
        orgs: Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn unverified_email_is_dropped() {
        let u: UserInfo = serde_json::from_value(serde_json::json!({
            "sub": "abc", "email": "a@b.c", "email_verified": false, "name": "A"
        }))
        .unwrap();
        let id = to_identity(u);
        assert_eq!(id.id, "oidc:abc");
        assert_eq!(id.email, None);
        assert_eq!(id.name, "A");
    }
}
