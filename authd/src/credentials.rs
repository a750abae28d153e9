//! HTTP authentication credentials (RFC 9110 §11.4, §11.6.2): the one place that reads the
//! `Authorization` header. The scheme is matched case-insensitively (RFC 9110 §11.1: `Bearer`,
//! `bearer` and `BEARER` are the same scheme) and separated from its credentials by one or more
//! spaces; every endpoint that takes credentials (`/verify`, RFC 7592 `/register/{id}`, client
//! authentication at `/token`) goes through here, so they all agree.

use axum::http::{HeaderMap, header};

/// The credentials after `scheme` in an `Authorization` value, without surrounding spaces;
/// `None` for another scheme or empty credentials. Pure, so fuzz targets can call it.
pub fn after_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.split_once(' ')?;
    if !name.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let rest = rest.trim_matches(' ');
    (!rest.is_empty()).then_some(rest)
}

fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| after_scheme(v, scheme))
}

/// An OAuth bearer token (RFC 6750 §2.1).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers, "Bearer")
}

/// HTTP Basic credentials, still base64 (RFC 7617 §2; client authentication, RFC 6749 §2.3.1).
pub fn basic(headers: &HeaderMap) -> Option<&str> {
    authorization(headers, "Basic")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn scheme_is_case_insensitive_and_spaces_separate() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc  "] {
            assert_eq!(after_scheme(v, "Bearer"), Some("abc"), "{v:?}");
        }
        for v in [
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Basic abc",
            "Bearerabc",
            "",
            " Bearer abc",
        ] {
            assert_eq!(after_scheme(v, "Bearer"), None, "{v:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bAsIc dXNlcjpwdw==".parse().unwrap());
        assert_eq!(basic(&h), Some("dXNlcjpwdw=="));
        assert_eq!(bearer(&h), None);
    }
}
