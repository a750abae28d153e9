//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
//! RFC 7591 §2 `token_endpoint_auth_method`): the method the client registered, and only that one:
//! `none` (the `client_id` alone), `client_secret_basic`, `client_secret_post`, or
//! `private_key_jwt` (RFC 7523 §2.2, verified by `client_assertion`).

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine;

use super::cimd::resolve_client;
use super::client::{Client, PRIVATE_KEY_JWT};
use super::client_assertion::{self, ASSERTION_TYPE};
use crate::credentials;
use crate::error::OAuthError;
use crate::state::App;
use crate::store::{hash, same_secret};

/// The client credentials a form body may carry (RFC 6749 §2.3.1, RFC 7523 §2.2).
#[derive(Debug, Default)]
pub struct FormCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

impl FormCredentials {
    /// Takes the credential parameters out of a decoded form.
    pub fn take(p: &mut HashMap<String, String>) -> FormCredentials {
        FormCredentials {
            client_id: p.remove("client_id"),
            client_secret: p.remove("client_secret"),
            client_assertion_type: p.remove("client_assertion_type"),
            client_assertion: p.remove("client_assertion"),
        }
    }
}

/// What proves the client's identity.
#[derive(Debug, PartialEq, Eq)]
pub enum Proof {
    None,
    Secret(String),
    Assertion(String),
}

/// Credentials as presented.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub proof: Proof,
    /// Which method the client used.
    pub method: &'static str,
}

/// RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret, or the id/secret form fields;
/// RFC 7523 §2.2: a JWT assertion (its `sub` names the client when `client_id` is absent). Using
/// two methods at once is an error. Pure, so fuzz targets can call it.
pub fn presented(headers: &HeaderMap, form: &FormCredentials) -> Result<Presented, OAuthError> {
    let two = || OAuthError::InvalidRequest("use one client authentication method".into());
    let basic = credentials::basic(headers);
    let form_id = form.client_id.as_deref();
    match (&form.client_assertion_type, &form.client_assertion) {
        (None, None) => {}
        (Some(t), Some(assertion)) => {
            if basic.is_some() || form.client_secret.is_some() {
                return Err(two());
            }
            if t != ASSERTION_TYPE {
                return Err(OAuthError::InvalidClient(format!(
                    "client_assertion_type must be {ASSERTION_TYPE}"
                )));
            }
            let sub = client_assertion::unverified_subject(assertion).ok_or_else(|| {
                OAuthError::InvalidClient("client_assertion is not a JWT with a sub".into())
            })?;
            if form_id.is_some_and(|id| id != sub) {
                return Err(OAuthError::InvalidClient("client_id mismatch".into()));
            }
            return Ok(Presented {
                client_id: sub,
                proof: Proof::Assertion(assertion.clone()),
                method: PRIVATE_KEY_JWT,
            });
        }
        _ => {
            return Err(OAuthError::InvalidRequest(
                "client_assertion and client_assertion_type go together".into(),
            ));
        }
    }
    match (basic, &form.client_secret) {
        (Some(_), Some(_)) => Err(two()),
        (Some(b64), None) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
            let (id, secret) = raw
                .split_once(':')
                .ok_or_else(|| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
            let id = url_decode(id);
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::InvalidClient("client_id mismatch".into()));
            }
            Ok(Presented {
                client_id: id,
                proof: Proof::Secret(url_decode(secret)),
                method: "client_secret_basic",
            })
        }
        (None, secret) => {
            let id =
                form_id.ok_or_else(|| OAuthError::InvalidClient("client_id missing".into()))?;
            let (proof, method) = match secret {
                Some(s) => (Proof::Secret(s.clone()), "client_secret_post"),
                None => (Proof::None, "none"),
            };
            Ok(Presented {
                client_id: id.to_owned(),
                proof,
                method,
            })
        }
    }
}

fn url_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Pure check of presented credentials against the stored client (an assertion is verified
/// afterwards, against the client's keys).
pub fn check(client: &Client, p: &Presented) -> Result<(), OAuthError> {
    if client.auth_method() != p.method {
        return Err(OAuthError::InvalidClient(format!(
            "client must authenticate with {}",
            client.auth_method()
        )));
    }
    match (&client.secret_hash, &p.proof) {
        (None, Proof::None | Proof::Assertion(_)) => Ok(()),
        (Some(h), Proof::Secret(s)) if same_secret(&hash(s), h) => Ok(()),
        _ => Err(OAuthError::InvalidClient(
            "client authentication failed".into(),
        )),
    }
}

/// Authenticates the client of a token-endpoint style request.
pub async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    form: &FormCredentials,
) -> Result<Client, OAuthError> {
    let p = presented(headers, form)?;
    let client = resolve_client(app, &p.client_id)
        .await?
        .ok_or_else(|| OAuthError::InvalidClient("unknown client".into()))?;
    check(&client, &p)?;
    if let Proof::Assertion(assertion) = &p.proof {
        client_assertion::authenticate(app, &client, assertion).await?;
    }
    Ok(client)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::oauth::client::ClientMetadata;
    use axum::http::header;

    fn client(method: &str, secret: Option<&str>) -> Client {
        Client {
            client_id: "c1".into(),
            metadata: ClientMetadata {
                token_endpoint_auth_method: Some(method.into()),
                ..Default::default()
            },
            secret_hash: secret.map(hash),
            registration_token_hash: None,
            issued_at: 0,
        }
    }

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    #[test]
    fn methods() {
        let form = |id: Option<&str>, secret: Option<&str>| FormCredentials {
            client_id: id.map(str::to_owned),
            client_secret: secret.map(str::to_owned),
            ..Default::default()
        };
        let p = presented(&basic("c1", "s%3A1"), &form(None, None)).unwrap();
        assert_eq!(p.proof, Proof::Secret("s:1".into()));
        assert!(check(&client("client_secret_basic", Some("s:1")), &p).is_ok());
        assert!(check(&client("client_secret_basic", Some("other")), &p).is_err());
        assert!(check(&client("client_secret_post", Some("s:1")), &p).is_err());
        let post = presented(&HeaderMap::new(), &form(Some("c1"), Some("s"))).unwrap();
        assert!(check(&client("client_secret_post", Some("s")), &post).is_ok());
        let none = presented(&HeaderMap::new(), &form(Some("c1"), None)).unwrap();
        assert!(check(&client("none", None), &none).is_ok());
        assert!(check(&client("client_secret_basic", Some("s")), &none).is_err());
        assert!(presented(&basic("c1", "s"), &form(None, Some("s"))).is_err());
        assert!(presented(&HeaderMap::new(), &form(None, None)).is_err());
    }
}
