//! The parameters of a token request (RFC 6749 §4.1.3, §6; RFC 7636 §4.5; RFC 8707 §2.2; RFC 7523
//! §2.2; RFC 8628 §3.4), decoded from the form body by a pure function.

use std::collections::HashMap;

use crate::error::OAuthError;
use crate::oauth::client_auth::FormCredentials;
use crate::oauth::params;

/// Every parameter of the grants we support; absent ones are `None`.
#[derive(Debug, Default)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    /// RFC 8628 §3.4.
    pub device_code: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
    pub credentials: FormCredentials,
}

impl TokenForm {
    /// Takes the known parameters out of a decoded form; unknown ones are ignored.
    pub fn from_params(mut p: HashMap<String, String>) -> TokenForm {
        let credentials = FormCredentials::take(&mut p);
        let mut take = |name: &str| p.remove(name);
        TokenForm {
            grant_type: take("grant_type"),
            code: take("code"),
            redirect_uri: take("redirect_uri"),
            code_verifier: take("code_verifier"),
            refresh_token: take("refresh_token"),
            device_code: take("device_code"),
            scope: take("scope"),
            resource: take("resource"),
            credentials,
        }
    }

    /// Decodes a form body (repeated parameters are `invalid_request`). Pure, for fuzz targets.
    pub fn parse(body: &[u8]) -> Result<TokenForm, OAuthError> {
        params::parse(body)
            .map(TokenForm::from_params)
            .map_err(|params::Repeated(name)| {
                OAuthError::InvalidRequest(format!("parameter {name} is repeated"))
            })
    }
}
