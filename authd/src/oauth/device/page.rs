//! The pages of the device verification (RFC 8628 §3.3): the form for the user code and how the
//! approval ended. Every value shown is escaped; pages are never cached or framed (the form is
//! a target for clickjacking like the consent page).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::html::{escape, page, protect};

fn send(status: StatusCode, title: &str, body: &str) -> Response {
    let mut resp = (status, page(title, body)).into_response();
    protect(resp.headers_mut());
    resp
}

/// The form where the user types (or confirms) the code the device shows; `problem` is why the
/// previous entry was refused.
pub fn enter_code(action: &str, prefilled: &str, problem: Option<&str>) -> Response {
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let problem = problem
        .map(|p| format!("<p role=\"alert\"><strong>{}</strong></p>", escape(p)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Connect a device</h1>{problem}\
         <p>Enter the code shown on the device (a terminal, a server, a CI job). Continue only \
         if you started that login yourself: whoever holds the device gets your access.</p>\
         <form method=\"post\" action=\"{action}\">\
         <label for=\"user_code\">Code</label> \
         <input id=\"user_code\" name=\"user_code\" value=\"{code}\" autocomplete=\"off\" \
         autocapitalize=\"characters\" spellcheck=\"false\" maxlength=\"32\" required> \
         <button type=\"submit\" name=\"continue\" value=\"continue\">Continue</button></form>",
        action = escape(action),
        code = escape(prefilled),
    );
    send(status, "Connect a device", &body)
}

/// Too many wrong codes from this address (RFC 8628 §5.1).
pub fn too_many(retry_after: u64) -> Response {
    let mut resp = send(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "<h1>Too many attempts</h1><p>Too many wrong codes were entered from this address. \
         Wait a few minutes, then start again on the device.</p>",
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

pub fn approved() -> Response {
    send(
        StatusCode::OK,
        "Device connected",
        "<h1>Device connected</h1><p>You can close this window and return to your device.</p>",
    )
}

pub fn denied(description: &str) -> Response {
    send(
        StatusCode::OK,
        "Access denied",
        &format!(
            "<h1>Access denied</h1><p>{}</p><p>The device has been told.</p>",
            escape(description)
        ),
    )
}

pub fn failed(description: &str) -> Response {
    send(
        StatusCode::BAD_GATEWAY,
        "Login failed",
        &format!(
            "<h1>Login failed</h1><p>{}</p><p>Enter the code again to retry.</p>",
            escape(description)
        ),
    )
}

pub fn too_late() -> Response {
    send(
        StatusCode::BAD_REQUEST,
        "Code no longer valid",
        "<h1>Code no longer valid</h1><p>This code expired or was already answered. Start \
         again on the device.</p>",
    )
}
