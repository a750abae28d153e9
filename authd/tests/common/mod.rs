//! Shared harness of authd's black-box integration tests: a real throwaway `redis-server`, the real
//! development OpenID Connect provider (`tests/oidc/provider.mjs`, oidc-provider from npm) and the
//! real `authd` binary, talked to over HTTP only. Nothing is mocked.
//!
//! Every test binary compiles this module and uses a different part of it, hence `dead_code` allowed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod device;
pub mod docs;
pub mod html;
pub mod jwt;
pub mod process;
pub mod sentinel;

use std::time::Duration;

use base64::Engine;
pub use process::{ALICE, BOB, User};
use process::{Authd, Idp, Redis, Scratch, UPSTREAM_CLIENT_ID, UPSTREAM_CLIENT_SECRET};

/// The MCP services every test stack configures (path routing: `${PUBLIC_URL}/<name>/mcp`).
pub const SERVICES: [&str; 2] = ["memory", "fetch"];

/// Redis, the upstream provider and authd, for one test. Fields drop in order: authd first.
pub struct Stack {
    pub authd: Authd,
    pub idp: Idp,
    pub redis: Redis,
    /// The settings authd runs with (restart with changes via [`Stack::restart_authd`]).
    pub env: Vec<(String, String)>,
    /// The PEM of authd's signing key (tests sign forgeries and odd-time tokens with it).
    pub key_pem: String,
    /// A plain client: no cookies, no redirects followed.
    pub http: reqwest::Client,
    pub scratch: Scratch,
}

impl Stack {
    /// The default stack: every user of the provider is on the allow list.
    pub async fn start() -> Stack {
        Stack::with(&[]).await
    }

