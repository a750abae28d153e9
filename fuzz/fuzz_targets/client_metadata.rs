//! Dynamic client registration metadata (RFC 7591 §2, §3.1; client requirements D1, D2 of
//! docs/architecture/client-requirements.md): the body parsed and validated as `/register` does
//! (and as Client ID Metadata Documents are).
//!
//! Properties: metadata parses only from JSON; validation is idempotent (a stored client
//! validates again to itself, also after the store's JSON round trip); what it accepts has
//! 1..=16 registrable redirect URIs, a supported auth method (with `jwks_uri` for
//! `private_key_jwt`), the code grant, only the `code` response type and the known grants.
//!
//! Input: a registration body.
#![no_main]

use authd::oauth::client::{self, ClientMetadata};
use authd::oauth::redirect;
use libfuzzer_sys::fuzz_target;

fn same(a: &ClientMetadata, b: &ClientMetadata) {
    let a = serde_json::to_value(a).unwrap_or_default();
    let b = serde_json::to_value(b).unwrap_or_default();
    assert_eq!(a, b);
}

fuzz_target!(|body: &[u8]| {
    let parsed = client::parse_metadata(body);
    if parsed.is_ok() {
        // JSON by serde_json's grammar (ignored members may hold numbers beyond f64).
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok());
    }
    let Ok(m) = parsed else {
        return;
    };
    for default in ["client_secret_basic", "none"] {
        let Ok(v) = client::validate(m.clone(), default) else {
            continue;
        };
        assert!((1..=client::MAX_REDIRECT_URIS).contains(&v.redirect_uris.len()));
        for uri in &v.redirect_uris {
            assert!(redirect::check_registrable(uri).is_ok(), "{uri:?}");
            assert!(redirect::check_application_type(uri, v.application_type.as_deref()).is_ok());
        }
        let method = v.token_endpoint_auth_method.as_deref().unwrap_or("");
        assert!(client::AUTH_METHODS.contains(&method));
        if method == client::PRIVATE_KEY_JWT {
            assert!(v.jwks_uri.is_some());
        }
        assert!(v.grant_types.iter().any(|g| g == "authorization_code"));
        assert!(
            v.grant_types
                .iter()
                .all(|g| client::GRANT_TYPES.contains(&g.as_str()))
        );
        assert!(v.response_types.iter().all(|r| r == "code"));
        // Idempotent, also through the store's JSON.
        let again = client::validate(v.clone(), default)
            .unwrap_or_else(|e| panic!("validated metadata refused: {e:?}"));
        same(&v, &again);
        let stored = serde_json::to_vec(&v).unwrap_or_default();
        let reloaded = client::parse_metadata(&stored)
            .unwrap_or_else(|e| panic!("stored metadata does not parse: {e:?}"));
        let again = client::validate(reloaded, "none")
            .unwrap_or_else(|e| panic!("stored metadata refused: {e:?}"));
        same(&v, &again);
    }
});
