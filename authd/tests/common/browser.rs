//! An OAuth client and a browser, driven over HTTP against the real pages: dynamic registration,
//! `/authorize` with PKCE, the upstream provider's real login form (the password is checked), its
//! consent, authd's `/callback` and consent form, then `/token`.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::html;
use super::{Stack, User};

/// The redirect URI of the test clients (never contacted: the browser stops at the redirect).
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An RFC 7636 verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let verifier = b64url(&rand::random::<[u8; 32]>());
        let challenge = b64url(&Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// A registered client, as `/register` answered.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
    pub registration: Value,
}

impl Client {
    /// The RFC 7592 management URI and registration access token.
    pub fn management(&self) -> (String, String) {
        let field = |name: &str| self.registration[name].as_str().unwrap().to_owned();
        (
            field("registration_client_uri"),
            field("registration_access_token"),
        )
    }
}

/// How a browser run ended.
#[derive(Debug)]
pub enum End {
    /// Redirected to the client's redirect URI (success or error response).
    Redirect(Url),
    /// A page that is neither a login, a consent nor a redirect (an error page).
    Page(u16, String),
}

impl End {
    pub fn redirect(self) -> Url {
        match self {
            End::Redirect(u) => u,
            End::Page(s, body) => panic!("expected a redirect to the client, got {s}: {body}"),
        }
    }