    /// A stack whose authd settings are the defaults with `overrides` applied.
    pub async fn with(overrides: &[(&str, &str)]) -> Stack {
        let scratch = Scratch::new();
        let redis = Redis::start(&scratch.0);
        let mut authd = Authd::new(&scratch.0);
        let port = authd.port;
        let idp = Idp::start(&scratch.0, &format!("{}/callback", authd.base()));
        let key_line = process::authd_cli(&scratch.0, &[], &["keygen"]);
        let key_b64 = key_line
            .trim()
            .strip_prefix("JWT_PRIVATE_KEY=")
            .unwrap()
            .to_owned();
        let key_pem = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&key_b64)
                .unwrap(),
        )
        .unwrap();
        let mut env: Vec<(String, String)> = [
            ("AUTHD_LISTEN", format!("127.0.0.1:{port}")),
            ("MCP_SERVICES", SERVICES.join(",")),
            ("ROUTING", "path".into()),
            ("PUBLIC_URL", authd.base()),
            ("REDIS_URL", redis.url()),
            ("JWT_PRIVATE_KEY", key_b64),
            ("UPSTREAM", "oidc".into()),
            ("OIDC_ISSUER", idp.issuer.clone()),
            ("OIDC_CLIENT_ID", UPSTREAM_CLIENT_ID.into()),
            ("OIDC_CLIENT_SECRET", UPSTREAM_CLIENT_SECRET.into()),
            ("ALLOWED_EMAILS", format!("{},{}", ALICE.email, BOB.email)),
            ("LOG_LEVEL", "debug".into()),
            ("LOG_FORMAT", "json".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        set_all(&mut env, overrides);
        authd.start(&env);
        let http = plain_client();
        Stack {
            authd,
            idp,
            redis,
            env,
            key_pem,
            http,
            scratch,
        }
    }

    /// Restarts authd (same port, Redis and key) with `overrides` applied to its settings.
    pub fn restart_authd(&mut self, overrides: &[(&str, &str)]) {
        self.restart_authd_until(overrides, b"HTTP/1.1 2");
    }

    /// The same, for settings that leave authd without Redis: waits until `/health` says 503.
    pub fn restart_authd_without_redis(&mut self, overrides: &[(&str, &str)]) {
        self.restart_authd_until(overrides, b"HTTP/1.1 503");
    }

    fn restart_authd_until(&mut self, overrides: &[(&str, &str)], status: &[u8]) {
        set_all(&mut self.env, overrides);
        self.authd.start_until(&self.env, status);
        // Pooled keep-alive connections went to the old process.
        self.http = plain_client();
    }

    /// Runs an admin subcommand with authd's settings; returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        process::authd_cli(&self.scratch.0, &self.env, args)
    }

    /// The issuer (path routing: `PUBLIC_URL`), also the base URL of every authd route.
    pub fn issuer(&self) -> String {
        self.authd.base()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.authd.base())
    }

    /// The resource URL of a configured service.
    pub fn resource(&self, service: &str) -> String {
        format!("{}/{service}/mcp", self.authd.base())
    }

    /// An access token minted by the admin CLI for `user` and `service`.
    pub fn mint(&self, user: &str, service: &str, extra: &[&str]) -> String {
        let resource = self.resource(service);
        let mut args = vec!["token", "mint", "--user", user, "--resource", &resource];
        args.extend_from_slice(extra);
        self.cli(&args).trim().to_owned()
    }

    /// A real token for alice on `memory` (minted by the CLI), its claims and the key id of
    /// authd's key.
    pub fn real_token(&self) -> (String, serde_json::Value, String) {
        let token = self.mint(
            "oidc:alice",
            "memory",
            &["--email", ALICE.email, "--name", "alice"],
        );
        let claims = jwt::claims(&token);
        let kid = jwt::header(&token)["kid"].as_str().unwrap().to_owned();
        (token, claims, kid)
    }

    /// The path-suffixed protected-resource metadata URL of a service (RFC 9728 §3.1).
    pub fn prm_url(&self, service: &str) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource/{service}/mcp",
            self.issuer()
        )
    }

    /// A request to `/verify` carrying what the edge forwards (proto, host, URI; no token yet).
    pub fn forwarded(
        &self,
        method: reqwest::Method,
        proto: &str,
        host: &str,
        uri: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url("/verify"))
            .header("X-Forwarded-Proto", proto)
            .header("X-Forwarded-Host", host)
            .header("X-Forwarded-Uri", uri)
    }

    /// The host the edge forwards in path routing (the issuer's).
    pub fn own_host(&self) -> String {
        format!("127.0.0.1:{}", self.authd.port)
    }

    /// `GET /verify` as the edge sends it for `service`'s MCP endpoint.
    pub async fn verify(&self, service: &str, token: Option<&str>) -> reqwest::Response {
        self.verify_at(&self.authd.base(), service, token).await
    }

    /// `GET /verify` as the edge sends it for `service`, to the authd at `base` (a replica).
    pub async fn verify_at(
        &self,
        base: &str,
        service: &str,
        token: Option<&str>,
    ) -> reqwest::Response {
        let uri = format!("/{service}/mcp");
        let mut req = self
            .http
            .get(format!("{base}/verify"))
            .header("X-Forwarded-Proto", "http")
            .header("X-Forwarded-Host", self.own_host())
            .header("X-Forwarded-Uri", &uri)
            .header("X-Forwarded-Method", "POST");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `GET path` answered 200 with JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.unwrap()
    }

    /// Keys stored in Redis (to check what authd keeps and for how long).
    pub fn redis_keys(&self) -> Vec<String> {
        let mut c = self.redis.conn();
        redis::cmd("KEYS").arg("*").query(&mut c).unwrap()
    }
}

pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

fn set_all(env: &mut Vec<(String, String)>, overrides: &[(&str, &str)]) {
    for (k, v) in overrides {
        env.retain(|(name, _)| name != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
}

/// Asserts a header's value (case-insensitive name), with a readable message.
pub fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} header in {:?}", resp.headers()))
}

/// `/verify` for `token` answered `allowed`, or 503 with `Retry-After` (Redis unreachable).
pub async fn verify_or_unavailable(stack: &Stack, token: &str, allowed: u16) -> u16 {
    let resp = stack.verify("memory", Some(token)).await;
    let status = resp.status().as_u16();
    assert!(
        status == allowed || status == 503,
        "/verify gave {status}, only {allowed} or 503 is right"
    );
    if status == 503 {
        assert_eq!(header(&resp, "retry-after"), "1");
    }
    status
}
