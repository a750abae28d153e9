//! The device authorization grant (RFC 8628) as a device and a user do it: the device asks for
//! codes and polls `/token` at the interval it was given; the user opens the verification page in
//! a browser, enters the code, logs in at the provider's real form and answers authd's consent.

use serde_json::{Value, json};
use url::Url;

use super::browser::{Browser, Client, End, REDIRECT_URI};
use super::{Stack, User, html};

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What `/device_authorization` answered (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub struct Codes {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub interval: u64,
    pub raw: Value,
}

impl Stack {
    /// Registers a public client for the code, refresh and device grants (as `sidecar connect`).
    pub async fn register_device_client(&self) -> Client {
        let body = json!({
            "client_name": "device test client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token", DEVICE_GRANT],
            "token_endpoint_auth_method": "none",
        });
        let resp = self.register_raw(&body).await;
        assert_eq!(resp.status(), 201, "register");
        let registration: Value = resp.json().await.unwrap();
        Client {
            id: registration["client_id"].as_str().unwrap().to_owned(),
            secret: None,
            redirect_uri: REDIRECT_URI.to_owned(),
            registration,
        }
    }

    /// `POST /device_authorization` with `form` plus the client's id.
    pub async fn device_authorization(
        &self,
        client: &Client,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = form.to_vec();
        form.push(("client_id", &client.id));
        self.http
            .post(self.url("/device_authorization"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Device codes for `service`, checked against RFC 8628 §3.2.
    pub async fn device_codes(&self, client: &Client, service: &str) -> Codes {
        let resource = self.resource(service);
        let resp = self
            .device_authorization(client, &[("resource", &resource), ("scope", "mcp")])
            .await;
        assert_eq!(resp.status(), 200);
        assert!(super::header(&resp, "cache-control").contains("no-store"));
        let raw: Value = resp.json().await.unwrap();
        let s = |k: &str| {
            raw[k]
                .as_str()
                .unwrap_or_else(|| panic!("{k} in {raw}"))
                .to_owned()
        };
        assert!(raw["expires_in"].as_u64().is_some_and(|e| e > 0), "{raw}");
        Codes {
            device_code: s("device_code"),
            user_code: s("user_code"),
            verification_uri: s("verification_uri"),
            verification_uri_complete: s("verification_uri_complete"),
            interval: raw["interval"].as_u64().unwrap(),
            raw,
        }
    }

    /// One poll of `/token` with the device code: the status and the JSON body.
    pub async fn poll(&self, client: &Client, device_code: &str) -> (u16, Value) {
        let resp = self
            .token(
                client,
                &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
            )
            .await;
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// Polls as a device does (waiting `interval` seconds between polls, five more after a
    /// `slow_down`) until the answer is no longer `authorization_pending`; at most 60 polls.
    pub async fn poll_until_answered(&self, client: &Client, codes: &Codes) -> (u16, Value) {
        let mut interval = codes.interval;
        for _ in 0..60 {
            tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
            let (status, body) = self.poll(client, &codes.device_code).await;
            match body["error"].as_str() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += 5,
                _ => return (status, body),
            }
        }
        panic!("the device was never answered");
    }

    /// The user's part in `browser`: open the verification page, submit the code, log in as
    /// `user` and answer the consent page; returns how the browser run ended.
    pub async fn verify_device(&self, browser: &Browser, user: &User, typed_code: &str) -> End {
        let resp = self.submit_user_code(browser, typed_code).await;
        let status = resp.status().as_u16();
        if status != 302 {
            return End::Page(status, resp.text().await.unwrap());
        }
        let next = resp.headers()["location"].to_str().unwrap().to_owned();
        browser
            .drive(Url::parse(&next).unwrap(), user, "about:never")
            .await
    }

    /// `GET /device` then the form's `POST` with `typed_code` in the user code field.
    pub async fn submit_user_code(&self, browser: &Browser, typed_code: &str) -> reqwest::Response {
        let page = browser.http.get(self.url("/device")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let body = page.text().await.unwrap();
        let form = html::forms(&body).into_iter().next().expect("a form");
        assert_eq!(form.method, "post");
        assert!(form.field("user_code").is_some(), "{body}");
        let action = Url::parse(&self.url("/device"))
            .unwrap()
            .join(&form.action)
            .unwrap();
        browser
            .http
            .post(action)
            .form(&[("user_code", typed_code)])
            .send()
            .await
            .unwrap()
    }
}
