//! Redirect URI and `resource` rules, differential against the `url` crate (WHATWG URL):
//! RFC 8707 resource normalisation and the resource a forwarded request names (authd's
//! `/verify`), and the redirect URI registration and matching rules (RFC 7591 §2, OAuth 2.1
//! §2.3.1 and §4.1.3, RFC 8252 §7).
//!
//! Properties: what normalises is an absolute http(s) URL without fragment by `url`'s parse,
//! normalisation is idempotent and its result is what `url` serialises (lower-case host, no
//! default port); a forwarded request maps to the service its normalised resource names; a
//! registrable redirect URI is a URL without fragment, never of an executable scheme, http only
//! on loopback; a URI matches its own registration.
//!
//! Input: one URI.
#![no_main]

use authd::oauth::redirect;
use authd::resource::{self, Resources, Routing};
use libfuzzer_sys::fuzz_target;
use url::Url;

fn resources() -> [Resources; 2] {
    let services = vec!["fetch".to_owned(), "time".to_owned()];
    [
        Resources::new(
            Routing::Path {
                public_url: "http://127.0.0.1:8080".into(),
            },
            services.clone(),
        ),
        Resources::new(
            Routing::Host {
                base_domain: "example.com".into(),
            },
            services,
        ),
    ]
}

fuzz_target!(|input: &[u8]| {
    let Ok(uri) = std::str::from_utf8(input) else {
        return;
    };
    let parsed = Url::parse(uri);

    // RFC 8707 resource normalisation.
    if let Some(n) = resource::normalize(uri) {
        let Ok(u) = &parsed else {
            panic!("{uri:?} normalised but url refuses it");
        };
        assert!(matches!(u.scheme(), "http" | "https"));
        assert!(u.fragment().is_none() && u.host().is_some());
        assert_eq!(
            resource::normalize(&n).as_deref(),
            Some(n.as_str()),
            "idempotent: {uri:?}"
        );
        let again = Url::parse(&n).unwrap_or_else(|e| panic!("{n:?}: {e}"));
        assert_eq!(again.host_str(), u.host_str());
        assert_eq!(again.port(), u.port());
        assert_eq!(again.query(), u.query());
        assert!(
            again.path() == "/" || !again.path().ends_with('/'),
            "trailing slash kept: {n:?}"
        );
        for r in resources() {
            if let Some((_, resource)) = r.resolve(uri) {
                assert_eq!(resource, n.as_str());
            }
        }
    } else if let Ok(u) = &parsed {
        assert!(
            !matches!(u.scheme(), "http" | "https") || u.fragment().is_some() || !u.has_host(),
            "url accepts {uri:?} as a resource but normalize refuses it"
        );
    }

    // The resource of a forwarded request (`X-Forwarded-Proto/Host/Uri`) is the one its URL
    // names, however it is spelled.
    if let Ok(u) = &parsed
        && matches!(u.scheme(), "http" | "https")
        && let Some(host) = u.host_str()
    {
        let host = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let path = u.path();
        for r in resources() {
            let forwarded = r.service_forwarded(u.scheme(), &host, path);
            if let Some((service, resource)) = forwarded {
                let rebuilt = format!("{}://{host}{path}", u.scheme());
                let n = resource::normalize(&rebuilt).unwrap_or_default();
                assert!(
                    n == resource || n.starts_with(&format!("{resource}/")),
                    "{rebuilt:?} forwarded to {service}"
                );
            }
        }
    }

    // Redirect URIs.
    if redirect::check_registrable(uri).is_ok() {
        let Ok(u) = &parsed else {
            panic!("{uri:?} registrable but url refuses it");
        };
        assert!(u.fragment().is_none());
        assert!(!matches!(
            u.scheme(),
            "javascript" | "data" | "file" | "vbscript"
        ));
        if u.scheme() == "http" {
            assert!(redirect::is_loopback_uri(uri));
        }
        assert!(
            redirect::matches(&[uri.to_owned()], uri),
            "{uri:?} matches itself"
        );
        if redirect::check_application_type(uri, Some("web")).is_ok() {
            assert_eq!(u.scheme(), "https");
        }
    }
    if redirect::is_loopback_uri(uri) && !uri.contains('#') {
        assert!(redirect::check_registrable(uri).is_ok(), "{uri:?}");
    }
});
