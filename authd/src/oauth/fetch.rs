//! Fetches of URLs that clients supply (Client ID Metadata Documents, a client's `jwks_uri`),
//! SSRF-guarded (client requirement C1 of docs/architecture/client-requirements.md;
//! draft-ietf-oauth-client-id-metadata-document §8.6): https only, public addresses only (the
//! resolved address is pinned for the connection), no redirects followed, size and time limits
//! (`CIMD_MAX_BYTES`, `CIMD_FETCH_TIMEOUT_SECS`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::Limits;

/// Is this URL acceptable to fetch? (https with a path, no fragment or credentials; http on
/// loopback only with the test switch.)
pub fn acceptable_url(raw: &str, insecure_loopback: bool) -> Option<url::Url> {
    let url = url::Url::parse(raw).ok()?;
    let host_ok = url.host().is_some() && url.username().is_empty() && url.password().is_none();
    let path_ok = url.path() != "/" && !url.path().is_empty() && url.fragment().is_none();
    let scheme_ok = url.scheme() == "https" || (insecure_loopback && url.scheme() == "http");
    (host_ok && path_ok && scheme_ok && url.as_str() == raw).then_some(url)
}

/// Public unicast addresses only: no loopback, private, link-local, shared, documentation,
/// multicast or reserved ranges (the SSRF guard).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[0] == 0x64 && s[1] == 0xff9b)
        }
    }
}

/// GETs a client-supplied URL (a metadata document, a client's `jwks_uri`) through the SSRF
/// guard; any failure is `None`, logged with `what`.
pub async fn guarded_get(limits: &Limits, raw: &str, what: &str) -> Option<Vec<u8>> {
    let Some(url) = acceptable_url(raw, limits.cimd_insecure_loopback) else {
        tracing::warn!(url = %raw, "{what}: not an acceptable https URL");
        return None;
    };
    let host = url.host_str()?.to_owned();
    let port = url.port_or_known_default()?;
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        Duration::from_secs(limits.cimd_timeout),
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
    )
    .await
    .ok()?
    .ok()?
    .collect();
    let loopback_ok = limits.cimd_insecure_loopback;
    let addr = addrs
        .into_iter()
        .find(|a| is_public(a.ip()) || (loopback_ok && a.ip().is_loopback()));
    let Some(addr) = addr else {
        tracing::warn!(url = %raw, "{what}: host is not public");
        return None;
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(limits.cimd_timeout))
        .resolve(&host, addr)
        .build()
        .ok()?;
    let mut resp = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        tracing::warn!(url = %raw, status = resp.status().as_u16(), "{what}: fetch failed");
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.ok()? {
        body.extend_from_slice(&chunk);
        if body.len() > limits.cimd_max_bytes {
            tracing::warn!(url = %raw, "{what}: too large");
            return None;
        }
    }
    Some(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ssrf_guard_ranges() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "140.82.112.3", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn url_rules() {
        assert!(acceptable_url("https://app.example.com/oauth/client.json", false).is_some());
        assert!(acceptable_url("https://app.example.com/", false).is_none());
        assert!(acceptable_url("http://127.0.0.1:9/c.json", false).is_none());
        assert!(acceptable_url("http://127.0.0.1:9/c.json", true).is_some());
        assert!(acceptable_url("https://u:p@app.example.com/c.json", false).is_none());
        assert!(acceptable_url("https://app.example.com/c.json#x", false).is_none());
    }
}
