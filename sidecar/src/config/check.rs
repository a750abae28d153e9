//! One-pass validation helpers: every problem is collected, none stops the pass. Every number has
//! an upper bound as well as a lower one (every limit is named): durations are added
//! to `Instant`s and sizes become allocations, so an absurd value must be refused at start, not
//! overflow on the first request.

use std::ops::RangeInclusive;
use std::time::Duration;

use secrecy::SecretSlice;

/// Collects every problem instead of stopping at the first.
#[derive(Default)]
pub struct Checker(pub Vec<String>);

impl Checker {
    pub fn fail(&mut self, problem: String) {
        self.0.push(problem);
    }

    /// An integer in `range`; out of range or not a number: a problem naming `var`.
    pub fn number(&mut self, var: &str, raw: &str, range: RangeInclusive<u64>) -> u64 {
        match raw.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.fail(format!(
                    "{var}: expected an integer from {} to {}, got {raw:?}",
                    range.start(),
                    range.end()
                ));
                *range.start()
            }
        }
    }

    pub fn count(&mut self, var: &str, raw: &str, range: RangeInclusive<u64>) -> usize {
        usize::try_from(self.number(var, raw, range)).unwrap_or(usize::MAX)
    }

    pub fn secs(&mut self, var: &str, raw: &str, range: RangeInclusive<u64>) -> Duration {
        Duration::from_secs(self.number(var, raw, range))
    }
}

impl Checker {
    /// A secret key of `MIN_KEY..=MAX_KEY` visible ASCII characters, or nothing when empty. The
    /// value never appears in the message.
    pub fn key(&mut self, var: &str, raw: &str) -> Option<SecretSlice<u8>> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        if !(MIN_KEY..=MAX_KEY).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            self.fail(format!(
                "{var}: expected {MIN_KEY} to {MAX_KEY} visible ASCII characters (or empty for a random key per start), got {} characters",
                raw.len()
            ));
            return None;
        }
        Some(SecretSlice::from(raw.as_bytes().to_vec()))
    }
}

/// Length bounds of a secret key (256 bits of base64 text at least).
const MIN_KEY: usize = 32;
const MAX_KEY: usize = 512;

/// Comma-separated list, trimmed, lowercased, without empty entries or trailing slashes.
pub fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}
