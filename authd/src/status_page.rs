//! The page at `/` of the gateway's origin: what a person who opens it needs to know (the MCP
//! servers and their URLs, whether the gateway is healthy, which login is configured, how to
//! connect a client). The edges route every path they do not know to authd, so this is what
//! `https://<gateway>/` shows.
//!
//! Rendered on the server from the configuration and one Redis ping: no script, every value
//! escaped (OWASP XSS prevention rule #1), nothing secret (no client ids or secrets of the
//! upstream, no key material beyond the public key id that `/jwks` publishes anyway) and nothing
//! about any user, so it needs no login.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::UpstreamConfig;
use crate::html::{escape, page};
use crate::state::{App, AppState};

/// `GET /`: 200 when Redis answers, 503 when it does not (logins and MCP requests fail then).
pub async fn show(State(app): State<AppState>) -> Response {
    let healthy = match app.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error.detail = %e, "status page: redis unreachable");
            false
        }
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut resp = (status, page("MCP OAuth gateway", &body(&app, healthy))).into_response();
    let h = resp.headers_mut();
    // Health changes from one request to the next.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    resp
}

fn body(app: &App, healthy: bool) -> String {
    let health = if healthy {
        "<p class=\"ok\"><strong>Healthy</strong>: the authorization server is up and its store \
         (Redis) answers.</p>"
            .to_owned()
    } else {
        "<p class=\"bad\"><strong>Degraded</strong>: the store (Redis) does not answer; logins and \
         MCP requests fail until it is back.</p>"
            .to_owned()
    };
    let resources = &app.config.resources;
    let rows: String = resources
        .services()
        .filter_map(|s| resources.resource_of(s).map(|url| (s, url)))
        .map(|(name, url)| {
            format!(
                "<tr><td>{}</td><td><code>{}</code></td></tr>",
                escape(name),
                escape(url)
            )
        })
        .collect();
    let example = resources
        .services()
        .next()
        .and_then(|s| resources.resource_of(s).map(|url| (s, url)));
    let claude_code = example
        .map(|(name, url)| {
            format!(
                "<li>Claude Code: <code>claude mcp add --transport http {} {}</code>, then \
                 <code>/mcp</code> in Claude Code to log in.</li>",
                escape(name),
                escape(url)
            )
        })
        .unwrap_or_default();
    let issuer = escape(app.issuer());
    format!(
        "<style>table{{border-collapse:collapse}}td,th{{padding:.3rem .6rem;border-bottom:1px solid #ddd;\
         text-align:left}}code{{word-break:break-all}}.ok{{color:#1a6b1a}}.bad{{color:#a01010}}</style>\
         <h1>MCP OAuth gateway</h1>{health}\
         <h2>MCP servers</h2><table><tr><th>server</th><th>URL to give your client</th></tr>{rows}</table>\
         <h2>Connect a client</h2>\
         <p>Give the client a server's URL. It gets a 401 that points it to this gateway's \
         authorization server, registers itself, and opens a browser window where you sign in \
         and allow access once.</p>\
         <ul><li>Claude.ai and Claude Desktop: Settings, Connectors, Add custom connector, the URL \
         (Claude.ai connects from Anthropic's cloud: the gateway must be reachable on a public \
         HTTPS address).</li>{claude_code}\
         <li>VS Code and Cursor: an <code>http</code> server with the URL in <code>mcp.json</code>.</li></ul>\
         <h2>Login</h2><p>You sign in with {login}. Only the users the operator allows get in.</p>\
         <p><small>Authorization server: <code>{issuer}</code> \
         (<a href=\"{issuer}/.well-known/oauth-authorization-server\">metadata</a>), \
         authd {version}.</small></p>",
        login = login(&app.config.upstream),
        version = escape(env!("CARGO_PKG_VERSION")),
    )
}

/// Which upstream identity provider users meet, in words (escaped HTML).
fn login(upstream: &UpstreamConfig) -> String {
    match upstream {
        UpstreamConfig::Github { base_url, .. } if base_url.trim_end_matches('/') == GITHUB => {
            "your GitHub account".to_owned()
        }
        UpstreamConfig::Github { base_url, .. } => format!(
            "your account on the GitHub Enterprise server <code>{}</code>",
            escape(base_url)
        ),
        UpstreamConfig::Oidc { issuer, .. } => format!(
            "the OpenID Connect provider <code>{}</code>",
            escape(issuer)
        ),
    }
}

const GITHUB: &str = "https://github.com";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn login_names_the_provider_escaped() {
        let github = |base: &str| UpstreamConfig::Github {
            client_id: "id".into(),
            client_secret: SecretString::from("secret-value"),
            base_url: base.into(),
        };
        assert_eq!(login(&github("https://github.com")), "your GitHub account");
        assert_eq!(login(&github("https://github.com/")), "your GitHub account");
        let ghe = login(&github("https://git.example.com/<b>"));
        assert!(ghe.contains("GitHub Enterprise"), "{ghe}");
        assert!(ghe.contains("&lt;b&gt;") && !ghe.contains("<b>"), "{ghe}");
        let oidc = login(&UpstreamConfig::Oidc {
            issuer: "https://idp.example.com/\"x".into(),
            client_id: "id".into(),
            client_secret: SecretString::from("secret-value"),
            scopes: "openid".into(),
        });
        assert!(oidc.contains("https://idp.example.com/&quot;x"), "{oidc}");
        assert!(!oidc.contains("secret-value") && !ghe.contains("secret-value"));
    }
}
