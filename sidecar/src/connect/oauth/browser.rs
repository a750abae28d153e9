//! Login in a browser (OAuth 2.1 §4.1, RFC 8252 for native apps): the authorization request with
//! PKCE S256, `state` and `resource` (RFC 8707), opened in the system browser (or printed), and
//! the answer received on a loopback port (RFC 8252 §7.3). Only a callback with our `state` is
//! taken (anything else is answered and ignored: a forged redirect cannot end the login), and its
//! `iss` must name our issuer (RFC 9207 §2.4; required when the server advertises it).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use url::Url;

use super::discovery::Discovered;
use super::pkce;
use super::token::{self, Answer};
use crate::connect::error::ConnectError;

fn login(what: impl Into<String>) -> ConnectError {
    ConnectError::Login(what.into())
}

/// The authorization request URL (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2.1).
pub fn authorization_url(
    d: &Discovered,
    client_id: &str,
    redirect_uri: &str,
    challenge: &str,
    state: &str,
) -> Result<Url, ConnectError> {
    let endpoint = d
        .meta
        .authorization_endpoint
        .as_deref()
        .ok_or_else(|| login("the authorization server has no authorization endpoint"))?;
    let mut url =
        Url::parse(endpoint).map_err(|e| login(format!("authorization endpoint: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state)
        .append_pair("resource", &d.resource)
        .append_pair("scope", &d.scope);
    Ok(url)
}

/// What came back to the redirect URI, checked: the code, or the server's error.
pub fn check_callback(
    q: &HashMap<String, String>,
    issuer: &str,
    iss_required: bool,
) -> Result<String, ConnectError> {
    match q.get("iss") {
        Some(iss) if iss != issuer => {
            return Err(login(format!(
                "the answer came from {iss:?}, not {issuer:?} (RFC 9207)"
            )));
        }
        None if iss_required => return Err(login("the answer names no issuer (RFC 9207)")),
        _ => {}
    }
    if let Some(error) = q.get("error") {
        let description = q.get("error_description").map_or("", String::as_str);
        return Err(login(format!("{error}: {description}")));
    }
    q.get("code")
        .cloned()
        .ok_or_else(|| login("the answer carries neither code nor error"))
}

const DONE_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>sidecar connect\
</title></head><body><h1>Done</h1><p>You can close this window and return to your application.\
</p></body></html>";

fn page(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// Whether and how to open the browser.
pub struct Opener<'a> {
    pub open: bool,
    /// Variables the browser must not inherit.
    pub hidden_env: &'a [std::ffi::OsString],
}

/// Opens `url` in the user's browser: `$BROWSER` when set (as most Unix tools do), else the
/// desktop's opener. Its output never reaches our stdout, which belongs to the MCP client.
fn open(url: &str, hidden_env: &[std::ffi::OsString]) {
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            }
            .to_owned()
        });
    let mut cmd = std::process::Command::new(&opener);
    for name in hidden_env {
        cmd.env_remove(name);
    }
    let spawned = cmd
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("sidecar connect: could not start {opener} ({e}); open the URL above yourself");
    }
}

/// The whole browser login: the answer of the token endpoint.
pub async fn login_in_browser(
    http: &reqwest::Client,
    d: &Discovered,
    client_id: &str,
    opener: &Opener<'_>,
    timeout: Duration,
) -> Result<Answer, ConnectError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| login(format!("cannot listen on loopback: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| login(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let verifier = pkce::random();
    let state = pkce::random();
    let url = authorization_url(
        d,
        client_id,
        &redirect_uri,
        &pkce::challenge(&verifier),
        &state,
    )?;
    eprintln!("sidecar connect: log in at {url}");
    if opener.open {
        open(url.as_str(), opener.hidden_env);
    }
    let (tx, mut rx) = mpsc::channel::<HashMap<String, String>>(1);
    let expected = state.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (tx, expected) = (tx.clone(), expected.clone());
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (tx, expected) = (tx.clone(), expected.clone());
                async move {
                    let q: HashMap<String, String> =
                        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                            .into_owned()
                            .collect();
                    let ours = req.uri().path() == "/callback"
                        && q.get("state").is_some_and(|s| *s == expected);
                    if !ours {
                        return Ok::<_, Infallible>(page(StatusCode::BAD_REQUEST, "not expected"));
                    }
                    let _ = tx.send(q).await;
                    Ok(page(StatusCode::OK, DONE_PAGE))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let answer = tokio::time::timeout(timeout, rx.recv()).await;
    server.abort();
    let q = answer
        .map_err(|_| login("no answer from the browser in time"))?
        .ok_or_else(|| login("the callback listener stopped"))?;
    let code = check_callback(
        &q,
        &d.meta.issuer,
        d.meta.authorization_response_iss_parameter_supported,
    )?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
        ("client_id", client_id),
        ("resource", d.resource.as_str()),
    ];
    let answer = token::post::<Answer>(http, &d.meta.token_endpoint, &form)
        .await
        .map_err(|f| f.into_error("code exchange"))?;
    token::check(answer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn callbacks_are_checked() {
        let iss = "https://auth.example";
        assert_eq!(
            check_callback(&q(&[("code", "c"), ("iss", iss)]), iss, true).unwrap(),
            "c"
        );
        assert!(check_callback(&q(&[("code", "c")]), iss, true).is_err());
        assert!(check_callback(&q(&[("code", "c")]), iss, false).is_ok());
        assert!(check_callback(&q(&[("code", "c"), ("iss", "https://evil")]), iss, false).is_err());
        let denied = check_callback(&q(&[("error", "access_denied"), ("iss", iss)]), iss, true);
        assert!(denied.unwrap_err().to_string().contains("access_denied"));
    }
}
