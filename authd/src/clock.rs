//! The only module that reads the wall clock: everything else takes `now` (Unix seconds) as an
//! input, so expiry logic is tested with exact times.

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
