//! The device authorization grant (RFC 8628) end to end against the real authd, Redis and OpenID
//! Connect provider: codes, the verification page, the login and consent in a browser, polling
//! with every error of §3.5, single use, expiry, denial, allow lists and brute-force limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::{Browser, Client, End};
use common::device::DEVICE_GRANT;
use common::{ALICE, BOB, Stack, jwt};

/// A stack whose devices may poll every second (tests wait on the protocol, not on a clock).
async fn fast_stack(extra: &[(&str, &str)]) -> Stack {
    let mut settings = vec![("DEVICE_POLL_INTERVAL_SECS", "1")];
    settings.extend_from_slice(extra);
    Stack::with(&settings).await
}

fn error(body: &serde_json::Value) -> &str {
    body["error"].as_str().unwrap_or("")
}

#[tokio::test]
async fn metadata_advertises_the_device_endpoint_and_grant() {
    let stack = Stack::start().await;
    let m = stack
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    // RFC 8628 §4.
    assert_eq!(
        m["device_authorization_endpoint"],
        stack.url("/device_authorization").as_str()
    );
    let grants: Vec<&str> = m["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(grants.contains(&DEVICE_GRANT), "{grants:?}");
}

#[tokio::test]
async fn approved_device_gets_tokens_once() {
    let stack = fast_stack(&[]).await;
    let client = stack.register_device_client().await;
    let codes = stack.device_codes(&client, "memory").await;
    // RFC 8628 §3.2 and §6.1: a short code for people, the URI and the URI with the code.
    assert_eq!(codes.verification_uri, stack.url("/device"));
    assert!(
        codes
            .verification_uri_complete
            .starts_with(&format!("{}?user_code=", codes.verification_uri))
    );
    assert_eq!(codes.user_code.len(), 9, "{}", codes.raw);
    assert_eq!(codes.interval, 1);
    // §3.5: nobody answered yet.
    let (status, body) = stack.poll(&client, &codes.device_code).await;
    assert_eq!((status, error(&body)), (400, "authorization_pending"));
    // The complete URI fills the form in but never submits it (§3.3.1).
    let page = stack
        .http
        .get(&codes.verification_uri_complete)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("value=\"{}\"", codes.user_code)),
        "{html}"
    );
    // The user types the code in lower case without the dash; the consent page warns of
    // phishing even though it is shown for a client never approved before.
    let browser = Browser::new();
    let typed = codes.user_code.replace('-', "").to_lowercase();
    match stack.verify_device(&browser, &ALICE, &typed).await {
        End::Page(200, body) => assert!(body.contains("Device connected"), "{body}"),
        other => panic!("unexpected end: {other:?}"),
    }
    let pages = browser.pages.into_inner().unwrap();
    assert!(
        pages.iter().any(|p| p.contains("A device is asking")),
        "no device warning on the consent page"
    );
    let (status, t) = stack.poll_until_answered(&client, &codes).await;
    assert_eq!(status, 200, "{t}");
    let access = t["access_token"].as_str().unwrap();
    let claims = jwt::claims(access);
    assert_eq!(claims["aud"], stack.resource("memory").as_str());
    assert_eq!(claims["sub"], "oidc:alice");
    assert_eq!(claims["scope"], "mcp");
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);
    // A refresh token that rotates like any other.
    let r = t["refresh_token"].as_str().unwrap();
    assert_eq!(stack.refresh(&client, r).await.status(), 200);
    // Single use: a replay is refused and revokes what the code issued (as a replayed code does).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (status, body) = stack.poll(&client, &codes.device_code).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"), "{body}");
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 401);
    // The user code is spent too: the page refuses it.
    let again = stack.submit_user_code(&Browser::new(), &typed).await;
    assert_eq!(again.status(), 400);
    // Only hashes at rest: neither code appears in any key or value.
    let mut conn = stack.redis.conn();
    for key in stack.redis_keys() {
        let value: Option<String> = redis::cmd("GET").arg(&key).query(&mut conn).unwrap_or(None);
        let text = format!("{key} {}", value.unwrap_or_default());
        assert!(
            !text.contains(&codes.device_code),
            "device code at rest: {key}"
        );
        assert!(
            !text.contains(&codes.user_code.replace('-', "")),
            "user code at rest: {key}"
        );
    }
}

#[tokio::test]
async fn polling_faster_than_the_interval_is_slow_down() {
    // A long interval, so two polls in a row are always too fast however slow the machine.
    let stack = Stack::with(&[("DEVICE_POLL_INTERVAL_SECS", "60")]).await;
    let client = stack.register_device_client().await;
    let codes = stack.device_codes(&client, "fetch").await;
    assert_eq!(codes.interval, 60);
    let (_, first) = stack.poll(&client, &codes.device_code).await;
    assert_eq!(error(&first), "authorization_pending");
    let (status, second) = stack.poll(&client, &codes.device_code).await;
    assert_eq!((status, error(&second)), (400, "slow_down"));
}

