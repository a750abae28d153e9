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

    /// A secret given either as `NAME` or, for orchestrators that mount secrets as files (Docker
    /// and Kubernetes secrets), as `NAME_FILE` naming a file that holds it; never both. The file's
    /// surrounding whitespace (its final newline) is not part of the value.
    pub(super) fn secret(&mut self, name: &str) -> Option<String> {
        let file_var = format!("{name}_FILE");
        let direct = self.opt(name);
        let Some(path) = self.opt(&file_var) else {
            return direct;
        };
        if direct.is_some() {
            self.problems.push(format!(
                "{name} and {file_var}: both set (give one of them)"
            ));
            return None;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => {
                self.problems.push(format!("{file_var}: {path} is empty"));
                None
            }
            Ok(text) => Some(text.trim().to_owned()),
            Err(e) => {
                self.problems
                    .push(format!("{file_var}: cannot read {path}: {e}"));
                None
            }
        }
    }

    /// Neither `NAME` nor `NAME_FILE` is set.
    pub(super) fn secret_unset(&self, name: &str) -> bool {
        self.opt(name).is_none() && self.opt(&format!("{name}_FILE")).is_none()
    }

    /// A secret that must be set (as `NAME` or `NAME_FILE`).
    pub(super) fn secret_req(&mut self, name: &str) -> String {
        let unset = self.secret_unset(name);
        match self.secret(name) {
            Some(v) => v,
            None => {
                if unset {
                    self.problems
                        .push(format!("{name}: missing (or {name}_FILE naming a file)"));
                }
                String::new()
            }
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::tests::vars;

    fn read(pairs: &[(&str, &str)], name: &str) -> (Option<String>, Vec<String>) {
        let v = vars(pairs);
        let mut r = Reader {
            vars: &v,
            problems: Vec::new(),
        };
        (r.secret(name), r.problems)
    }

    #[test]
    fn secrets_come_from_the_variable_or_a_file_never_both() {
        let dir = std::env::temp_dir().join(format!("authd-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s");
        std::fs::write(&file, "from-file\n").unwrap();
        let path = file.to_str().unwrap();
        assert_eq!(
            read(&[("S", "direct")], "S"),
            (Some("direct".into()), vec![])
        );
        assert_eq!(
            read(&[("S_FILE", path)], "S"),
            (Some("from-file".into()), vec![])
        );
        assert_eq!(read(&[], "S"), (None, vec![]));
        let (v, p) = read(&[("S", "direct"), ("S_FILE", path)], "S");
        assert_eq!(v, None);
        assert_eq!(p, ["S and S_FILE: both set (give one of them)"]);
        let missing = dir.join("absent");
        let (v, p) = read(&[("S_FILE", missing.to_str().unwrap())], "S");
        assert_eq!(v, None);
        assert!(p[0].starts_with("S_FILE: cannot read "), "{p:?}");
        std::fs::write(&file, " \n").unwrap();
        let (v, p) = read(&[("S_FILE", path)], "S");
        assert_eq!(v, None);
        assert_eq!(p, [format!("S_FILE: {path} is empty")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
