//! MCP resources: the issuer, each service's resource URL and protected-resource metadata URL, and
//! the derivation of the resource a request targets from the edge's forwarded headers.
//!
//! RFC 8707 §2: the resource is an absolute URI without fragment; we compare normalised forms
//! (lower-case scheme and host, default port dropped, no trailing slash; client requirements P2, Z3
//! of docs/architecture/client-requirements.md).
//!
//! A loopback PUBLIC_URL is also served on its loopback aliases ([`loopback`]): every service then
//! has one resource URL per origin, each its own audience, while the issuer stays PUBLIC_URL's
//! origin.

pub mod loopback;

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
    /// `(service, resource URL)`: first every service on the issuer's origin (host routing: its
    /// own host) in configuration order, then the same on each loopback alias.
    urls: Vec<(String, String)>,
}

impl Resources {
    pub fn new(routing: Routing, services: Vec<String>) -> Resources {
        let issuer = match &routing {
            Routing::Path { public_url } => normalize(public_url).unwrap_or_default(),
            Routing::Host { base_domain } => format!("https://auth.{base_domain}"),
        };
        let urls = match &routing {
            Routing::Path { .. } => std::iter::once(issuer.clone())
                .chain(loopback::aliases(&issuer))
                .flat_map(|origin| {
                    services
                        .iter()
                        .map(move |s| (s.clone(), format!("{origin}/{s}/mcp")))
                })
                .collect(),
            Routing::Host { base_domain } => services
                .iter()
                .map(|s| (s.clone(), format!("https://mcp-{s}.{base_domain}/mcp")))
                .collect(),
        };
        Resources {
            routing,
            services,
            issuer,
            urls,
        }
    }

    /// The configured service names, in configuration order.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(String::as_str)
    }

    /// The authorization server's issuer identifier (RFC 8414 §2).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The resource URL of a configured service on the issuer's origin (host routing: its host).
    pub fn resource_of(&self, service: &str) -> Option<&str> {
        self.urls
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, u)| u.as_str())
    }

    /// The service and the configured resource URL that `resource` names after normalisation (Z3);
    /// an alias origin's URL stays that origin's (RFC 8707 §2: the audience is what was asked for).
    pub fn resolve(&self, resource: &str) -> Option<(&str, &str)> {
        let n = normalize(resource)?;
        self.urls
            .iter()
            .find(|(_, u)| *u == n)
            .map(|(s, u)| (s.as_str(), u.as_str()))
    }

    /// The service whose resource (on any served origin) equals `resource` after normalisation.
    pub fn service_of(&self, resource: &str) -> Option<&str> {
        self.resolve(resource).map(|(s, _)| s)
    }

    /// The service addressed by a forwarded request and its resource URL on the origin the request
    /// came to (docs/api/endpoints.md#verify-in-detail): the resource is built only from
    /// `X-Forwarded-Proto/Host/Uri` and must be a configured resource.
    pub fn service_forwarded(&self, proto: &str, host: &str, uri: &str) -> Option<(&str, &str)> {
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
        if let Some((s, u)) = self.urls.iter().find(|(_, u)| concatenates(u, spelled)) {
            return Some((s, u));
        }
        self.resolve(&spelled.concat())
    }

    /// The service a protected-resource metadata request is about (RFC 9728 §3.1) and the resource
    /// URL to publish: the path after `/.well-known/oauth-protected-resource`, and the requested
    /// host, which in host routing names the service and in path routing picks a loopback alias's
    /// own resource URL (§3.3: `resource` is the URL the client fetched the metadata for).
    pub fn service_for_metadata(&self, host: Option<&str>, suffix: &str) -> Option<(&str, &str)> {
        match &self.routing {
            Routing::Path { .. } => {
                let name = suffix.trim_matches('/').strip_suffix("/mcp")?;
                let canonical = self.resource_of(name)?;
                let scheme = self.issuer.split("://").next().unwrap_or("");
                let on_host = host
                    .and_then(|h| self.resolve(&format!("{scheme}://{h}/{name}/mcp")))
                    .map(|(_, u)| u);
                let service = self.services.iter().find(|s| *s == name)?;
                Some((service, on_host.unwrap_or(canonical)))
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
                let service = self.services.iter().find(|s| *s == name)?;
                Some((service, self.resource_of(service)?))
            }
        }
    }
}

/// The path-suffixed protected-resource metadata URL of a resource URL (RFC 9728 §3.1).
pub fn metadata_url(resource: &str) -> Option<String> {
    let url = url::Url::parse(resource).ok()?;
    let origin = url.origin().ascii_serialization();
    Some(format!(
        "{origin}/.well-known/oauth-protected-resource{}",
        url.path()
    ))
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

    /// PUBLIC_URL `http://127.0.0.1:8080` (with a trailing slash) and two services.
    pub(super) fn path() -> Resources {
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
            r.services().collect::<Vec<_>>(),
            ["fetch", "sequential-thinking"]
        );
        assert_eq!(
            r.resource_of("fetch").unwrap(),
            "http://127.0.0.1:8080/fetch/mcp"
        );
        assert_eq!(
            metadata_url(r.resource_of("sequential-thinking").unwrap()).unwrap(),
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
        let fetch = Some(("fetch", "http://127.0.0.1:8080/fetch/mcp"));
        assert_eq!(
            r.service_forwarded("http", "127.0.0.1:8080", "/fetch/mcp"),
            fetch
        );
        assert_eq!(
            r.service_forwarded("http", "127.0.0.1:8080", "/fetch/mcp/x?y=1"),
            fetch
        );
        assert_eq!(r.service_forwarded("http", "evil.test", "/fetch/mcp"), None);
        // Spellings that are not the configured string take the normalising path.
        assert_eq!(
            r.service_forwarded("HTTP", "127.0.0.1:8080", "/fetch/mcp"),
            fetch
        );
        assert_eq!(
            r.service_forwarded("http", "127.0.0.1:8080", "//fetch/mcp"),
            fetch
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
        assert_eq!(r.service_for_metadata(None, "/fetch/mcp"), fetch);
        assert_eq!(r.service_for_metadata(None, "/nope/mcp"), None);
    }

    #[test]
    fn host_routing() {
        let r = host();
        let fetch = Some(("fetch", "https://mcp-fetch.example.com/mcp"));
        assert_eq!(r.issuer(), "https://auth.example.com");
        assert_eq!(
            r.resource_of("fetch").unwrap(),
            "https://mcp-fetch.example.com/mcp"
        );
        assert_eq!(
            r.service_forwarded("https", "MCP-FETCH.example.com", "/mcp"),
            fetch
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
            fetch
        );
        assert_eq!(
            r.service_for_metadata(Some("mcp-fetch.example.com:443"), ""),
            fetch
        );
        assert_eq!(
            r.service_for_metadata(Some("mcp-x.example.com"), "/mcp"),
            None
        );
        assert_eq!(
            metadata_url(r.resource_of("fetch").unwrap()).unwrap(),
            "https://mcp-fetch.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }
}
