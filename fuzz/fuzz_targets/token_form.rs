//! `/token` (RFC 6749 §3.2, §4.1.3, §6; RFC 7636 §4.5; RFC 7523 §2.2): the form body parsed as the
//! endpoint parses it, the client credentials it presents (HTTP Basic from the first line, or
//! form fields), PKCE verification and scope narrowing.
//!
//! Properties: a form parses exactly when no name repeats (against `url`'s form decoder) and
//! every field is the decoded value; credentials are refused when two methods are used at once,
//! and an accepted Basic header names the client it decodes to (RFC 6749 §2.3.1 form-encoding);
//! a verifier verifies against its own challenge exactly when it is well-formed; a refresh never
//! widens the scope.
//!
//! Input: an `Authorization` value on the first line, the form body after it.
#![no_main]

use std::collections::HashSet;

use authd::oauth::client_auth::{self, Proof};
use authd::oauth::token::request::TokenForm;
use authd::oauth::{pkce, scope};
use base64::Engine;
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (auth, body) = match input.iter().position(|b| *b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (&input[..0], input),
    };
    let names: Vec<String> = url::form_urlencoded::parse(body)
        .map(|(k, _)| k.into_owned())
        .collect();
    let unique = names.iter().collect::<HashSet<_>>().len() == names.len();
    let form = TokenForm::parse(body);
    assert_eq!(form.is_ok(), unique);
    let Ok(form) = form else {
        return;
    };
    let decoded: std::collections::HashMap<String, String> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (name, field) in [
        ("grant_type", &form.grant_type),
        ("code", &form.code),
        ("redirect_uri", &form.redirect_uri),
        ("code_verifier", &form.code_verifier),
        ("refresh_token", &form.refresh_token),
        ("scope", &form.scope),
        ("resource", &form.resource),
        ("client_id", &form.credentials.client_id),
        ("client_secret", &form.credentials.client_secret),
    ] {
        assert_eq!(field.as_ref(), decoded.get(name), "{name}");
    }

    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(auth)
        && !auth.is_empty()
    {
        headers.insert(header::AUTHORIZATION, v);
    }
    let basic = authd::credentials::basic(&headers);
    match client_auth::presented(&headers, &form.credentials) {
        Ok(p) => {
            let c = &form.credentials;
            match p.method {
                "client_secret_basic" => {
                    assert!(c.client_secret.is_none() && c.client_assertion.is_none());
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(basic.unwrap_or("").trim())
                        .unwrap_or_default();
                    let raw = String::from_utf8(raw).unwrap_or_default();
                    let (id, _) = raw.split_once(':').unwrap_or(("", ""));
                    let id: String = url::form_urlencoded::parse(format!("x={id}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    assert_eq!(p.client_id, id);
                    assert!(c.client_id.as_ref().is_none_or(|f| *f == id));
                    assert!(matches!(p.proof, Proof::Secret(_)));
                }
                "client_secret_post" => {
                    assert!(basic.is_none());
                    assert_eq!(Some(&p.client_id), c.client_id.as_ref());
                    assert_eq!(
                        Some(&p.proof),
                        c.client_secret.clone().map(Proof::Secret).as_ref()
                    );
                }
                "none" => {
                    assert!(basic.is_none() && c.client_secret.is_none());
                    assert_eq!(Some(&p.client_id), c.client_id.as_ref());
                }
                "private_key_jwt" => {
                    assert!(basic.is_none() && c.client_secret.is_none());
                    assert!(c.client_assertion.is_some());
                }
                other => panic!("unknown method {other}"),
            }
        }
        Err(_) => {}
    }

    if let Some(v) = &form.code_verifier {
        assert_eq!(
            pkce::verify(v, &pkce::challenge_of(v)),
            pkce::valid_verifier(v)
        );
        if pkce::valid_verifier(v) {
            assert!(pkce::valid_challenge(&pkce::challenge_of(v)));
        }
    }
    for granted in ["mcp offline_access", "mcp", ""] {
        if let Some(narrowed) = scope::narrow(granted, form.scope.as_deref()) {
            for s in narrowed.split(' ').filter(|s| !s.is_empty()) {
                assert!(granted.split(' ').any(|g| g == s), "refresh widened to {s}");
            }
        }
    }
});
