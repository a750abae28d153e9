//! Configuration: read from the environment (after `.env` is loaded) into one validated struct.
//!
//! Every variable is checked in one pass so the operator sees every problem at once; `main` exits
//! with code 64 (EX_USAGE) when the list is not empty.

use std::collections::HashMap;
use std::net::SocketAddr;

use secrecy::SecretString;

use crate::allow::AllowPolicy;
use crate::resource::{Resources, Routing};

/// EX_USAGE (sysexits.h): the exit code for invalid configuration.
pub const EXIT_CONFIG: i32 = 64;

mod reader;
mod sections;

use reader::Reader;
use sections::{
    allow_policy, limits, pinned_documents, private_key, redis_target, sentinel_password,
    upstream_config,
};

/// Which upstream identity provider users log in with.
#[derive(Debug)]
pub enum UpstreamConfig {
    Oidc {
        issuer: String,
        client_id: String,
        client_secret: SecretString,
        scopes: String,
    },
    Github {
        client_id: String,
        client_secret: SecretString,
        base_url: String,
    },
}

/// Lifetimes and limits, all in seconds or bytes.
#[derive(Debug, Clone)]
pub struct Limits {
    pub access_ttl: u64,
    pub refresh_ttl: u64,
    pub code_ttl: u64,
    pub refresh_grace: u64,
    pub consent_ttl: u64,
    /// Successful registrations per source address per window.
    pub register_limit: u64,
    /// Successful registrations in all per window (the ceiling that bounds abuse from many
    /// addresses without locking out a team behind one provider address).
    pub register_global_limit: u64,
    pub register_window: u64,
    /// Seconds a registered client lives until it completes an authorization (then it is kept).
    pub register_unused_ttl: u64,
    pub max_body_bytes: usize,
    pub cimd_timeout: u64,
    pub cimd_max_bytes: usize,
    pub cimd_cache: u64,
    /// RFC 8628 §3.2 `expires_in`: how long a device code and its user code live.
    pub device_ttl: u64,
    /// RFC 8628 §3.2 `interval`: the seconds a device waits between polls (`slow_down` when
    /// shorter).
    pub device_interval: u64,
    /// Wrong user codes one address may enter per device code lifetime (RFC 8628 §5.1).
    pub device_attempts: u64,
    /// Tests only: allow http CIMD URLs on loopback (the SSRF guard stays on for everything else).
    pub cimd_insecure_loopback: bool,
}

/// Operator-pinned Client ID Metadata Documents by `client_id` (client requirement C3 of
/// docs/architecture/client-requirements.md), used when the live fetch fails (some vendors'
/// documents sit behind bot protection).
pub type PinnedDocuments = HashMap<String, Vec<u8>>;

/// Where Redis is: one server by URL, or the master of a Redis Sentinel deployment (found by
/// asking the sentinels, again after every failover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    Url(String),
    Sentinel {
        /// The sentinels' `host:port` addresses, asked in order.
        sentinels: Vec<(String, u16)>,
        /// The master name the sentinels monitor.
        master: String,
    },
}

#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub resources: Resources,
    pub redis: RedisTarget,
    pub redis_password: Option<SecretString>,
    /// `REDIS_SENTINEL_PASSWORD`: the sentinels' own password (their `requirepass`), distinct
    /// from the data servers' `REDIS_PASSWORD`.
    pub redis_sentinel_password: Option<SecretString>,
    pub key_prefix: String,
    /// PEM text of the RSA signing key (decoded from base64).
    pub jwt_private_key: SecretString,
    /// PEM text of the prepared key of a two-phase rotation: published and accepted, not used to
    /// sign until `authd keys rotate --commit` makes it the signing key.
    pub jwt_next_private_key: Option<SecretString>,
    pub upstream: UpstreamConfig,
    pub allow: AllowPolicy,
    pub limits: Limits,
    pub cimd_pinned: PinnedDocuments,
}

