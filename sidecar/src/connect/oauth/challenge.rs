//! The `WWW-Authenticate: Bearer ...` challenge of a 401 (RFC 6750 §3, RFC 9728 §5.1): its
//! auth-params, of which a client needs `resource_metadata` (where discovery starts) and `scope`
//! (what to ask for). Pure.

/// The auth-params of the first `Bearer` challenge, names lowercased (RFC 9110 §11.2).
pub fn bearer_params(header: &str) -> Vec<(String, String)> {
    let Some(at) = header.to_ascii_lowercase().find("bearer") else {
        return Vec::new();
    };
    let mut rest = header[at + "bearer".len()..].chars().peekable();
    let mut params = Vec::new();
    loop {
        while rest.peek().is_some_and(|c| *c == ' ' || *c == ',') {
            rest.next();
        }
        let name: String = rest
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if name.is_empty() || name.contains(' ') {
            // No more params (or the next challenge's scheme).
            return params;
        }
        let mut value = String::new();
        if rest.peek() == Some(&'"') {
            rest.next();
            while let Some(c) = rest.next() {
                match c {
                    '\\' => value.extend(rest.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = rest
                .by_ref()
                .take_while(|c| *c != ',')
                .collect::<String>()
                .trim()
                .to_owned();
        }
        params.push((name, value));
    }
}

/// One auth-param of the `Bearer` challenge.
pub fn param(header: &str, name: &str) -> Option<String> {
    bearer_params(header)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn quoted_and_token_params() {
        let h = r#"Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource/time/mcp", scope="mcp", error=invalid_token"#;
        assert_eq!(
            param(h, "resource_metadata").unwrap(),
            "https://gw.example/.well-known/oauth-protected-resource/time/mcp"
        );
        assert_eq!(param(h, "scope").unwrap(), "mcp");
        assert_eq!(param(h, "error").unwrap(), "invalid_token");
        assert_eq!(
            param(r#"bearer Scope="a \"b\"""#, "scope").unwrap(),
            r#"a "b""#
        );
        assert!(param("Basic realm=\"x\"", "scope").is_none());
        assert!(bearer_params("Bearer").is_empty());
    }
}
