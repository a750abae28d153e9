//! Redirect URIs: what may be registered (RFC 7591 §2, OAuth 2.1 §2.3.1, RFC 8252 §7) and how a
//! requested URI is matched against the registered ones (exact string match, OAuth 2.1 §4.1.3,
//! except loopback URIs, which match on any port, RFC 8252 §7.3).

use url::{Host, Url};

/// Why a redirect URI cannot be registered.
pub fn check_registrable(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|_| format!("{uri}: not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(format!("{uri}: must not contain a fragment"));
    }
    match url.scheme() {
        "https" => url
            .host()
            .map(|_| ())
            .ok_or_else(|| format!("{uri}: no host")),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!("{uri}: http is allowed only for loopback hosts")),
        // Executable or content schemes can never be a redirect target.
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ws" | "wss" | "ftp" => {
            Err(format!("{uri}: scheme not allowed"))
        }
        // RFC 8252 §7.1 private-use schemes for native apps (reverse domain style, e.g. cursor://).
        scheme if scheme.len() >= 2 => Ok(()),
        _ => Err(format!("{uri}: scheme not allowed")),
    }
}

/// The `application_type` values of OpenID Connect Registration §2.
pub const APPLICATION_TYPES: [&str; 2] = ["web", "native"];

/// MCP authorization 2026-07-28 "Application Type and Redirect URI Constraints" (OpenID Connect
/// Registration §2): a `web` client is served from a non-local host, so its redirect URIs are
/// https on a host that is not loopback; a `native` client may use all that RFC 8252 allows
/// (claimed https §7.2, private-use schemes §7.1, loopback http §7.3), which `check_registrable`
/// already checks. Without `application_type` (clients of earlier revisions omit it) nothing more
/// is asked: OpenID's default `web` would refuse the loopback URIs those clients use.
pub fn check_application_type(uri: &str, application_type: Option<&str>) -> Result<(), String> {
    if application_type != Some("web") {
        return Ok(());
    }
    match Url::parse(uri) {
        Ok(url) if url.scheme() == "https" && !is_loopback(&url) => Ok(()),
        _ => Err(format!(
            "{uri}: application_type web allows only https redirect URIs on a non-local host; \
             register as native"
        )),
    }
}

/// An http URI on a loopback host (RFC 8252 §7.3).
pub fn is_loopback_uri(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|u| u.scheme() == "http" && is_loopback(&u))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Does `requested` match one of `registered`?
pub fn matches(registered: &[String], requested: &str) -> bool {
    // OAuth 2.1 §2.3.1: redirect URIs never carry a fragment.
    if requested.contains('#') {
        return false;
    }
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Ok(req) = Url::parse(requested) else {
        return false;
    };
    if req.scheme() != "http" || !is_loopback(&req) {
        return false;
    }
    registered
        .iter()
        .filter_map(|r| Url::parse(r).ok())
        .any(|reg| {
            reg.scheme() == "http"
                && is_loopback(&reg)
                && reg.host() == req.host()
                && reg.path() == req.path()
                && reg.query() == req.query()
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn registration_rules() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://localhost:6274/oauth/callback",
            "http://127.0.0.1/callback",
            "http://[::1]:33418/",
            "cursor://anysphere.cursor-mcp/oauth/callback",
        ] {
            assert!(check_registrable(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,hi",
            "http://evil.example/cb",
            "https://a.example/cb#frag",
            "/relative",
            "",
        ] {
            assert!(check_registrable(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn application_type_constraints() {
        let web = Some("web");
        assert!(check_application_type("https://claude.ai/api/mcp/auth_callback", web).is_ok());
        for bad in [
            "http://127.0.0.1:3000/cb",
            "https://localhost/cb",
            "https://[::1]/cb",
            "cursor://anysphere.cursor-mcp/oauth/callback",
        ] {
            assert!(check_application_type(bad, web).is_err(), "{bad}");
            assert!(check_application_type(bad, Some("native")).is_ok(), "{bad}");
            assert!(check_application_type(bad, None).is_ok(), "{bad}");
        }
    }

    #[test]
    fn exact_match_and_loopback_any_port() {
        let reg = vec![
            "https://claude.ai/api/mcp/auth_callback".to_owned(),
            "http://127.0.0.1/callback".to_owned(),
            "http://localhost:3000/cb".to_owned(),
        ];
        assert!(matches(&reg, "https://claude.ai/api/mcp/auth_callback"));
        assert!(!matches(&reg, "https://claude.ai/api/mcp/auth_callback/"));
        assert!(!matches(
            &reg,
            "https://claude.ai/api/mcp/auth_callback?x=1"
        ));
        assert!(!matches(&reg, "https://evil.example/api/mcp/auth_callback"));
        assert!(matches(&reg, "http://127.0.0.1:54321/callback"));
        assert!(matches(&reg, "http://localhost:9999/cb"));
        assert!(!matches(&reg, "http://localhost:9999/other"));
        assert!(!matches(&reg, "http://[::1]:9999/callback"));
        assert!(!matches(&reg, "http://127.0.0.1.evil.example:80/callback"));
        assert!(!matches(&reg, "http://127.0.0.1:9/callback#frag"));
    }
}
