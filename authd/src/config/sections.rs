//! The sections of the configuration that need more than one variable: signing key, upstream
//! provider, allow lists, pinned client documents, lifetimes and limits.

use secrecy::SecretString;

use super::reader::Reader;
use super::{Limits, PinnedDocuments, UpstreamConfig};
use crate::allow::AllowPolicy;

pub(super) fn decode_private_key(r: &mut Reader<'_>) -> SecretString {
    use base64::Engine;
    let raw = r.req("JWT_PRIVATE_KEY");
    if raw.is_empty() {
        return SecretString::from(String::new());
    }
    let pem = base64::engine::general_purpose::STANDARD
        .decode(raw.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match pem {
        Some(p) if jsonwebtoken::EncodingKey::from_rsa_pem(p.as_bytes()).is_ok() => {
            SecretString::from(p)
        }
        _ => {
            r.problems.push(
                "JWT_PRIVATE_KEY: not base64 of an RSA PEM private key (run `authd keygen`)".into(),
            );
            SecretString::from(String::new())
        }
    }
}

pub(super) fn upstream_config(r: &mut Reader<'_>) -> UpstreamConfig {
    match r.or("UPSTREAM", "oidc").as_str() {
        "github" => {
            let client_id = r.req("GITHUB_CLIENT_ID");
            let client_secret = SecretString::from(r.req("GITHUB_CLIENT_SECRET"));
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
            let client_secret = SecretString::from(r.req("OIDC_CLIENT_SECRET"));
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
