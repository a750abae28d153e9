//! Loopback aliases of a loopback PUBLIC_URL: `http://localhost:8080` and `http://[::1]:8080` name
//! the same gateway as `http://127.0.0.1:8080` on this machine (RFC 6761 §6.3 reserves
//! `localhost`; RFC 8252 §7.3 and §8.3 treat the three spellings as the loopback interface).
//!
//! A client that pastes any of them gets a working server whose resource identifier is the URL it
//! used (RFC 9728 §3.3, §7.3): each alias is an origin of its own, with its own resource URLs and
//! token audiences. Only plain http: an https origin needs a certificate for every name it
//! answers, which no ACME CA issues for loopback names.

/// The loopback host names, as a URL host serialises them.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// The other loopback origins of `origin` (an `http://<loopback host>[:port]` origin), in the
/// order of [`LOOPBACK_HOSTS`]; none for any other origin.
pub fn aliases(origin: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(origin) else {
        return Vec::new();
    };
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
        return Vec::new();
    };
    if url.scheme() != "http" || !LOOPBACK_HOSTS.contains(&host.as_str()) {
        return Vec::new();
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    LOOPBACK_HOSTS
        .iter()
        .filter(|h| **h != host)
        .map(|h| format!("http://{h}{port}"))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::resource::tests::path;
    use crate::resource::{Resources, Routing, metadata_url};

    #[test]
    fn every_other_loopback_name_on_the_same_port() {
        assert_eq!(
            aliases("http://127.0.0.1:8080"),
            ["http://localhost:8080", "http://[::1]:8080"]
        );
        assert_eq!(
            aliases("http://localhost:8080"),
            ["http://127.0.0.1:8080", "http://[::1]:8080"]
        );
        assert_eq!(
            aliases("http://[::1]:9"),
            ["http://127.0.0.1:9", "http://localhost:9"]
        );
        // The default port stays implicit, as origins serialise it.
        assert_eq!(
            aliases("http://localhost"),
            ["http://127.0.0.1", "http://[::1]"]
        );
    }

    #[test]
    fn none_for_other_hosts_and_for_https() {
        assert!(aliases("http://gw.example.com:8080").is_empty());
        assert!(aliases("http://127.0.0.2:8080").is_empty());
        assert!(aliases("http://localhost.example.com").is_empty());
        assert!(aliases("https://localhost:8443").is_empty());
        assert!(aliases("not a url").is_empty());
    }

    #[test]
    fn loopback_aliases_are_resources_of_their_own() {
        let r = path();
        // Each alias's URL resolves to itself, not to PUBLIC_URL's: the audience of a token is the
        // resource the client asked for (RFC 8707 §2).
        assert_eq!(
            r.resolve("HTTP://LOCALHOST:8080/fetch/mcp/"),
            Some(("fetch", "http://localhost:8080/fetch/mcp"))
        );
        assert_eq!(
            r.resolve("http://[::1]:8080/sequential-thinking/mcp"),
            Some((
                "sequential-thinking",
                "http://[::1]:8080/sequential-thinking/mcp"
            ))
        );
        assert_eq!(
            r.resolve("http://127.0.0.1:8080/fetch/mcp"),
            Some(("fetch", "http://127.0.0.1:8080/fetch/mcp"))
        );
        // Another port, another loopback address or a public name is no alias.
        assert_eq!(r.resolve("http://localhost:8081/fetch/mcp"), None);
        assert_eq!(r.resolve("http://127.0.0.2:8080/fetch/mcp"), None);
        assert_eq!(r.resolve("https://localhost:8080/fetch/mcp"), None);
        // The issuer and the canonical resource stay PUBLIC_URL's.
        assert_eq!(r.issuer(), "http://127.0.0.1:8080");
        assert_eq!(
            r.resource_of("fetch").unwrap(),
            "http://127.0.0.1:8080/fetch/mcp"
        );
    }

    #[test]
    fn forwarded_alias_names_its_own_resource() {
        let r = path();
        assert_eq!(
            r.service_forwarded("http", "localhost:8080", "/fetch/mcp"),
            Some(("fetch", "http://localhost:8080/fetch/mcp"))
        );
        assert_eq!(
            r.service_forwarded("http", "[::1]:8080", "/fetch/mcp"),
            Some(("fetch", "http://[::1]:8080/fetch/mcp"))
        );
        assert_eq!(
            r.service_forwarded("http", "localhost:9999", "/fetch/mcp"),
            None
        );
        assert_eq!(
            metadata_url("http://localhost:8080/fetch/mcp").unwrap(),
            "http://localhost:8080/.well-known/oauth-protected-resource/fetch/mcp"
        );
    }

    #[test]
    fn metadata_on_an_alias_publishes_the_alias_resource() {
        let r = path();
        // RFC 9728 §3.3: `resource` is the URL the metadata was fetched for.
        assert_eq!(
            r.service_for_metadata(Some("localhost:8080"), "/fetch/mcp"),
            Some(("fetch", "http://localhost:8080/fetch/mcp"))
        );
        assert_eq!(
            r.service_for_metadata(Some("LOCALHOST:8080"), "/fetch/mcp"),
            Some(("fetch", "http://localhost:8080/fetch/mcp"))
        );
        assert_eq!(
            r.service_for_metadata(Some("[::1]:8080"), "/fetch/mcp"),
            Some(("fetch", "http://[::1]:8080/fetch/mcp"))
        );
        // Any other host (direct calls, a foreign name): PUBLIC_URL's resource, as before.
        for other in [None, Some("127.0.0.1:8080"), Some("evil.test"), Some("a/b")] {
            assert_eq!(
                r.service_for_metadata(other, "/fetch/mcp"),
                Some(("fetch", "http://127.0.0.1:8080/fetch/mcp"))
            );
        }
        assert_eq!(
            r.service_for_metadata(Some("localhost:8080"), "/nope/mcp"),
            None
        );
    }

    #[test]
    fn public_names_have_no_aliases() {
        let r = Resources::new(
            Routing::Path {
                public_url: "https://gw.example.com".into(),
            },
            vec!["fetch".into()],
        );
        assert_eq!(r.resolve("https://localhost/fetch/mcp"), None);
        assert_eq!(
            r.service_for_metadata(Some("localhost"), "/fetch/mcp"),
            Some(("fetch", "https://gw.example.com/fetch/mcp"))
        );
    }
}
