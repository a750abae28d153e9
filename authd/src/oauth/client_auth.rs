//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
//! RFC 7591 §2 `token_endpoint_auth_method`): the method the client registered, and only that one.

use axum::http::HeaderMap;
use base64::Engine;

use super::cimd::resolve_client;
use super::client::Client;
use crate::credentials;
use crate::error::OAuthError;
use crate::state::App;
use crate::store::{hash, same_secret};

/// Credentials as presented.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    /// Which method the client used.
    pub method: &'static str,
}

/// RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret, or the id/secret form fields.
/// Using both at once is an error.
pub fn presented(
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Presented, OAuthError> {
    let basic = credentials::basic(headers);
    match (basic, form_secret) {
        (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method".into(),
        )),
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
                secret: Some(url_decode(secret)),
                method: "client_secret_basic",
            })
        }
        (None, secret) => {
            let id =
                form_id.ok_or_else(|| OAuthError::InvalidClient("client_id missing".into()))?;
            let method = if secret.is_some() {
                "client_secret_post"
            } else {
                "none"
            };
            Ok(Presented {
                client_id: id.to_owned(),
                secret: secret.map(str::to_owned),
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

/// Pure check of presented credentials against the stored client.
pub fn check(client: &Client, p: &Presented) -> Result<(), OAuthError> {
    if client.auth_method() != p.method {
        return Err(OAuthError::InvalidClient(format!(
            "client must authenticate with {}",
            client.auth_method()
        )));
    }
    match (&client.secret_hash, &p.secret) {
        (None, None) => Ok(()),
        (Some(h), Some(s)) if same_secret(&hash(s), h) => Ok(()),
        _ => Err(OAuthError::InvalidClient(
            "client authentication failed".into(),
        )),
    }
}

/// Authenticates the client of a token-endpoint style request.
pub async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Client, OAuthError> {
    let p = presented(headers, form_id, form_secret)?;
    let client = resolve_client(app, &p.client_id)
        .await?
        .ok_or_else(|| OAuthError::InvalidClient("unknown client".into()))?;
    check(&client, &p)?;
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
        let p = presented(&basic("c1", "s%3A1"), None, None).unwrap();
        assert_eq!(p.secret.as_deref(), Some("s:1"));
        assert!(check(&client("client_secret_basic", Some("s:1")), &p).is_ok());
        assert!(check(&client("client_secret_basic", Some("other")), &p).is_err());
        assert!(check(&client("client_secret_post", Some("s:1")), &p).is_err());
        let post = presented(&HeaderMap::new(), Some("c1"), Some("s")).unwrap();
        assert!(check(&client("client_secret_post", Some("s")), &post).is_ok());
        let none = presented(&HeaderMap::new(), Some("c1"), None).unwrap();
        assert!(check(&client("none", None), &none).is_ok());
        assert!(check(&client("client_secret_basic", Some("s")), &none).is_err());
        assert!(presented(&basic("c1", "s"), None, Some("s")).is_err());
        assert!(presented(&HeaderMap::new(), None, None).is_err());
    }
}