/// The user ends the verification without approving: the page says `says`, the device hears
/// `access_denied` at its next poll.
async fn refused(stack: &Stack, browser: &Browser, user: &common::User, says: &str) {
    let client = stack.register_device_client().await;
    let codes = stack.device_codes(&client, "memory").await;
    match stack.verify_device(browser, user, &codes.user_code).await {
        End::Page(200, body) => assert!(body.contains(says), "{body}"),
        other => panic!("unexpected end: {other:?}"),
    }
    let (status, body) = stack.poll_until_answered(&client, &codes).await;
    assert_eq!((status, error(&body)), (400, "access_denied"));
}

#[tokio::test]
async fn denied_on_the_consent_page_is_access_denied() {
    let mut browser = Browser::new();
    browser.approve = false;
    refused(&fast_stack(&[]).await, &browser, &ALICE, "Access denied").await;
}

#[tokio::test]
async fn a_user_off_the_allow_list_is_access_denied() {
    let stack = fast_stack(&[("ALLOWED_EMAILS", ALICE.email)]).await;
    refused(&stack, &Browser::new(), &BOB, "not allowed").await;
}

#[tokio::test]
async fn an_expired_device_code_is_expired_token() {
    let stack = fast_stack(&[("DEVICE_CODE_TTL_SECS", "2")]).await;
    let client = stack.register_device_client().await;
    let codes = stack.device_codes(&client, "memory").await;
    let (status, body) = stack.poll_until_answered(&client, &codes).await;
    assert_eq!((status, error(&body)), (400, "expired_token"), "{body}");
    // The user code died with it: the page says so (and nothing redirects).
    let resp = stack
        .submit_user_code(&Browser::new(), &codes.user_code)
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("not valid"));
}

/// A device authorization request by a client, and the status and error it must get.
type Case<'a> = (&'a Client, Vec<(&'a str, &'a str)>, u16, &'a str);

#[tokio::test]
async fn device_requests_are_checked() {
    let stack = fast_stack(&[]).await;
    let device_client = stack.register_device_client().await;
    let plain = stack.register("none").await;
    let memory = stack.resource("memory");
    let cases: [Case; 4] = [
        // A client that did not register the grant (RFC 6749 §5.2 unauthorized_client).
        (
            &plain,
            vec![("resource", &memory)],
            400,
            "unauthorized_client",
        ),
        // RFC 8707 §2: the resource is required and must be one of ours.
        (&device_client, vec![], 400, "invalid_target"),
        (
            &device_client,
            vec![("resource", "https://elsewhere.example/mcp")],
            400,
            "invalid_target",
        ),
        // A repeated parameter (RFC 6749 §3.2).
        (
            &device_client,
            vec![("resource", &memory), ("resource", &memory)],
            400,
            "invalid_request",
        ),
    ];
    for (client, form, status, code) in cases {
        let resp = stack.device_authorization(client, &form).await;
        assert_eq!(resp.status(), status, "{form:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(error(&body), code, "{form:?}: {body}");
    }
    // An unknown client: 401 invalid_client.
    let resp = stack
        .http
        .post(stack.url("/device_authorization"))
        .form(&[("client_id", "nobody"), ("resource", &memory)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Polling: a device code of another client, an unknown one, none at all.
    let codes = stack.device_codes(&device_client, "memory").await;
    let other = stack.register_device_client().await;
    let (status, body) = stack.poll(&other, &codes.device_code).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    let (status, body) = stack.poll(&device_client, "no-such-code").await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    let resp = stack
        .token(&device_client, &[("grant_type", DEVICE_GRANT)])
        .await;
    assert_eq!(resp.status(), 400);
    // The page escapes what it shows back.
    let resp = stack
        .submit_user_code(&Browser::new(), "<script>alert(1)</script>")
        .await;
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn wrong_user_codes_are_limited_per_address() {
    let stack = fast_stack(&[("DEVICE_USER_CODE_ATTEMPTS", "3")]).await;
    let client = stack.register_device_client().await;
    let codes = stack.device_codes(&client, "memory").await;
    let browser = Browser::new();
    for _ in 0..3 {
        let resp = stack.submit_user_code(&browser, "BBBB-BBBB").await;
        assert_eq!(resp.status(), 400);
    }
    // RFC 8628 §5.1: after the limit even the right code is refused from this address.
    let resp = stack.submit_user_code(&browser, &codes.user_code).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
}
