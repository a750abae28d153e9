//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9), as
//! ChatGPT uses it (client requirement C4 of docs/architecture/client-requirements.md): the
//! client's Client ID Metadata Document names a `jwks_uri`, authd fetches the keys through its SSRF
//! guard and verifies a signed assertion at `/token`, `/revoke` and `/introspect`, each `jti` once,
//! `aud` naming authd. Documents and keys are served for real on loopback (the test-only switch
//! lets authd fetch them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use authd::oauth::client_assertion::ASSERTION_TYPE;
use common::browser::{Client, REDIRECT_URI};
use common::docs::DocServer;
use common::{ALICE, Stack, header};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SWITCH: (&str, &str) = ("CIMD_ALLOW_INSECURE_LOOPBACK_FOR_TESTS_ONLY", "true");

/// A client's signing key.
struct Key {
    key: EncodingKey,
    alg: Algorithm,
    kid: String,
}

impl Key {
    fn rsa(kid: &str) -> Key {
        let pem = authd::token::keys::generate_pem().unwrap();
        Key {
            key: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            alg: Algorithm::RS256,
            kid: kid.into(),
        }
    }

    fn ec(kid: &str) -> Key {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Key {
            key: EncodingKey::from_ec_der(der.as_ref()),
            alg: Algorithm::ES256,
            kid: kid.into(),
        }
    }

    fn jwks(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.key).unwrap()
    }
}

/// A client publishing its document and its keys (`keys` can be swapped: rotation).
struct Published {
    server: DocServer,
    keys: Arc<Mutex<Value>>,
}

impl Published {
    fn start(key: &Key) -> Published {
        let keys = Arc::new(Mutex::new(key.jwks()));
        let served = keys.clone();
        let server = DocServer::start(move |path, base| match path {
            "/client.json" => Some(
                json!({
                    "client_id": format!("{base}/client.json"),
                    "client_name": "private_key_jwt client",
                    "redirect_uris": [REDIRECT_URI],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks_uri": format!("{base}/jwks.json"),
                })
                .to_string(),
            ),
            "/jwks.json" => Some(served.lock().unwrap().to_string()),
            _ => None,
        });
        Published { server, keys }
    }

    fn client(&self) -> Client {
        Client {
            id: self.server.url.clone(),
            secret: None,
            redirect_uri: REDIRECT_URI.into(),
            registration: json!({"token_endpoint_auth_method": "private_key_jwt"}),
        }
    }
}

fn now() -> i64 {
    common::jwt::now()
}

/// RFC 7523 §3 claims of an assertion by `client_id` for `aud`.
fn claims(client_id: &str, aud: &str) -> Value {
    json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now(), "exp": now() + 120,
        "jti": common::browser::b64url(&rand::random::<[u8; 16]>())})
}

