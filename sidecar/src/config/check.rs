//! One-pass validation helpers: every problem is collected, none stops the pass. Every number has
//! an upper bound as well as a lower one (every limit is named): durations are added
//! to `Instant`s and sizes become allocations, so an absurd value must be refused at start, not
//! overflow on the first request.

use std::ops::RangeInclusive;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
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

impl Checker {
    /// A secret given as `var` or as `var_FILE` (the path of a file holding it: a Docker or
    /// Kubernetes secret), never both. Neither the value nor the file's contents appear in a
    /// message; surrounding whitespace (a file's final newline) is not part of the value.
    pub fn secret(&mut self, var: &str, raw: &str, file: &str) -> String {
        let file = file.trim();
        match (raw.trim().is_empty(), file.is_empty()) {
            (_, true) => raw.trim().to_owned(),
            (false, false) => {
                self.fail(format!("{var} and {var}_FILE: set one of them, not both"));
                String::new()
            }
            (true, false) => match std::fs::read_to_string(file) {
                Ok(value) => value.trim().to_owned(),
                Err(e) => {
                    self.fail(format!("{var}_FILE: cannot read {file:?}: {e}"));
                    String::new()
                }
            },
        }
    }

    /// The key replicas share to seal session owners: base64 (standard or URL-safe alphabet,
    /// padded or not) of at least `MIN_SESSION_KEY_BYTES` bytes; empty: none.
    pub fn session_key(&mut self, var: &str, raw: &str) -> Option<SecretSlice<u8>> {
        if raw.is_empty() {
            return None;
        }
        let unpadded = raw.trim_end_matches('=');
        let decoded = [&STANDARD, &URL_SAFE].iter().find_map(|engine| {
            let padded = format!("{unpadded}{}", "=".repeat((4 - unpadded.len() % 4) % 4));
            engine.decode(padded).ok()
        });
        match decoded {
            Some(key) if (MIN_SESSION_KEY_BYTES..=MAX_KEY).contains(&key.len()) => {
                Some(SecretSlice::from(key))
            }
            _ => {
                self.fail(format!(
                    "{var}: expected base64 of {MIN_SESSION_KEY_BYTES} to {MAX_KEY} random bytes (e.g. `openssl rand -base64 32`; the same on every replica of the service), got {} characters",
                    raw.len()
                ));
                None
            }
        }
    }

    /// `http://host:port` without a path (the other replicas append the MCP path); empty: none.
    pub fn advertise_url(&mut self, var: &str, raw: &str) -> Option<String> {
        let raw = raw.trim().trim_end_matches('/');
        if raw.is_empty() {
            return None;
        }
        let valid = raw.parse::<hyper::Uri>().ok().filter(|uri| {
            uri.scheme_str() == Some("http")
                && uri.authority().is_some_and(|a| !a.host().is_empty())
                && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
        });
        if valid.is_none() {
            self.fail(format!(
                "{var}: expected http://host:port (the address other replicas reach this one at, no path), got {raw:?}"
            ));
            return None;
        }
        Some(raw.to_owned())
    }

    /// `true` or `false`.
    pub fn flag(&mut self, var: &str, raw: &str) -> bool {
        match raw.trim() {
            "true" => true,
            "false" => false,
            other => {
                self.fail(format!("{var}: expected true or false, got {other:?}"));
                true
            }
        }
    }
}

/// Bytes of a session key at least (256 bits).
const MIN_SESSION_KEY_BYTES: usize = 32;

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
