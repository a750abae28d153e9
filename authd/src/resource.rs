//! MCP resources: the issuer, each service's resource URL and protected-resource metadata URL, and
//! the derivation of the resource a request targets from the edge's forwarded headers.
//!
//! RFC 8707 §2: the resource is an absolute URI without fragment; we compare normalised forms
//! (lower-case scheme and host, default port dropped, no trailing slash; client requirements P2, Z3
//! of docs/architecture/client-requirements.md).

/// How MCP services are addressed (docs/guides/clients.md#the-url-of-a-server).
#[derive(Debug, Clone)]
pub enum Routing {
    /// One origin: `${public_url}/<name>/mcp`, issuer `public_url`.
    Path { public_url: String },
    /// One host per service: `https://mcp-<name>.${base_domain}/mcp`, issuer `https://auth.${base_domain}`.
    Host { base_domain: String },
}

/// The configured resources.
#[derive(Debug, Clone)]
pub struct Resources {
    routing: Routing,
    services: Vec<String>,
    issuer: String,
    /// `(service, resource URL)` in configuration order.
    urls: Vec<(String, String)>,
}

impl Resources {
    pub fn new(routing: Routing, services: Vec<String>) -> Resources {
        let issuer = match &routing {
            Routing::Path { public_url } => normalize(public_url).unwrap_or_default(),
            Routing::Host { base_domain } => format!("https://auth.{base_domain}"),
        };
        let urls = services
            .iter()
            .map(|s| {
                let url = match &routing {
                    Routing::Path { .. } => format!("{issuer}/{s}/mcp"),
                    Routing::Host { base_domain } => format!("https://mcp-{s}.{base_domain}/mcp"),
                };
                (s.clone(), url)
            })
            .collect();
        Resources {
            routing,
            services,
            issuer,
            urls,
        }
    }

    /// The configured service names, in configuration order.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.urls.iter().map(|(s, _)| s.as_str())
    }

    /// The authorization server's issuer identifier (RFC 8414 §2).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The resource URL of a configured service.
    pub fn resource_of(&self, service: &str) -> Option<&str> {
        self.urls
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, u)| u.as_str())
    }

    /// The service whose resource equals `resource` after normalisation (Z3).
    pub fn service_of(&self, resource: &str) -> Option<&str> {
        let n = normalize(resource)?;
        self.urls
            .iter()
            .find(|(_, u)| *u == n)
            .map(|(s, _)| s.as_str())
    }

    /// The path-suffixed protected-resource metadata URL (RFC 9728 §3.1) of a service.
    pub fn metadata_url(&self, service: &str) -> Option<String> {
        let resource = self.resource_of(service)?;
        let url = url::Url::parse(resource).ok()?;
        let origin = url.origin().ascii_serialization();
        Some(format!(
            "{origin}/.well-known/oauth-protected-resource{}",
            url.path()
        ))
    }

    /// The service addressed by a forwarded request (docs/api/endpoints.md#verify-in-detail): the
    /// resource is built only from `X-Forwarded-Proto/Host/Uri` and must be a configured resource.
    pub fn service_forwarded(&self, proto: &str, host: &str, uri: &str) -> Option<&str> {
        let path = uri.split(['?', '#']).next().unwrap_or("");
        let (by_path, by_host);
        let spelled: &[&str] = match &self.routing {
            Routing::Path { .. } => {
                let mut parts = path.trim_start_matches('/').splitn(3, '/');
                let name = parts.next()?;
                if parts.next()? != "mcp" {
                    return None;
                }
                by_path = [proto, "://", host, "/", name, "/mcp"];
                &by_path
            }
            Routing::Host { .. } => {
                let rest = path.strip_prefix("/mcp")?;
                if !(rest.is_empty() || rest.starts_with('/')) {
                    return None;
                }
                by_host = [proto, "://", host, "/mcp"];
                &by_host
            }
        };
        // Hot path (every /verify): the forwarded parts spell a configured resource exactly, which
        // is then already normalised; no string is built and no URL parsed. Other spellings (upper-
        // case scheme, explicit default port) are normalised first (RFC 3986 §6.2.2, §6.2.3).
        if let Some((s, _)) = self.urls.iter().find(|(_, u)| concatenates(u, spelled)) {
            return Some(s);
        }
        self.service_of(&spelled.concat())
    }

    /// The service a protected-resource metadata request is about (RFC 9728 §3.1): the path after
    /// `/.well-known/oauth-protected-resource`, and in host routing the requested host.
    pub fn service_for_metadata(&self, host: Option<&str>, suffix: &str) -> Option<&str> {
        match &self.routing {
            Routing::Path { .. } => {
                let name = suffix.trim_matches('/').strip_suffix("/mcp")?;
                self.resource_of(name).map(|_| ())?;
                self.services
                    .iter()
                    .find(|s| *s == name)
                    .map(String::as_str)
            }
            Routing::Host { base_domain } => {
                if !(suffix.is_empty() || suffix == "/" || suffix.trim_end_matches('/') == "/mcp") {
                    return None;
                }
                let host = host?.split(':').next()?.to_ascii_lowercase();
                let name = host
                    .strip_prefix("mcp-")?
                    .strip_suffix(base_domain.as_str())?;
                let name = name.strip_suffix('.')?;
                self.services
                    .iter()
                    .find(|s| *s == name)
                    .map(String::as_str)
            }
        }
    }
}

