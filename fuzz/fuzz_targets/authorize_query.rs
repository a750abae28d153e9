//! `/authorize` (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 7636, RFC 8707): the query string parsed
//! as the endpoint parses it, then the checks it makes, for both routing modes.
//!
//! Properties: a query parses exactly when no parameter name repeats (RFC 6749 §3.1, against
//! `url`'s form decoder); an accepted request names a configured resource, carries a
//! well-formed S256 challenge, and is granted only supported scopes; `prompt=none` never comes
//! with another prompt; the redirect URI matches only an exact registration or a loopback one
//! with another port (RFC 8252 §7.3).
//!
//! Input: the query string.
#![no_main]

use std::collections::HashSet;

use authd::oauth::authorize::{check_request, parse_query};
use authd::oauth::{pkce, redirect, scope};
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

const REGISTERED: [&str; 4] = [
    "https://claude.ai/api/mcp/auth_callback",
    "http://127.0.0.1/callback",
    "http://localhost:3000/cb?x=1",
    "cursor://anysphere.cursor-mcp/oauth/callback",
];

fuzz_target!(|query: &[u8]| {
    let Ok(text) = std::str::from_utf8(query) else {
        return;
    };
    let names: Vec<String> = url::form_urlencoded::parse(query)
        .map(|(k, _)| k.into_owned())
        .collect();
    let unique = names.iter().collect::<HashSet<_>>().len() == names.len();
    let parsed = parse_query(Some(text));
    assert_eq!(
        parsed.is_ok(),
        unique,
        "repeated parameters refused, others kept"
    );
    let Ok(q) = parsed else {
        return;
    };
    for (k, v) in url::form_urlencoded::parse(query) {
        assert_eq!(q.get(k.as_ref()), Some(&v.into_owned()));
    }
    for r in resources() {
        let Ok(checked) = check_request(&r, &q) else {
            continue;
        };
        assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(
            q.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert!(pkce::valid_challenge(&checked.code_challenge));
        // The resource granted is the configured URL asked for, on the origin asked for (a
        // loopback alias keeps its own).
        let asked = q.get("resource").map(String::as_str).unwrap_or("");
        assert_eq!(
            r.resolve(asked).map(|(_, u)| u),
            Some(checked.resource.as_str())
        );
        assert_eq!(
            resource::normalize(asked).as_deref(),
            Some(checked.resource.as_str())
        );
        assert!(!checked.scope.is_empty());
        for s in checked.scope.split(' ') {
            assert!(scope::SUPPORTED.contains(&s), "scope {s} granted");
        }
        let p = checked.prompt;
        assert!(!(p.none && (p.login || p.consent || p.select_account)));
    }
    if let Some(uri) = q.get("redirect_uri") {
        let registered: Vec<String> = REGISTERED.iter().map(|s| (*s).to_owned()).collect();
        if redirect::matches(&registered, uri) {
            assert!(!uri.contains('#'));
            if !REGISTERED.contains(&uri.as_str()) {
                let Ok(u) = Url::parse(uri) else {
                    panic!("{uri:?} matched without being a URL");
                };
                assert_eq!(u.scheme(), "http");
                assert!(redirect::is_loopback_uri(uri));
                let host = u.host_str().unwrap_or("");
                assert!(matches!(host, "127.0.0.1" | "localhost"), "{uri:?}");
                let same = REGISTERED
                    .iter()
                    .filter_map(|r| Url::parse(r).ok())
                    .any(|r| {
                        r.host_str() == Some(host) && r.path() == u.path() && r.query() == u.query()
                    });
                assert!(same, "{uri:?} matched no registration");
            }
        }
    }
});