/// `POST path` with `form` plus the assertion (and `client_id` when given).
async fn post(
    stack: &Stack,
    path: &str,
    form: &[(&str, &str)],
    client_id: Option<&str>,
    assertion: &str,
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("client_assertion_type", ASSERTION_TYPE));
    form.push(("client_assertion", assertion));
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    stack
        .http
        .post(stack.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The form of an authorization-code grant for a fresh code of `client` (the browser flow).
async fn fresh_code_form(stack: &Stack, client: &Client) -> Vec<(String, String)> {
    let (code, pkce) = stack.code_for(client, &ALICE).await;
    [
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("code_verifier", pkce.verifier),
        ("resource", stack.resource("memory")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A fresh code redeemed with an assertion `key` signs for authd's issuer.
async fn redeem(stack: &Stack, client: &Client, key: &Key) -> reqwest::Response {
    let form = fresh_code_form(stack, client).await;
    let assertion = key.sign(&claims(&client.id, &stack.issuer()));
    post(stack, "/token", &pairs(&form), Some(&client.id), &assertion).await
}

async fn assert_invalid_client(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status(), 401, "{what}");
    assert!(!header(&resp, "www-authenticate").is_empty(), "{what}");
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client", "{what}: {e}");
}

#[tokio::test]
async fn complete_flow_with_an_assertion_at_token_refresh_and_introspect() {
    let stack = Stack::with(&[SWITCH]).await;
    let key = Key::rsa("k1");
    let published = Published::start(&key);
    let client = published.client();
    let issuer = stack.issuer();
    let resp = redeem(&stack, &client, &key).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(stack.verify("memory", Some(access)).await.status(), 200);
    // RFC 7523 §3: the token endpoint URL names authd too, and `client_id` may be left out.
    let token_endpoint = stack.url("/token");
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    let resp = post(
        &stack,
        "/token",
        &refresh,
        None,
        &key.sign(&claims(&client.id, &token_endpoint)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = post(
        &stack,
        "/introspect",
        &[("token", access)],
        Some(&client.id),
        &key.sign(&claims(&client.id, &issuer)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["active"], true);
}

/// Every refused assertion is 401 `invalid_client`, and a refused request leaves the code usable.
#[tokio::test]
async fn bad_assertions_are_invalid_client_and_consume_nothing() {
    let stack = Stack::with(&[SWITCH]).await;
    let key = Key::rsa("k1");
    let published = Published::start(&key);
    let client = published.client();
    let owned = fresh_code_form(&stack, &client).await;
    let form = pairs(&owned);
    let iss = stack.issuer();
    let id = client.id.as_str();
    let with = |k: &str, v: Value| {
        let mut c = claims(id, &iss);
        c[k] = v;
        c
    };
    let replayed = key.sign(&claims(id, &iss));
    let bad: Vec<(&str, String)> = vec![
        (
            "audience of another server",
            key.sign(&with("aud", json!("https://other.example"))),
        ),
        ("expired", key.sign(&with("exp", json!(now() - 300)))),
        (
            "lives for a day",
            key.sign(&with("exp", json!(now() + 86_400))),
        ),
        (
            "issuer is not the client",
            key.sign(&with("iss", json!("https://evil.example/c.json"))),
        ),
        ("no jti", key.sign(&with("jti", json!(null)))),
        (
            "signed by another key",
            Key::rsa("k1").sign(&claims(id, &iss)),
        ),
        (
            "kid the client never published",
            Key::rsa("k9").sign(&claims(id, &iss)),
        ),
    ];
    for (what, assertion) in &bad {
        assert_invalid_client(
            post(&stack, "/token", &form, Some(id), assertion).await,
            what,
        )
        .await;
    }
    // The client must use its registered method: no assertion, or a secret, is refused.
    let mut plain = form.clone();
    plain.push(("client_id", id));
    let resp = stack
        .http
        .post(stack.url("/token"))
        .form(&plain)
        .send()
        .await
        .unwrap();
    assert_invalid_client(resp, "client_id alone").await;
    // The code survived every failed attempt; the first use of an assertion works, a replay not.
    let resp = post(&stack, "/token", &form, Some(id), &replayed).await;
    assert_eq!(resp.status(), 200);
    let owned = fresh_code_form(&stack, &client).await;
    let form = pairs(&owned);
    assert_invalid_client(
        post(&stack, "/token", &form, Some(id), &replayed).await,
        "replayed jti",
    )
    .await;
    let resp = post(
        &stack,
        "/token",
        &form,
        Some(id),
        &key.sign(&claims(id, &iss)),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

/// A key the cached set does not hold makes one fresh fetch: the client rotated its keys.
#[tokio::test]
async fn rotated_keys_are_fetched_again_and_ec_keys_work() {
    let stack = Stack::with(&[SWITCH]).await;
    let old = Key::rsa("old");
    let published = Published::start(&old);
    let client = published.client();
    assert_eq!(redeem(&stack, &client, &old).await.status(), 200);
    let new = Key::ec("new");
    *published.keys.lock().unwrap() = new.jwks();
    assert_eq!(redeem(&stack, &client, &new).await.status(), 200);
}

/// Dynamic registration: `private_key_jwt` is honoured with a `jwks_uri` (no secret issued) and
/// refused without one.
#[tokio::test]
async fn registered_clients_may_use_private_key_jwt() {
    let stack = Stack::with(&[SWITCH]).await;
    let key = Key::rsa("k1");
    let published = Published::start(&key);
    let no_keys =
        json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt"});
    let resp = stack.register_raw(&no_keys).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
    let mut body = no_keys.clone();
    body["jwks_uri"] = json!(format!("{}/jwks.json", published.server.base));
    let resp = stack.register_raw(&body).await;
    assert_eq!(resp.status(), 201);
    let r: Value = resp.json().await.unwrap();
    assert!(r.get("client_secret").is_none(), "{r}");
    assert_eq!(r["token_endpoint_auth_method"], "private_key_jwt");
    let client = Client {
        id: r["client_id"].as_str().unwrap().to_owned(),
        secret: None,
        redirect_uri: REDIRECT_URI.into(),
        registration: r,
    };
    assert_eq!(redeem(&stack, &client, &key).await.status(), 200);
}

/// The key set is fetched through the SSRF guard: a document (here an operator-pinned copy)
/// pointing `jwks_uri` at a loopback address gets no fetch at all, and the client no token.
#[tokio::test]
async fn jwks_uri_on_a_private_address_is_never_fetched() {
    let key = Key::rsa("k1");
    let keys_server = DocServer::start({
        let jwks = key.jwks().to_string();
        move |_, _| Some(jwks.clone())
    });
    let scratch = common::process::Scratch::new();
    let id = "https://chat.example.invalid/client.json";
    let doc = json!({"client_id": id, "client_name": "pinned", "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": format!("{}/jwks.json", keys_server.base)});
    std::fs::write(scratch.0.join("chat.json"), doc.to_string()).unwrap();
    let stack = Stack::with(&[("CIMD_PINNED_DIR", scratch.0.to_str().unwrap())]).await;
    let client = Client {
        id: id.into(),
        secret: None,
        redirect_uri: REDIRECT_URI.into(),
        registration: json!({"token_endpoint_auth_method": "private_key_jwt"}),
    };
    assert_invalid_client(redeem(&stack, &client, &key).await, "jwks_uri on loopback").await;
    assert_eq!(
        keys_server.hits(),
        0,
        "the SSRF guard let a loopback fetch through"
    );
}
