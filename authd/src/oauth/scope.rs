//! Scopes. `mcp` grants use of the MCP server (what `/verify` requires); `offline_access` asks for
//! a refresh token. A missing scope means the defaults, unknown scopes are dropped (CLIENTS.md Z2,
//! RFC 6749 §3.3 lets the server ignore part of the request).

pub const MCP: &str = "mcp";
pub const SUPPORTED: [&str; 2] = [MCP, "offline_access"];

/// The granted scope string for a requested one.
pub fn resolve(requested: Option<&str>) -> String {
    let wanted: Vec<&str> = match requested.map(str::trim).filter(|s| !s.is_empty()) {
        None => SUPPORTED.to_vec(),
        Some(s) => SUPPORTED
            .iter()
            .copied()
            .filter(|k| s.split(' ').any(|x| x == *k))
            .collect(),
    };
    if wanted.is_empty() {
        MCP.to_owned()
    } else {
        wanted.join(" ")
    }
}

/// A refresh may narrow the scope, never widen it (RFC 6749 §6).
pub fn narrow(granted: &str, requested: Option<&str>) -> Option<String> {
    match requested.map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(granted.to_owned()),
        Some(req) => {
            let mut out = Vec::new();
            for s in req.split(' ').filter(|s| !s.is_empty()) {
                if !granted.split(' ').any(|g| g == s) {
                    return None;
                }
                out.push(s);
            }
            Some(out.join(" "))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknowns() {
        assert_eq!(resolve(None), "mcp offline_access");
        assert_eq!(resolve(Some("")), "mcp offline_access");
        assert_eq!(resolve(Some("mcp admin")), "mcp");
        assert_eq!(resolve(Some("admin")), "mcp");
        assert_eq!(resolve(Some("offline_access mcp")), "mcp offline_access");
    }

    #[test]
    fn refresh_never_widens() {
        assert_eq!(
            narrow("mcp offline_access", None).unwrap(),
            "mcp offline_access"
        );
        assert_eq!(narrow("mcp offline_access", Some("mcp")).unwrap(), "mcp");
        assert!(narrow("mcp", Some("mcp admin")).is_none());
    }
}
