//! Reading raw environment variables while collecting every problem (see `config`).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use crate::allow::AllowList;

/// Collects problems while reading variables so all of them are reported together.
pub(super) struct Reader<'a> {
    pub(super) vars: &'a HashMap<String, String>,
    pub(super) problems: Vec<String>,
}

impl Reader<'_> {
    pub(super) fn opt(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn req(&mut self, name: &str) -> String {
        self.opt(name).unwrap_or_else(|| {
            self.problems.push(format!("{name}: missing"));
            String::new()
        })
    }

    pub(super) fn or(&self, name: &str, default: &str) -> String {
        self.opt(name).unwrap_or_else(|| default.to_owned())
    }

    /// A whole number within `range` (every duration and size has an upper bound, so that
    /// `now + ttl` and the conversions to Redis's signed integers can never overflow).
    pub(super) fn bounded(&mut self, name: &str, default: u64, range: RangeInclusive<u64>) -> u64 {
        let Some(raw) = self.opt(name) else {
            return default;
        };
        match raw.parse::<u64>() {
            Ok(v) if range.contains(&v) => v,
            Ok(_) => {
                self.problems.push(format!(
                    "{name}: must be between {} and {}, got {raw}",
                    range.start(),
                    range.end()
                ));
                default
            }
            Err(_) => {
                self.problems.push(format!("{name}: not a number: {raw:?}"));
                default
            }
        }
    }

    pub(super) fn flag(&mut self, name: &str) -> bool {
        match self.or(name, "false").to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                self.problems
                    .push(format!("{name}: expected true or false, got {other:?}"));
                false
            }
        }
    }

    pub(super) fn list(&self, name: &str) -> Vec<String> {
        self.opt(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn allow_list(&self, suffix: &str) -> AllowList {
        AllowList::new(
            self.list(&format!("ALLOWED_USERS{suffix}")),
            self.list(&format!("ALLOWED_EMAILS{suffix}")),
            self.list(&format!("ALLOWED_DOMAINS{suffix}")),
            self.list(&format!("ALLOWED_GITHUB_ORGS{suffix}")),
        )
    }

    pub(super) fn url(&mut self, name: &str, value: &str) -> String {
        match url::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                value.trim_end_matches('/').to_owned()
            }
            _ => {
                self.problems
                    .push(format!("{name}: not an http(s) URL: {value:?}"));
                String::new()
            }
        }
    }
}
