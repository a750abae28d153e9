//! The `prompt` parameter of an authorization request, with the semantics of OpenID Connect Core
//! §3.1.2.1, which MCP clients use (mcp-remote sends `prompt=consent`): `none` shows no page at
//! all and answers `login_required` or `consent_required` when the request cannot complete
//! silently; `login` asks the upstream provider for a fresh login; `consent` always shows our
//! consent page, even when the user's consent is remembered; `select_account` asks the provider
//! for its account chooser. Unknown values are ignored (like unknown scopes, client requirement Z2
//! of docs/architecture/client-requirements.md).

use serde::{Deserialize, Serialize};

use crate::config::UpstreamConfig;
use crate::error::AuthorizeError;

/// The requested prompts (an absent parameter is all false).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

impl Prompt {
    /// Parses the space-separated list. OpenID Connect Core §3.1.2.1: `none` together with any
    /// other value is an error. Pure, so fuzz targets can call it.
    pub fn parse(raw: Option<&str>) -> Result<Prompt, AuthorizeError> {
        let mut p = Prompt::default();
        for value in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => p.select_account = true,
                _ => {}
            }
        }
        if p.none && (p.login || p.consent || p.select_account) {
            return Err(AuthorizeError::InvalidRequest(
                "prompt=none cannot be combined with other prompt values".into(),
            ));
        }
        Ok(p)
    }

    /// The `prompt` to send the upstream provider: `none`, `login` and `select_account` go to an
    /// OpenID provider as they are (`consent` is ours: authd's own consent page). GitHub knows
    /// only `select_account` (its account chooser, the nearest it has to a fresh login) and has
    /// no silent mode, so `none` there is `login_required` at once. Pure.
    pub fn upstream(self, cfg: &UpstreamConfig) -> Result<Option<&'static str>, AuthorizeError> {
        match cfg {
            UpstreamConfig::Oidc { .. } => Ok(match (self.none, self.login, self.select_account) {
                (true, _, _) => Some("none"),
                (false, true, true) => Some("login select_account"),
                (false, true, false) => Some("login"),
                (false, false, true) => Some("select_account"),
                (false, false, false) => None,
            }),
            UpstreamConfig::Github { .. } if self.none => Err(AuthorizeError::LoginRequired(
                "GitHub cannot log a user in without showing a page".into(),
            )),
            UpstreamConfig::Github { .. } => {
                Ok((self.login || self.select_account).then_some("select_account"))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn what_the_upstream_provider_is_asked() {
        let oidc = UpstreamConfig::Oidc {
            issuer: "https://idp.example".into(),
            client_id: "c".into(),
            client_secret: String::new().into(),
            scopes: "openid".into(),
        };
        let github = UpstreamConfig::Github {
            client_id: "c".into(),
            client_secret: String::new().into(),
            base_url: "https://github.com".into(),
        };
        let p = |s: &str| Prompt::parse(Some(s)).unwrap();
        assert_eq!(p("none").upstream(&oidc).unwrap(), Some("none"));
        assert_eq!(p("login").upstream(&oidc).unwrap(), Some("login"));
        assert_eq!(p("consent").upstream(&oidc).unwrap(), None);
        assert_eq!(
            p("login select_account").upstream(&oidc).unwrap(),
            Some("login select_account")
        );
        assert!(matches!(
            p("none").upstream(&github),
            Err(AuthorizeError::LoginRequired(_))
        ));
        assert_eq!(
            p("login").upstream(&github).unwrap(),
            Some("select_account")
        );
        assert_eq!(p("consent").upstream(&github).unwrap(), None);
    }

    #[test]
    fn values_and_the_none_rule() {
        assert_eq!(Prompt::parse(None).unwrap(), Prompt::default());
        assert_eq!(Prompt::parse(Some("")).unwrap(), Prompt::default());
        let p = Prompt::parse(Some("login  consent")).unwrap();
        assert!(p.login && p.consent && !p.none && !p.select_account);
        assert!(Prompt::parse(Some("none")).unwrap().none);
        assert_eq!(
            Prompt::parse(Some("something_new")).unwrap(),
            Prompt::default()
        );
        for bad in ["none login", "consent none", "none select_account"] {
            assert!(
                matches!(
                    Prompt::parse(Some(bad)),
                    Err(AuthorizeError::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
    }
}
