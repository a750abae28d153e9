//! Request parameters: the query of `/authorize` and `/callback` and the form bodies of `/token`,
//! `/revoke` and `/introspect` (`application/x-www-form-urlencoded`, RFC 6749 §3.1 and §3.2:
//! parameters must not be repeated), and request bodies with their size limit (413).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use crate::error::OAuthError;

/// A parameter that appeared more than once (its name).
#[derive(Debug, PartialEq, Eq)]
pub struct Repeated(pub String);

/// Decodes form-urlencoded pairs; a repeated name is an error (RFC 6749 §3.1, §3.2). Pure, so
/// fuzz targets can call it.
pub fn parse(raw: &[u8]) -> Result<HashMap<String, String>, Repeated> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if map.contains_key(k.as_ref()) {
            return Err(Repeated(k.into_owned()));
        }
        map.insert(k.into_owned(), v.into_owned());
    }
    Ok(map)
}

/// The request body, or 413 when it exceeds `AUTHD_MAX_BODY_BYTES`.
pub fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, OAuthError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::TooLarge
        } else {
            OAuthError::InvalidRequest("unreadable request body".into())
        }
    })
}

/// The parameters of a form-encoded POST (RFC 6749 §3.2: `application/x-www-form-urlencoded`).
pub fn form(
    headers: &HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<HashMap<String, String>, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let raw = body(raw)?;
    if !form_type {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    parse(&raw).map_err(|Repeated(name)| {
        OAuthError::InvalidRequest(format!("parameter {name} is repeated"))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let m = parse(b"a=1&b=%20x+y&c=").unwrap();
        assert_eq!(m["b"], " x y");
        assert_eq!(m["c"], "");
        assert_eq!(parse(b"a=1&a=2"), Err(Repeated("a".into())));
        assert_eq!(parse(b"a=1&%61=2"), Err(Repeated("a".into())));
    }
}
