//! HTML pages (consent, errors). Every value shown is escaped (OWASP XSS rule #1): client names,
//! URIs and messages all come from untrusted input.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Html;

/// The headers of a page where the user decides something (consent, device code): never cached,
/// never framed (clickjacking), no script, no other origin's content.
pub fn protect(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` escaped here, `body` already escaped HTML.
pub fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}\
         button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}}dt{{font-weight:bold}}</style></head>\
         <body>{body}</body></html>",
        escape(title)
    ))
}

/// A page for errors that must not be redirected to the client (RFC 6749 §4.1.2.1).
pub fn error_page(message: &str) -> Html<String> {
    page(
        "Authorization error",
        &format!("<h1>Authorization error</h1><p>{}</p>", escape(message)),
    )
}

/// What the consent page shows (docs/architecture/security.md#users-consent-and-allow-lists).
pub struct ConsentView<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub user: &'a str,
    pub client_name: &'a str,
    pub redirect_host: &'a str,
    pub resource: &'a str,
    pub scope: &'a str,
    /// Every redirect URI of the client is on this computer (loopback): anything running here
    /// could claim to be this client, so the page says so (MCP authorization 2026-07-28
    /// "Localhost Redirect URI Risks").
    pub local_only: bool,
    /// A device authorization (RFC 8628 §5.4): no redirect, and the user must be sure the device
    /// is theirs, since a code can be sent to them by someone else.
    pub device: bool,
}

/// The warning shown for clients whose redirect URIs are all on loopback.
pub const LOCAL_ONLY_WARNING: &str = "This application receives the permission on this \
    computer (a localhost address). Allow only if you just started it yourself: any program \
    on this computer can use that name.";

/// The warning shown for a device authorization (RFC 8628 §5.4, remote phishing).
pub const DEVICE_WARNING: &str = "A device is asking for this access with a code. Allow only \
    if you started this login yourself and the device is yours: whoever holds it gets your access.";

pub fn consent_page(v: &ConsentView<'_>) -> Html<String> {
    let (target_label, target) = if v.device {
        ("Requested by", "a device, with the code you entered")
    } else {
        ("Redirects to", v.redirect_host)
    };
    let warning = match (v.device, v.local_only) {
        (true, _) => format!("<p><strong>{}</strong></p>", escape(DEVICE_WARNING)),
        (false, true) => format!("<p><strong>{}</strong></p>", escape(LOCAL_ONLY_WARNING)),
        (false, false) => String::new(),
    };
    let body = format!(
        "<h1>Allow access?</h1>\
         <p>Signed in as <strong>{user}</strong>.</p>\
         <dl><dt>Application</dt><dd>{client}</dd><dt>{target_label}</dt><dd>{host}</dd>\
         <dt>MCP server</dt><dd>{resource}</dd><dt>Permissions</dt><dd>{scope}</dd></dl>{warning}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        user = escape(v.user),
        client = escape(v.client_name),
        host = escape(target),
        resource = escape(v.resource),
        scope = escape(v.scope),
        action = escape(v.action),
        csrf = escape(v.csrf),
    );
    page("Allow access?", &body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_escaped() {
        let payload = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";
        let html = consent_page(&ConsentView {
            action: "https://a/consent",
            csrf: payload,
            user: payload,
            client_name: payload,
            redirect_host: payload,
            resource: payload,
            scope: payload,
            local_only: true,
            device: false,
        })
        .0;
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("\"><img"));
        assert!(error_page(payload).0.contains("&lt;script&gt;"));
    }
}