impl Config {
    /// Reads and validates every setting; the error lists every problem found.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, Vec<String>> {
        let mut r = Reader {
            vars,
            problems: Vec::new(),
        };
        let listen_raw = r.or("AUTHD_LISTEN", "127.0.0.1:8000");
        let listen = listen_raw.parse().unwrap_or_else(|_| {
            r.problems
                .push(format!("AUTHD_LISTEN: not host:port: {listen_raw:?}"));
            SocketAddr::from(([127, 0, 0, 1], 8000))
        });
        let services = r.list("MCP_SERVICES");
        if services.is_empty() {
            r.problems
                .push("MCP_SERVICES: missing (comma-separated service names)".into());
        }
        for s in &services {
            if !s
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                r.problems.push(format!(
                    "MCP_SERVICES: invalid service name {s:?} (a-z, 0-9, -)"
                ));
            }
        }
        let routing = match r.or("ROUTING", "path").as_str() {
            "path" => {
                let raw = r.req("PUBLIC_URL");
                // Resources are `${PUBLIC_URL}/<name>/mcp` and /verify reads `/<name>/mcp` from the
                // forwarded URI: the public URL must be an origin, without a path.
                if url::Url::parse(&raw).is_ok_and(|u| u.path() != "/" || u.query().is_some()) {
                    r.problems.push(format!(
                        "PUBLIC_URL: must be an origin without a path: {raw:?}"
                    ));
                }
                Routing::Path {
                    public_url: if raw.is_empty() {
                        raw
                    } else {
                        r.url("PUBLIC_URL", &raw)
                    },
                }
            }
            "host" => {
                let domain = r.req("BASE_DOMAIN").to_ascii_lowercase();
                let name_chars = domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if !domain.is_empty() && !name_chars {
                    r.problems
                        .push(format!("BASE_DOMAIN: not a domain name: {domain:?}"));
                }
                Routing::Host {
                    base_domain: domain,
                }
            }
            other => {
                r.problems
                    .push(format!("ROUTING: expected path or host, got {other:?}"));
                Routing::Path {
                    public_url: String::new(),
                }
            }
        };
        let redis = redis_target(&mut r);
        let redis_password = r.secret("REDIS_PASSWORD").map(SecretString::from);
        let redis_sentinel_password = sentinel_password(&mut r, &redis);
        let key_prefix = r.or("REDIS_KEY_PREFIX", "oauth:");
        let jwt_private_key = match private_key(&mut r, "JWT_PRIVATE_KEY") {
            Some(k) => k,
            None => {
                // Named once: either unset, or already listed as invalid.
                if r.secret_unset("JWT_PRIVATE_KEY") {
                    r.problems.push(
                        "JWT_PRIVATE_KEY: missing (or JWT_PRIVATE_KEY_FILE; run `authd keygen`)"
                            .into(),
                    );
                }
                SecretString::from(String::new())
            }
        };
        let jwt_next_private_key = private_key(&mut r, "JWT_NEXT_PRIVATE_KEY");
        let upstream = upstream_config(&mut r);
        let allow = allow_policy(&mut r, &services);
        let limits = limits(&mut r);
        let cimd_pinned = pinned_documents(&mut r);
        if r.problems.is_empty() {
            Ok(Config {
                listen,
                resources: Resources::new(routing, services),
                redis,
                redis_password,
                redis_sentinel_password,
                key_prefix,
                jwt_private_key,
                jwt_next_private_key,
                upstream,
                allow,
                limits,
                cimd_pinned,
            })
        } else {
            Err(r.problems)
        }
    }

    /// Reads the process environment (`.env` already loaded by `main`).
    pub fn from_env() -> Result<Config, Vec<String>> {
        Self::from_vars(&std::env::vars().collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// Settings as the environment would hold them (shared by the config modules' tests).
    pub(crate) fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let err = Config::from_vars(&vars(&[("ROUTING", "nope"), ("AUTH_CODE_TTL_SECS", "600")]))
            .unwrap_err();
        let text = err.join("\n");
        for name in [
            "ROUTING",
            "MCP_SERVICES",
            "REDIS_URL",
            "JWT_PRIVATE_KEY",
            "OIDC_ISSUER",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        assert!(text.contains("AUTH_CODE_TTL_SECS"));
        let err = Config::from_vars(&vars(&[("PUBLIC_URL", "https://gw.example.com/prefix")]))
            .unwrap_err()
            .join("\n");
        assert!(err.contains("PUBLIC_URL: must be an origin"), "{err}");
        let err = Config::from_vars(&vars(&[("ROUTING", "host"), ("BASE_DOMAIN", "https://x")]))
            .unwrap_err()
            .join("\n");
        assert!(err.contains("BASE_DOMAIN: not a domain name"), "{err}");
        assert!(text.contains("ALLOW_ALL_USERS"));
    }

    /// Every duration and size has an upper bound: a huge value is named, never accepted (it
    /// would overflow `now + ttl`); the largest accepted values are in the black-box tests.
    #[test]
    fn every_duration_and_size_is_bounded() {
        let names = [
            "ACCESS_TOKEN_TTL_SECS",
            "REFRESH_TOKEN_TTL_SECS",
            "AUTH_CODE_TTL_SECS",
            "REFRESH_GRACE_SECS",
            "CONSENT_TTL_SECS",
            "REGISTER_RATE_LIMIT",
            "REGISTER_GLOBAL_LIMIT",
            "REGISTER_RATE_WINDOW_SECS",
            "REGISTER_UNUSED_CLIENT_TTL_SECS",
            "AUTHD_MAX_BODY_BYTES",
            "CIMD_FETCH_TIMEOUT_SECS",
            "CIMD_MAX_BYTES",
            "CIMD_CACHE_SECS",
            "DEVICE_CODE_TTL_SECS",
            "DEVICE_POLL_INTERVAL_SECS",
            "DEVICE_USER_CODE_ATTEMPTS",
        ];
        let huge = u64::MAX.to_string();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, huge.as_str())).collect();
        let err = Config::from_vars(&vars(&pairs)).unwrap_err().join("\n");
        for name in names {
            assert!(
                err.contains(&format!("{name}: must be between")),
                "{name}: {err}"
            );
        }
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, "0")).collect();
        let err = Config::from_vars(&vars(&pairs)).unwrap_err().join("\n");
        for name in names.iter().filter(|n| **n != "REFRESH_GRACE_SECS") {
            assert!(
                err.contains(&format!("{name}: must be between")),
                "{name}: {err}"
            );
        }
        assert!(
            !err.contains("REFRESH_GRACE_SECS"),
            "0 disables the grace window: {err}"
        );
    }

    #[test]
    fn bad_numbers_and_flags_are_named() {
        let err = Config::from_vars(&vars(&[
            ("ACCESS_TOKEN_TTL_SECS", "soon"),
            ("CIMD_ALLOW_INSECURE_LOOPBACK_FOR_TESTS_ONLY", "maybe"),
        ]))
        .unwrap_err()
        .join("\n");
        assert!(err.contains("ACCESS_TOKEN_TTL_SECS: not a number"));
        assert!(err.contains("CIMD_ALLOW_INSECURE_LOOPBACK_FOR_TESTS_ONLY"));
    }
}
