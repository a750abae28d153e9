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
    Ok(Identity {
        id: format!("github:{}", user.id),
        name: user.login,
        email: user.email,
        orgs: orgs.into_iter().map(|o| o.login).collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn enterprise_and_dotcom_endpoints() {
        assert_eq!(
            endpoints("https://github.com").userinfo,
            "https://api.github.com/user"
        );
        let e = endpoints("https://ghe.example.com");
        assert_eq!(e.token, "https://ghe.example.com/login/oauth/access_token");
        assert_eq!(e.userinfo, "https://ghe.example.com/api/v3/user");
    }
}
