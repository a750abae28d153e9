//! Pure header rules of the MCP endpoint: content negotiation (RFC 9110 §12.5.1 `Accept`, §8.3
//! `Content-Type`) and DNS-rebinding protection (MCP spec "Transports" > "Security Warning":
//! servers MUST validate `Origin`; we also validate `Host`).

/// Which answer formats the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub json: bool,
    pub sse: bool,
}

impl Accepts {
    /// Whether an answer to requests can be sent in a format the client takes (RFC 9110 §15.5.7:
    /// otherwise 406).
    pub fn any(self) -> bool {
        self.json || self.sse
    }
}

/// Parses `Accept`. The MCP spec says clients MUST list both `application/json` and
/// `text/event-stream`; we are lenient and answer in whichever one is acceptable. No header at all
/// means anything (RFC 9110 §12.5.1); `q=0` means "not acceptable".
pub fn accepts(header: Option<&str>) -> Accepts {
    let Some(header) = header else {
        return Accepts {
            json: true,
            sse: true,
        };
    };
    let mut out = Accepts {
        json: false,
        sse: false,
    };
    for item in header.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match media.as_str() {
            "*/*" => {
                out.json = true;
                out.sse = true;
            }
            "application/*" | "application/json" => out.json = true,
            "text/*" | "text/event-stream" => out.sse = true,
            _ => {}
        }
    }
    out
}

/// `Content-Type` of a POST must be `application/json` (parameters such as charset allowed).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// `Origin` must be on the allow list (`*` allows any). Compared without trailing slash, ASCII
/// case-insensitively (RFC 6454 §6.2 serialisation is lowercase for scheme and host).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    allowed.iter().any(|a| a == "*" || *a == origin)
}

/// Whether `origin` is the sidecar's own loopback origin (`http://localhost:PORT`,
/// `http://127.0.0.1:PORT` or `http://[::1]:PORT` with its own port): a page the sidecar's own
/// address served, never a foreign site, so it needs no listing (issue 10 item 5).
pub fn own_loopback_origin(origin: &str, port: u16) -> bool {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|host| origin == format!("http://{host}:{port}"))
}

/// The host part of a `Host` value (`[::1]:80` -> `[::1]`, `a:1` -> `a`); `None` unless the rest
/// is a port (RFC 9110 §7.2: `uri-host [ ":" port ]`, RFC 3986 §3.2.3: `port = *DIGIT`), so
/// `127.0.0.1:8080evil` or `localhost:x@evil.example` is no loopback name (found by the fuzz
/// target `mcp_headers`).
fn host_part(host: &str) -> Option<&str> {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => host.split_at(rest.find(']')? + 2),
        None => host.split_at(host.rfind(':').unwrap_or(host.len())),
    };
    let port_ok = port
        .strip_prefix(':')
        .map_or(port.is_empty(), |p| p.bytes().all(|b| b.is_ascii_digit()));
    port_ok.then_some(name)
}

/// `Host` must be a loopback name (any port) or on the allow list: an entry with a port must
/// match exactly, an entry without one matches the host on any port; `*` allows any.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let Some(name) = host_part(&host) else {
        return false;
    };
    if matches!(name, "localhost" | "127.0.0.1" | "[::1]") {
        return true;
    }
    allowed
        .iter()
        .any(|a| a == "*" || *a == host || (!a.contains(':') && a == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let both = Accepts {
            json: true,
            sse: true,
        };
        assert_eq!(accepts(None), both);
        assert_eq!(accepts(Some("application/json, text/event-stream")), both);
        assert_eq!(accepts(Some("*/*")), both);
        let a = accepts(Some("application/json"));
        assert!(a.json && !a.sse);
        let a = accepts(Some("text/event-stream;q=0.5, application/json;q=0"));
        assert!(!a.json && a.sse);
        let a = accepts(Some("text/html"));
        assert!(!a.json && !a.sse);
    }

    #[test]
    fn content_type() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }

    #[test]
    fn origins_and_hosts() {
        let allowed = vec![
            "http://127.0.0.1:8080".to_owned(),
            "mcp.example.com".to_owned(),
        ];
        assert!(origin_allowed("http://127.0.0.1:8080/", &allowed));
        assert!(!origin_allowed("http://evil.example", &allowed));
        assert!(origin_allowed("http://evil.example", &["*".to_owned()]));
        assert!(host_allowed("localhost:1234", &allowed));
        assert!(host_allowed("[::1]:9", &allowed));
        assert!(host_allowed("127.0.0.1", &allowed));
        assert!(host_allowed("MCP.example.com:443", &allowed));
        assert!(!host_allowed("evil.example:8080", &allowed));
        assert!(!host_allowed("127.0.0.1.evil.example", &allowed));
        for malformed in [
            "127.0.0.1:8080nnnn",
            "localhost:80@evil.example",
            "[::1]evil",
            "[::1",
            "mcp.example.com:443/x",
        ] {
            assert!(!host_allowed(malformed, &allowed), "{malformed}");
        }
        assert!(host_allowed("localhost:", &allowed));
        assert!(own_loopback_origin("http://localhost:3000", 3000));
        assert!(own_loopback_origin("HTTP://127.0.0.1:3000/", 3000));
        assert!(own_loopback_origin("http://[::1]:3000", 3000));
        assert!(!own_loopback_origin("http://localhost:3001", 3000));
        assert!(!own_loopback_origin("https://localhost:3000", 3000));
        assert!(!own_loopback_origin(
            "http://localhost.evil.example:3000",
            3000
        ));
        assert!(!own_loopback_origin("http://localhost", 3000));
    }
}
