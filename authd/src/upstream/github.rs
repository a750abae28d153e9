//! GitHub upstream (github.com or GitHub Enterprise Server by base URL): OAuth App endpoints, the
//! user from `GET /user` and organisations from `GET /user/orgs`. User id `github:<numeric id>`.

use serde::Deserialize;

use super::{Endpoints, UpstreamError, get_json};
use crate::allow::Identity;

/// `read:org` so org allow lists can be checked; `user:email` for the email.
pub const SCOPES: &str = "read:user user:email read:org";

/// The API lives at api.github.com for github.com and at `<base>/api/v3` for Enterprise.
pub fn api_base(base_url: &str) -> String {
    match url::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    {
        Some(h) if h == "github.com" || h == "www.github.com" => "https://api.github.com".into(),
        _ => format!("{base_url}/api/v3"),
    }
}

pub fn endpoints(base_url: &str) -> Endpoints {
    Endpoints {
        authorize: format!("{base_url}/login/oauth/authorize"),
        token: format!("{base_url}/login/oauth/access_token"),
        userinfo: format!("{}/user", api_base(base_url)),
    }
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    email: Option<String>,
}

#[derive(Deserialize)]
struct Org {
    login: String,
}

pub async fn identity(
    http: &reqwest::Client,
    user_url: &str,
    token: &str,
) -> Result<Identity, UpstreamError> {
    let user: User = get_json(http, user_url, token).await?;
    let orgs: Vec<Org> = get_json(http, &format!("{user_url}/orgs"), token).await?;
    Ok(to_identity(user, orgs))
}

/// The numeric id is GitHub's stable key (a login can be renamed and then taken by someone else).
fn to_identity(user: User, orgs: Vec<Org>) -> Identity {
    Identity {
        id: format!("github:{}", user.id),
        name: user.login,
        email: user.email,
        orgs: orgs.into_iter().map(|o| o.login).collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn github_dot_com_endpoints() {
        let e = endpoints("https://github.com");
        assert_eq!(e.authorize, "https://github.com/login/oauth/authorize");
        assert_eq!(e.token, "https://github.com/login/oauth/access_token");
        assert_eq!(e.userinfo, "https://api.github.com/user");
        assert_eq!(api_base("https://www.github.com"), "https://api.github.com");
    }

    #[test]
    fn enterprise_endpoints_live_under_the_base_url() {
        let e = endpoints("https://ghe.example.com");
        assert_eq!(e.authorize, "https://ghe.example.com/login/oauth/authorize");
        assert_eq!(e.token, "https://ghe.example.com/login/oauth/access_token");
        assert_eq!(e.userinfo, "https://ghe.example.com/api/v3/user");
        // A host that merely contains github.com is an Enterprise server, not api.github.com.
        assert_eq!(
            api_base("https://github.com.evil.example"),
            "https://github.com.evil.example/api/v3"
        );
    }

    #[test]
    fn user_id_is_the_numeric_id_and_orgs_are_logins() {
        let user: User = serde_json::from_value(serde_json::json!({
            "id": 583231, "login": "octocat", "email": null, "name": "The Octocat"
        }))
        .unwrap();
        let orgs: Vec<Org> =
            serde_json::from_value(serde_json::json!([{"login": "github", "id": 1}])).unwrap();
        let who = to_identity(user, orgs);
        assert_eq!(who.id, "github:583231");
        assert_eq!(who.name, "octocat");
        assert_eq!(who.email, None);
        assert_eq!(who.orgs, vec!["github".to_owned()]);
    }
}
