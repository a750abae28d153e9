//! Allow lists (docs/architecture/security.md#users-consent-and-allow-lists): who may log in and
//! use which service. Pure decisions, checked at login, at refresh and at every `/verify`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// What we know about a user from the upstream provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    /// `<provider>:<stable id>`.
    pub id: String,
    /// Login or preferred user name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orgs: Vec<String>,
}

/// One set of lists; a user matches when any entry of any list matches.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    users: Vec<String>,
    emails: Vec<String>,
    domains: Vec<String>,
    orgs: Vec<String>,
}

impl AllowList {
    pub fn new(
        users: Vec<String>,
        emails: Vec<String>,
        domains: Vec<String>,
        orgs: Vec<String>,
    ) -> Self {
        let lower = |v: Vec<String>| v.into_iter().map(|s| s.to_ascii_lowercase()).collect();
        AllowList {
            users,
            emails: lower(emails),
            domains: lower(domains),
            orgs: lower(orgs),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.emails.is_empty()
            && self.domains.is_empty()
            && self.orgs.is_empty()
    }

    pub fn matches(&self, who: &Identity) -> bool {
        let email = who.email.as_deref().map(str::to_ascii_lowercase);
        let domain = email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d);
        self.users
            .iter()
            .any(|u| *u == who.id || u.eq_ignore_ascii_case(&who.name))
            || email.as_ref().is_some_and(|e| self.emails.contains(e))
            || domain.is_some_and(|d| self.domains.iter().any(|x| x == d))
            || who
                .orgs
                .iter()
                .any(|o| self.orgs.contains(&o.to_ascii_lowercase()))
    }
}

/// The global list plus optional per-service lists.
#[derive(Debug, Clone, Default)]
pub struct AllowPolicy {
    /// `ALLOW_ALL_USERS=true`: the global list is not consulted.
    pub all: bool,
    pub global: AllowList,
    pub per_service: HashMap<String, AllowList>,
}

impl AllowPolicy {
    /// May this user log in at all?
    pub fn may_login(&self, who: &Identity) -> bool {
        self.all || self.global.matches(who)
    }

    /// Everyone may use this service (no list to consult: the hot path skips building an identity).
    pub fn is_open(&self, service: &str) -> bool {
        self.all && !self.per_service.contains_key(service)
    }

    /// May this user use this service? (global list, then the service's own list when set)
    pub fn may_use(&self, who: &Identity, service: &str) -> bool {
        self.may_login(who) && self.per_service.get(service).is_none_or(|l| l.matches(who))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            id: "github:42".into(),
            name: "Alice".into(),
            email: Some("Alice@Example.com".into()),
            orgs: vec!["Acme".into()],
        }
    }

    fn list(users: &[&str], emails: &[&str], domains: &[&str], orgs: &[&str]) -> AllowList {
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect();
        AllowList::new(v(users), v(emails), v(domains), v(orgs))
    }

    #[test]
    fn each_list_kind_matches() {
        assert!(list(&["github:42"], &[], &[], &[]).matches(&alice()));
        assert!(list(&["alice"], &[], &[], &[]).matches(&alice()));
        assert!(list(&[], &["alice@example.com"], &[], &[]).matches(&alice()));
        assert!(list(&[], &[], &["example.com"], &[]).matches(&alice()));
        assert!(list(&[], &[], &[], &["acme"]).matches(&alice()));
        assert!(
            !list(
                &["github:43", "bob"],
                &["bob@example.com"],
                &["other.org"],
                &["x"]
            )
            .matches(&alice())
        );
        assert!(!list(&[], &[], &["ample.com"], &[]).matches(&alice()));
    }

    fn closed_is_open() -> bool {
        AllowPolicy::default().is_open("memory")
    }

    #[test]
    fn per_service_list_narrows_global() {
        let mut policy = AllowPolicy {
            all: true,
            ..Default::default()
        };
        assert!(policy.may_use(&alice(), "fetch"));
        assert!(policy.is_open("fetch"));
        policy
            .per_service
            .insert("fetch".into(), list(&["bob"], &[], &[], &[]));
        assert!(!policy.may_use(&alice(), "fetch"));
        assert!(!policy.is_open("fetch"));
        assert!(policy.may_use(&alice(), "memory"));
        assert!(!closed_is_open());
        let closed = AllowPolicy {
            all: false,
            global: list(&["bob"], &[], &[], &[]),
            ..Default::default()
        };
        assert!(!closed.may_login(&alice()));
    }
}
