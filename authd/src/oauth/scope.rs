//! Scopes. `mcp` grants use of the MCP server (what `/verify` requires); `offline_access` asks for
//! a refresh token. A missing scope means the defaults, unknown scopes are dropped (client
//! requirement Z2 of docs/architecture/client-requirements.md, RFC 6749 §3.3 lets the server ignore
//! part of the request).

pub const MCP: &str = "mcp";
/// What the authorization server supports (RFC 8414 `scopes_supported`, client requirement A2).
pub const SUPPORTED: [&str; 2] = [MCP, "offline_access"];
/// What an MCP request needs: named in every 401 and 403 challenge of `/verify` and in the
/// protected-resource metadata. MCP authorization 2026-07-28 "Refresh Tokens": a resource
/// SHOULD NOT list `offline_access` (refresh tokens are not a resource requirement); "Runtime
/// Insufficient Scope Errors" (SEP-2350): the challenge names every scope the operation needs,
/// not only the missing ones and not the client's earlier grants, all in one challenge.
pub const REQUIRED: [&str; 1] = [MCP];

/// Whether a granted scope string satisfies `REQUIRED` (no scope implies another here, so the
/// hierarchy rule of MCP authorization "Step-Up Authorization Flow" is plain set inclusion).
pub fn sufficient(granted: &str) -> bool {
    REQUIRED.iter().all(|r| granted.split(' ').any(|g| g == *r))
}

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
    fn required_scopes_and_no_offline_access_at_the_resource() {
        assert!(!REQUIRED.contains(&"offline_access"));
        assert!(sufficient("mcp"));
        assert!(sufficient("offline_access mcp"));
        assert!(!sufficient("offline_access"));
        assert!(!sufficient("mcpx"));
        assert!(!sufficient(""));
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
