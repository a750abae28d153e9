//! Requests to the token endpoint (RFC 6749 §3.2, form-encoded; a public client names itself
//! with `client_id`, §2.3) and to the device authorization endpoint (RFC 8628 §3.1): the answer
//! or the OAuth error code, which the callers act on (`invalid_grant` ends a refresh,
//! `authorization_pending` continues a device poll).

use serde::Deserialize;

use crate::connect::error::ConnectError;

/// RFC 6749 §5.1.
#[derive(Deserialize)]
pub struct Answer {
    pub access_token: String,
    pub token_type: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// Why a request to an OAuth endpoint failed.
#[derive(Debug)]
pub enum Failure {
    /// The server's RFC 6749 §5.2 error code and description.
    OAuth { code: String, description: String },
    /// Anything else (unreachable, not JSON).
    Other(ConnectError),
}

impl Failure {
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::OAuth { code, .. } => Some(code),
            Failure::Other(_) => None,
        }
    }

    pub fn into_error(self, doing: &str) -> ConnectError {
        match self {
            Failure::OAuth { code, description } => {
                ConnectError::Login(format!("{doing}: {code}: {description}"))
            }
            Failure::Other(e) => e,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// POSTs `form` to `endpoint` and decodes a 200 as `T`, an error as its OAuth code.
pub async fn post<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> Result<T, Failure> {
    let resp = http
        .post(endpoint)
        .form(form)
        .send()
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| Failure::Other(e.into()))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            Failure::Other(ConnectError::Login(format!(
                "{endpoint}: not a valid answer: {e}"
            )))
        });
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => Err(Failure::OAuth {
            code: e.error,
            description: e.error_description.unwrap_or_default(),
        }),
        Err(_) => Err(Failure::Other(ConnectError::Status {
            status: status.as_u16(),
            detail: format!("{endpoint} answered without an OAuth error"),
        })),
    }
}

/// Checks a token answer (RFC 6749 §5.1: `token_type` is case-insensitive; we use only Bearer).
pub fn check(answer: Answer) -> Result<Answer, ConnectError> {
    if answer.token_type.eq_ignore_ascii_case("bearer") {
        Ok(answer)
    } else {
        Err(ConnectError::Login(format!(
            "unsupported token type {:?}",
            answer.token_type
        )))
    }
}
