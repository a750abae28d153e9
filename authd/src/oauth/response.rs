//! The authorization response (RFC 6749 §4.1.2, §4.1.2.1): every redirect back to the client,
//! success or error, carries `state` and `iss` (RFC 9207 §2; client requirement Z4 of
//! docs/architecture/client-requirements.md).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::pending::Pending;
use crate::error::{AuthorizeError, PageError};
use crate::state::App;

/// The successful response: our authorization code (RFC 6749 §4.1.2).
pub fn with_code(app: &App, p: &Pending, code: &str) -> Response {
    redirect(app, p, &[("code", code)])
}

/// The error response (RFC 6749 §4.1.2.1).
pub fn with_error(app: &App, p: &Pending, err: &AuthorizeError) -> Response {
    let (error, description) = err.parameters();
    redirect(
        app,
        p,
        &[("error", error), ("error_description", description)],
    )
}

/// A 302 to the client's redirect URI with the given parameters plus `state` and `iss`, keeping
/// any query the registered URI already has.
fn redirect(app: &App, p: &Pending, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(&p.redirect_uri) {
        Ok(u) => u,
        Err(_) => {
            return PageError::Server("stored redirect URI unparsable".into()).into_response();
        }
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = &p.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", app.issuer());
    }
    found(url.as_str())
}

/// A 302 with `Cache-Control: no-store`.
pub fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, v),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => {
            PageError::BadRequest("redirect target is not a valid URI".into()).into_response()
        }
    }
}