    pub fn param(url: &Url, name: &str) -> Option<String> {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Parameters of one `/authorize` request (all overridable by tests).
pub fn authorize_params(stack: &Stack, client: &Client, pkce: &Pkce) -> Vec<(String, String)> {
    [
        ("response_type", "code".to_owned()),
        ("client_id", client.id.clone()),
        ("redirect_uri", client.redirect_uri.clone()),
        ("code_challenge", pkce.challenge.clone()),
        ("code_challenge_method", "S256".to_owned()),
        ("state", "st-123".to_owned()),
        ("resource", stack.resource("memory")),
        ("scope", "mcp offline_access".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Replaces (or with `None` removes) one parameter.
pub fn set_param(params: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    params.retain(|(k, _)| k != name);
    if let Some(v) = value {
        params.push((name.to_owned(), v.to_owned()));
    }
}

/// A browser with its own cookie jar (the provider's session, authd's consent cookie).
pub struct Browser {
    pub http: reqwest::Client,
    /// Approve (true) or deny (false) authd's consent page.
    pub approve: bool,
    /// Deny (true) the upstream provider's consent instead of allowing it.
    pub deny_upstream: bool,
    /// Every HTML page shown on the way, in order (tests inspect the consent page).
    pub pages: std::sync::Mutex<Vec<String>>,
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap();
        Browser {
            http,
            approve: true,
            deny_upstream: false,
            pages: Default::default(),
        }
    }

    /// Opens `/authorize?params` and acts like the user `user` until the browser is sent to
    /// `stop_at` (the client's redirect URI) or lands on another page.
    pub async fn authorize(
        &self,
        stack: &Stack,
        params: &[(String, String)],
        user: &User,
        stop_at: &str,
    ) -> End {
        let mut url = Url::parse(&stack.url("/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        self.drive(url, user, stop_at).await
    }

    /// Follows redirects and fills the forms it recognises, for at most 30 steps.
    pub async fn drive(&self, start: Url, user: &User, stop_at: &str) -> End {
        let mut current = start;
        let mut resp = self.http.get(current.clone()).send().await.unwrap();
        let mut logins = 0;
        for _ in 0..30 {
            let status = resp.status().as_u16();
            if (300..400).contains(&status) {
                let loc = resp.headers().get("location").unwrap().to_str().unwrap();
                let next = current.join(loc).unwrap();
                if next.as_str().starts_with(stop_at) {
                    return End::Redirect(next);
                }
                current = next;
                resp = self.http.get(current.clone()).send().await.unwrap();
                continue;
            }
            let body = resp.text().await.unwrap();
            self.pages.lock().unwrap().push(body.clone());
            let Some((form, fields)) = self.fill(&body, user) else {
                return End::Page(status, body);
            };
            // The login form again means the password was refused: that is where a user stops.
            if fields.iter().any(|(k, _)| k == "password") {
                logins += 1;
                if logins > 1 {
                    return End::Page(status, body);
                }
            }
            let action = current.join(&form.action).unwrap();
            resp = if form.method == "post" {
                self.http
                    .post(action.clone())
                    .form(&fields)
                    .send()
                    .await
                    .unwrap()
            } else {
                self.http
                    .get(action.clone())
                    .query(&fields)
                    .send()
                    .await
                    .unwrap()
            };
            current = action;
        }
        panic!("browser: too many steps, last at {current}");
    }

    /// The form to submit on this page and its values, if the page is one the user acts on.
    fn fill(&self, body: &str, user: &User) -> Option<(html::Form, Vec<(String, String)>)> {
        let forms = html::forms(body);
        // The provider's login form: a real password check.
        if let Some(f) = forms.iter().find(|f| f.field("password").is_some()) {
            let fields = vec![
                ("login".to_owned(), user.login.to_owned()),
                ("password".to_owned(), user.password.to_owned()),
            ];
            return Some((f.clone(), fields));
        }
        // The provider's consent: its "confirm" (or "abort") form.
        let choice = if self.deny_upstream {
            "/abort"
        } else {
            "/confirm"
        };
        if let Some(f) = forms.iter().find(|f| f.action.ends_with(choice)) {
            return Some((f.clone(), Vec::new()));
        }
        // authd's consent: hidden fields (CSRF token) plus the approve or deny button.
        let f = forms.iter().find(|f| f.method == "post")?;
        let mut fields = f.fields.clone();
        let wanted: &[&str] = if self.approve {
            &["allow", "approve", "accept", "yes"]
        } else {
            &["deny", "reject", "cancel", "no"]
        };
        if let Some(b) = f.buttons.iter().find(|(n, v)| {
            wanted
                .iter()
                .any(|w| v.to_ascii_lowercase().contains(w) || n.to_ascii_lowercase().contains(w))
        }) {
            fields.push(b.clone());
        }
        Some((f.clone(), fields))
    }
}

impl Stack {
    /// `POST /register` with a JSON body.
    pub async fn register_raw(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/register"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a client with `auth_method` (`none`, `client_secret_basic`, `client_secret_post`).
    pub async fn register(&self, auth_method: &str) -> Client {
        let body = json!({
            "client_name": "integration test client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": auth_method,
        });
        let resp = self.register_raw(&body).await;
        assert_eq!(resp.status(), 201, "register");
        let registration: Value = resp.json().await.unwrap();
        Client {
            id: registration["client_id"].as_str().unwrap().to_owned(),
            secret: registration["client_secret"].as_str().map(str::to_owned),
            redirect_uri: REDIRECT_URI.to_owned(),
            registration,
        }
    }

    /// The full browser flow for `user`: returns our authorization code and its PKCE verifier.
    pub async fn code_for(&self, client: &Client, user: &User) -> (String, Pkce) {
        let pkce = Pkce::new();
        let params = authorize_params(self, client, &pkce);
        let url = Browser::new()
            .authorize(self, &params, user, &client.redirect_uri)
            .await
            .redirect();
        let code = End::param(&url, "code").unwrap_or_else(|| panic!("no code in {url}"));
        (code, pkce)
    }

    /// One complete authorization by `user` in a fresh browser; returns the pages it showed.
    pub async fn login_pages(&self, client: &Client, user: &User) -> Vec<String> {
        let params = authorize_params(self, client, &Pkce::new());
        let browser = Browser::new();
        let url = browser
            .authorize(self, &params, user, &client.redirect_uri)
            .await
            .redirect();
        assert!(End::param(&url, "code").is_some(), "no code in {url}");
        browser.pages.into_inner().unwrap()
    }

    /// `POST /token` with `form`, authenticating as `client` by its registered method.
    pub async fn token(&self, client: &Client, form: &[(&str, &str)]) -> reqwest::Response {
        self.token_at(&self.authd.base(), client, form).await
    }

    /// `POST /token` at the authd at `base` (a replica).
    pub async fn token_at(
        &self,
        base: &str,
        client: &Client,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let method = client.registration["token_endpoint_auth_method"]
            .as_str()
            .unwrap_or("none");
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let mut req = self.http.post(format!("{base}/token"));
        match (method, client.secret.as_deref()) {
            ("client_secret_basic", Some(secret)) => req = req.basic_auth(&client.id, Some(secret)),
            ("client_secret_post", Some(secret)) => {
                form.push(("client_id", &client.id));
                form.push(("client_secret", secret));
            }
            _ => form.push(("client_id", &client.id)),
        }
        req.form(&form).send().await.unwrap()
    }

    /// Redeems `code` (authorization_code grant).
    pub async fn redeem(&self, client: &Client, code: &str, pkce: &Pkce) -> reqwest::Response {
        let resource = self.resource("memory");
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", &pkce.verifier),
                ("resource", &resource),
            ],
        )
        .await
    }

    /// Register, log in as `user`, redeem: the token response JSON.
    pub async fn login(&self, client: &Client, user: &User) -> Value {
        let (code, pkce) = self.code_for(client, user).await;
        let resp = self.redeem(client, &code, &pkce).await;
        assert_eq!(resp.status(), 200, "token");
        resp.json().await.unwrap()
    }

    /// An RFC 7592 request on `client`'s management URI, with its registration access token
    /// (or `token` instead).
    pub async fn manage(
        &self,
        method: reqwest::Method,
        client: &Client,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let (uri, rat) = client.management();
        let mut req = self
            .http
            .request(method, uri)
            .bearer_auth(token.unwrap_or(&rat));
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    /// `refresh_token` grant.
    pub async fn refresh(&self, client: &Client, refresh_token: &str) -> reqwest::Response {
        self.token(
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }
}
