//! Login with a device code (RFC 8628): ask for codes, tell the user where to enter theirs (on
//! stderr: stdout belongs to the MCP client), then poll the token endpoint at the interval given,
//! five seconds slower after each `slow_down` (§3.5), until tokens or a final error.

use std::time::Duration;

use serde::Deserialize;

use super::discovery::Discovered;
use super::register::DEVICE_GRANT;
use super::token::{self, Answer};
use crate::connect::error::ConnectError;

#[derive(Deserialize)]
struct Codes {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

pub async fn login(
    http: &reqwest::Client,
    d: &Discovered,
    client_id: &str,
    timeout: Duration,
) -> Result<Answer, ConnectError> {
    let endpoint = d
        .meta
        .device_authorization_endpoint
        .as_deref()
        .ok_or_else(|| {
            ConnectError::Login("the authorization server offers no device login".into())
        })?;
    let form = [
        ("client_id", client_id),
        ("resource", d.resource.as_str()),
        ("scope", d.scope.as_str()),
    ];
    let codes: Codes = token::post(http, endpoint, &form)
        .await
        .map_err(|f| f.into_error("device authorization"))?;
    eprintln!(
        "sidecar connect: to log in, open {} and enter the code {}",
        codes.verification_uri, codes.user_code
    );
    if let Some(complete) = &codes.verification_uri_complete {
        eprintln!("sidecar connect: or open {complete}");
    }
    // RFC 8628 §3.2: 5 seconds when the server names no interval.
    let mut interval = codes.interval.unwrap_or(5);
    let deadline = tokio::time::Instant::now()
        + timeout.min(Duration::from_secs(codes.expires_in.saturating_add(5)));
    let poll = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", codes.device_code.as_str()),
        ("client_id", client_id),
    ];
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() > deadline {
            return Err(ConnectError::Login("the device code expired unused".into()));
        }
        match token::post::<Answer>(http, &d.meta.token_endpoint, &poll).await {
            Ok(answer) => return token::check(answer),
            Err(f) => match f.code() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += 5,
                _ => return Err(f.into_error("device login")),
            },
        }
    }
}