/// Whether `whole` is exactly `parts` joined.
fn concatenates(whole: &str, parts: &[&str]) -> bool {
    parts
        .iter()
        .try_fold(whole, |rest, p| rest.strip_prefix(p))
        .is_some_and(str::is_empty)
}

/// RFC 8707 resource normalisation: absolute http(s) URI, no fragment, lower-case host, default
/// port dropped, trailing slash removed.
pub fn normalize(resource: &str) -> Option<String> {
    let url = url::Url::parse(resource).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() || url.host().is_none()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!("{origin}{path}{query}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn path() -> Resources {
        Resources::new(
            Routing::Path {
                public_url: "http://127.0.0.1:8080/".into(),
            },
            vec!["fetch".into(), "sequential-thinking".into()],
        )
    }

    fn host() -> Resources {
        Resources::new(
            Routing::Host {
                base_domain: "example.com".into(),
            },
            vec!["fetch".into()],
        )
    }

    #[test]
    fn normalisation_lowercases_host_and_drops_trailing_slash() {
        assert_eq!(
            normalize("HTTPS://MCP-Fetch.Example.com:443/mcp/").unwrap(),
            "https://mcp-fetch.example.com/mcp"
        );
        assert_eq!(normalize("https://a.b/mcp#frag"), None);
        assert_eq!(normalize("javascript:alert(1)"), None);
    }

    #[test]
    fn path_routing_urls() {
        let r = path();
        assert_eq!(r.issuer(), "http://127.0.0.1:8080");
        assert_eq!(
            r.resource_of("fetch").unwrap(),
            "http://127.0.0.1:8080/fetch/mcp"
        );
        assert_eq!(
            r.metadata_url("sequential-thinking").unwrap(),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/sequential-thinking/mcp"
        );
        assert_eq!(
            r.service_of("http://127.0.0.1:8080/fetch/mcp/"),
            Some("fetch")
        );
        assert_eq!(r.service_of("http://127.0.0.1:8080/other/mcp"), None);
    }

    #[test]
    fn path_routing_forwarded() {
        let r = path();
        assert_eq!(
            r.service_forwarded("http", "127.0.0.1:8080", "/fetch/mcp"),
            Some("fetch")
        );
        assert_eq!(
            r.service_forwarded("http", "127.0.0.1:8080", "/fetch/mcp/x?y=1"),
            Some("fetch")
        );
        assert_eq!(r.service_forwarded("http", "evil.test", "/fetch/mcp"), None);
        // Spellings that are not the configured string take the normalising path.
        assert_eq!(
            r.service_forwarded("HTTP", "127.0.0.1:8080", "/fetch/mcp"),
            Some("fetch")
        );
        assert_eq!(
            r.service_forwarded("http", "127.0.0.1:8080", "//fetch/mcp"),
            Some("fetch")
        );
        assert_eq!(r.service_forwarded("http", "127.0.0.1:8080", "/mcp"), None);
        assert_eq!(
            r.service_forwarded("http", "127.0.0.1:8080", "/fetch/other"),
            None
        );
        assert_eq!(
            r.service_forwarded("http", "127.0.0.1:8080", "/nope/mcp"),
            None
        );
        assert_eq!(r.service_for_metadata(None, "/fetch/mcp"), Some("fetch"));
        assert_eq!(r.service_for_metadata(None, "/nope/mcp"), None);
    }

    #[test]
    fn host_routing() {
        let r = host();
        assert_eq!(r.issuer(), "https://auth.example.com");
        assert_eq!(
            r.resource_of("fetch").unwrap(),
            "https://mcp-fetch.example.com/mcp"
        );
        assert_eq!(
            r.service_forwarded("https", "MCP-FETCH.example.com", "/mcp"),
            Some("fetch")
        );
        assert_eq!(
            r.service_forwarded("http", "mcp-fetch.example.com", "/mcp"),
            None
        );
        assert_eq!(
            r.service_forwarded("https", "mcp-fetch.example.com", "/mcpx"),
            None
        );
        assert_eq!(
            r.service_for_metadata(Some("mcp-fetch.example.com"), "/mcp"),
            Some("fetch")
        );
        assert_eq!(
            r.service_for_metadata(Some("mcp-fetch.example.com:443"), ""),
            Some("fetch")
        );
        assert_eq!(
            r.service_for_metadata(Some("mcp-x.example.com"), "/mcp"),
            None
        );
        assert_eq!(
            r.metadata_url("fetch").unwrap(),
            "https://mcp-fetch.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }
}
