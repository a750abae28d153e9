//! MCP protocol revisions and the `MCP-Protocol-Version` header rules of sessions (MCP 2025-06-18,
//! "Transports", "Protocol Version Header"): absent means 2025-03-26 (clients of that revision and
//! VS Code send none); present, it must be a revision we serve and equal to the one negotiated in
//! `initialize`.

/// Session-based ("legacy era") revisions served.
pub const LEGACY: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];
/// The stateless revision ("modern era").
pub const MODERN: &str = "2026-07-28";
/// Every revision served, oldest first (`server/discover`'s `supportedVersions`).
pub const ALL: [&str; 4] = ["2025-03-26", "2025-06-18", "2025-11-25", MODERN];
/// Assumed when a request carries no header.
pub const DEFAULT: &str = "2025-03-26";
/// The only revision that allows JSON-RPC batches (removed in 2025-06-18).
pub const BATCHES: &str = "2025-03-26";

/// Why a header value is refused (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionError {
    /// Not a revision this sidecar serves on a session.
    Unsupported(String),
    /// A served revision, but not the one negotiated in this session.
    Mismatch { header: String, negotiated: String },
}

/// Checks the header of a request in a session that negotiated `negotiated`.
pub fn check(header: Option<&str>, negotiated: &str) -> Result<(), VersionError> {
    let Some(value) = header.map(str::trim) else {
        return Ok(());
    };
    if !LEGACY.contains(&value) {
        return Err(VersionError::Unsupported(value.to_owned()));
    }
    if value != negotiated {
        return Err(VersionError::Mismatch {
            header: value.to_owned(),
            negotiated: negotiated.to_owned(),
        });
    }
    Ok(())
}

/// Whether a revision is of the stateless era (2026-07-28 or later).
pub fn is_modern(version: &str) -> bool {
    version.trim() >= MODERN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rules() {
        assert_eq!(check(None, "2025-06-18"), Ok(()));
        assert_eq!(check(Some("2025-06-18"), "2025-06-18"), Ok(()));
        assert_eq!(
            check(Some("2025-11-25"), "2025-06-18"),
            Err(VersionError::Mismatch {
                header: "2025-11-25".into(),
                negotiated: "2025-06-18".into()
            })
        );
        assert_eq!(
            check(Some("1999-01-01"), "2025-06-18"),
            Err(VersionError::Unsupported("1999-01-01".into()))
        );
        assert!(matches!(
            check(Some(MODERN), "2025-11-25"),
            Err(VersionError::Unsupported(_))
        ));
        assert!(is_modern("2026-07-28") && !is_modern("2025-11-25"));
    }
}
