//! The sections of the configuration that need more than one variable: signing key, upstream
//! provider, allow lists, pinned client documents, lifetimes and limits.

use secrecy::SecretString;

use super::reader::Reader;
use super::{Limits, PinnedDocuments, RedisTarget, UpstreamConfig};
use crate::allow::AllowPolicy;

/// The PEM text of an RSA private key given as base64 of the PEM (what `authd keygen` prints, one
/// line for `.env`) or as the PEM itself (a mounted secret file); `None` when unset.
pub(super) fn private_key(r: &mut Reader<'_>, name: &str) -> Option<SecretString> {
    use base64::Engine;
    let raw = r.secret(name)?;
    let pem = if raw.starts_with("-----BEGIN") {
        Some(raw)
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    match pem {
        Some(p) if jsonwebtoken::EncodingKey::from_rsa_pem(p.as_bytes()).is_ok() => {
            Some(SecretString::from(p))
        }
        _ => {
            r.problems.push(format!(
                "{name}: not an RSA private key (base64 of its PEM, or the PEM; run `authd keygen`)"
            ));
            None
        }
    }
}

/// `REDIS_SENTINELS` (comma-separated `host:port`) with `REDIS_SENTINEL_MASTER`, else `REDIS_URL`
/// (which the sentinels replace: `just run` always sets it for its own Redis).
pub(super) fn redis_target(r: &mut Reader<'_>) -> RedisTarget {
    let sentinels = r.list("REDIS_SENTINELS");
    let master = r.opt("REDIS_SENTINEL_MASTER");
    if sentinels.is_empty() {
        if master.is_some() {
            r.problems
                .push("REDIS_SENTINEL_MASTER: set without REDIS_SENTINELS".into());
        }
        let url = r.req("REDIS_URL");
        if !url.is_empty() && redis::Client::open(url.as_str()).is_err() {
            r.problems
                .push("REDIS_URL: not a redis:// or redis+unix:// URL".into());
        }
        return RedisTarget::Url(url);
    }
    let mut addrs = Vec::new();
    for s in &sentinels {
        let parsed = s
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .filter(|(h, p)| !h.is_empty() && *p != 0);
        match parsed {
            Some((h, p)) => addrs.push((h.to_owned(), p)),
            None => r
                .problems
                .push(format!("REDIS_SENTINELS: not host:port: {s:?}")),
        }
    }
    let master = master.unwrap_or_else(|| {
        r.problems
            .push("REDIS_SENTINEL_MASTER: missing (the master name the sentinels monitor)".into());
        String::new()
    });
    RedisTarget::Sentinel {
        sentinels: addrs,
        master,
    }
}

/// `REDIS_SENTINEL_PASSWORD` (or its `_FILE`): what authd authenticates to the sentinels with when
/// they are protected by `requirepass`; only meaningful with `REDIS_SENTINELS`.
pub(super) fn sentinel_password(r: &mut Reader<'_>, target: &RedisTarget) -> Option<SecretString> {
    let password = r.secret("REDIS_SENTINEL_PASSWORD")?;
    if let RedisTarget::Url(_) = target {
        r.problems
            .push("REDIS_SENTINEL_PASSWORD: set without REDIS_SENTINELS".into());
        return None;
    }
    Some(SecretString::from(password))
}

pub(super) fn upstream_config(r: &mut Reader<'_>) -> UpstreamConfig {
    match r.or("UPSTREAM", "oidc").as_str() {
        "github" => {
            let client_id = r.req("GITHUB_CLIENT_ID");
            let client_secret = SecretString::from(r.secret_req("GITHUB_CLIENT_SECRET"));
            let base = r.or("GITHUB_BASE_URL", "https://github.com");
            let base_url = r.url("GITHUB_BASE_URL", &base);
            UpstreamConfig::Github {
                client_id,
                client_secret,
                base_url,
            }
        }
        other => {
            if other != "oidc" {
                r.problems
                    .push(format!("UPSTREAM: expected oidc or github, got {other:?}"));
            }
            let raw = r.req("OIDC_ISSUER");
            let issuer = if raw.is_empty() {
                raw
            } else {
                r.url("OIDC_ISSUER", &raw)
            };
            let client_id = r.req("OIDC_CLIENT_ID");
            let client_secret = SecretString::from(r.secret_req("OIDC_CLIENT_SECRET"));
            let scopes = r.or("OIDC_SCOPES", "openid email profile");
            UpstreamConfig::Oidc {
                issuer,
                client_id,
                client_secret,
                scopes,
            }
        }
    }
}

pub(super) fn allow_policy(r: &mut Reader<'_>, services: &[String]) -> AllowPolicy {
    let all = r.flag("ALLOW_ALL_USERS");
    let global = r.allow_list("");
    if !all && global.is_empty() {
        r.problems.push(
            "ALLOWED_USERS, ALLOWED_EMAILS, ALLOWED_DOMAINS, ALLOWED_GITHUB_ORGS: all empty \
             (set one, or ALLOW_ALL_USERS=true to let every upstream user in)"
                .into(),
        );
    }
    let per_service = services
        .iter()
        .map(|s| {
            (
                s.clone(),
                r.allow_list(&format!("_{}", s.to_ascii_uppercase().replace('-', "_"))),
            )
        })
        .filter(|(_, l)| !l.is_empty())
        .collect();
    AllowPolicy {
        all,
        global,
        per_service,
    }
}

/// Reads every `*.json` file of `CIMD_PINNED_DIR`; each must be a document naming its `client_id`.
pub(super) fn pinned_documents(r: &mut Reader<'_>) -> PinnedDocuments {
    let mut docs = PinnedDocuments::new();
    let Some(dir) = r.opt("CIMD_PINNED_DIR") else {
        return docs;
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            r.problems
                .push(format!("CIMD_PINNED_DIR: cannot read {dir}: {e}"));
            return docs;
        }
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let id = std::fs::read(&path).ok().and_then(|b| {
            let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
            Some((v.get("client_id")?.as_str()?.to_owned(), b))
        });
        match id {
            Some((id, bytes)) => {
                docs.insert(id, bytes);
            }
            None => r.problems.push(format!(
                "CIMD_PINNED_DIR: {} is not a JSON document with a client_id",
                path.display()
            )),
        }
    }
    docs
}

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
const YEAR: u64 = 365 * DAY;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Every lifetime and size, each with its default and its bounds (documented in `.env.example`).
pub(super) fn limits(r: &mut Reader<'_>) -> Limits {
    let mut size = |name: &str, default: u64, range| {
        usize::try_from(r.bounded(name, default, range)).unwrap_or(usize::MAX)
    };
    let max_body_bytes = size("AUTHD_MAX_BODY_BYTES", 64 * KIB, KIB..=16 * MIB);
    let cimd_max_bytes = size("CIMD_MAX_BYTES", 64 * KIB, KIB..=MIB);
    Limits {
        // MCP authorization "Token Theft": access tokens short-lived, so at most a day.
        access_ttl: r.bounded("ACCESS_TOKEN_TTL_SECS", HOUR, 1..=DAY),
        refresh_ttl: r.bounded("REFRESH_TOKEN_TTL_SECS", 30 * DAY, 1..=YEAR),
        // RFC 6749 §4.1.2 recommends at most 10 minutes; a code lives at most 60 s here
        // (docs/architecture/security.md#threats-and-mitigations).
        code_ttl: r.bounded("AUTH_CODE_TTL_SECS", MINUTE, 1..=MINUTE),
        refresh_grace: r.bounded("REFRESH_GRACE_SECS", 30, 0..=5 * MINUTE),
        consent_ttl: r.bounded("CONSENT_TTL_SECS", 90 * DAY, 1..=YEAR),
        register_limit: r.bounded("REGISTER_RATE_LIMIT", 600, 1..=1_000_000),
        register_global_limit: r.bounded("REGISTER_GLOBAL_LIMIT", 2000, 1..=10_000_000),
        register_window: r.bounded("REGISTER_RATE_WINDOW_SECS", HOUR, 1..=DAY),
        register_unused_ttl: r.bounded("REGISTER_UNUSED_CLIENT_TTL_SECS", DAY, 60..=30 * DAY),
        max_body_bytes,
        cimd_timeout: r.bounded("CIMD_FETCH_TIMEOUT_SECS", 5, 1..=30),
        cimd_max_bytes,
        cimd_cache: r.bounded("CIMD_CACHE_SECS", 5 * MINUTE, 1..=DAY),
        // RFC 8628 §6.1: a short-lived code; 30 minutes is plenty to walk to another device.
        device_ttl: r.bounded("DEVICE_CODE_TTL_SECS", 10 * MINUTE, 1..=30 * MINUTE),
        device_interval: r.bounded("DEVICE_POLL_INTERVAL_SECS", 5, 1..=MINUTE),
        device_attempts: r.bounded("DEVICE_USER_CODE_ATTEMPTS", 30, 1..=10_000),
        cimd_insecure_loopback: r.flag("CIMD_ALLOW_INSECURE_LOOPBACK_FOR_TESTS_ONLY"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::tests::vars;

    fn target(pairs: &[(&str, &str)]) -> (RedisTarget, Vec<String>) {
        let v = vars(pairs);
        let mut r = Reader {
            vars: &v,
            problems: Vec::new(),
        };
        (redis_target(&mut r), r.problems)
    }

    #[test]
    fn sentinels_replace_the_url_and_are_validated() {
        let (t, p) = target(&[
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("REDIS_SENTINELS", "10.0.0.1:26379, [::1]:26380"),
            ("REDIS_SENTINEL_MASTER", "authd"),
        ]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            t,
            RedisTarget::Sentinel {
                sentinels: vec![("10.0.0.1".into(), 26379), ("::1".into(), 26380)],
                master: "authd".into()
            }
        );
        let (_, p) = target(&[("REDIS_SENTINELS", "a:1,nohost,b:0,:5,c:x")]);
        assert_eq!(
            p,
            [
                "REDIS_SENTINELS: not host:port: \"nohost\"",
                "REDIS_SENTINELS: not host:port: \"b:0\"",
                "REDIS_SENTINELS: not host:port: \":5\"",
                "REDIS_SENTINELS: not host:port: \"c:x\"",
                "REDIS_SENTINEL_MASTER: missing (the master name the sentinels monitor)",
            ]
        );
        let (t, p) = target(&[("REDIS_SENTINEL_MASTER", "authd")]);
        assert_eq!(t, RedisTarget::Url(String::new()));
        assert_eq!(
            p,
            [
                "REDIS_SENTINEL_MASTER: set without REDIS_SENTINELS",
                "REDIS_URL: missing"
            ]
        );
    }

    #[test]
    fn the_sentinel_password_needs_sentinels() {
        use secrecy::ExposeSecret;
        let password = |pairs: &[(&str, &str)]| {
            let v = vars(pairs);
            let mut r = Reader {
                vars: &v,
                problems: Vec::new(),
            };
            let target = redis_target(&mut r);
            let pw = sentinel_password(&mut r, &target);
            (pw.map(|p| p.expose_secret().to_owned()), r.problems)
        };
        let sentinels = [
            ("REDIS_SENTINELS", "10.0.0.1:26379"),
            ("REDIS_SENTINEL_MASTER", "authd"),
            ("REDIS_SENTINEL_PASSWORD", "sentinels-own"),
        ];
        assert_eq!(password(&sentinels), (Some("sentinels-own".into()), vec![]));
        assert_eq!(password(&sentinels[..2]), (None, vec![]));
        let (pw, p) = password(&[
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("REDIS_SENTINEL_PASSWORD", "sentinels-own"),
        ]);
        assert_eq!(pw, None);
        assert_eq!(p, ["REDIS_SENTINEL_PASSWORD: set without REDIS_SENTINELS"]);
    }

    #[test]
    fn pinned_documents_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("authd-pinned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let doc = r#"{"client_id":"https://app.example.com/c.json","redirect_uris":["https://app.example.com/cb"]}"#;
        std::fs::write(dir.join("app.json"), doc).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let v = vars(&[("CIMD_PINNED_DIR", dir.to_str().unwrap())]);
        let mut r = Reader {
            vars: &v,
            problems: Vec::new(),
        };
        let docs = pinned_documents(&mut r);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(docs["https://app.example.com/c.json"], doc.as_bytes());
        std::fs::write(dir.join("bad.json"), "{}").unwrap();
        let mut r = Reader {
            vars: &v,
            problems: Vec::new(),
        };
        pinned_documents(&mut r);
        assert!(r.problems[0].contains("bad.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
