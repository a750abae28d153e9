//! The header rules of the MCP endpoint: `Accept` and `Content-Type` negotiation, `Origin` and
//! `Host` (DNS rebinding, MCP spec "Transports" > "Security Warning"), `MCP-Protocol-Version` of
//! sessions, and the routing headers of the stateless revision (`MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`, MCP 2026-07-28 "Transports" > "Standard headers").
//!
//! Properties: `Accept` does not depend on the order of its items; only what the allow lists or
//! the loopback names say passes `Origin` and `Host`, and only a well-formed `Host`; a request
//! whose headers a conforming client derived from its body always passes the routing checks,
//! and whatever passes them agrees with the body.
//!
//! Input: `Name: value` lines, an empty line, then a JSON-RPC body.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sidecar::protocol::jsonrpc::{Envelope, Kind};
use sidecar::protocol::modern::{self, Params, RoutingHeaders};
use sidecar::protocol::{headers, param_headers, version};

const ORIGINS: [&str; 2] = ["https://claude.ai", "http://127.0.0.1:8080"];
const HOSTS: [&str; 2] = ["mcp.example.com", "gw.example.com:8443"];

fn first<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn values<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().map(str::trim).unwrap_or("\u{fffd}"))
        .collect()
}

/// RFC 9110 §7.2 `Host = uri-host [ ":" port ]` with `port = *DIGIT`; the name part.
fn host_name(host: &str) -> Option<&str> {
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        (&host[..=end], &host[end + 1..])
    } else {
        match host.rsplit_once(':') {
            Some((name, _)) => (name, &host[name.len()..]),
            None => (host, ""),
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    (port_ok && !name.contains(['@', '/', '?', '#', ' '])).then_some(name)
}

/// How a conforming client writes a value into a header: as it is when it is plain visible
/// ASCII, else in the base64 sentinel (MCP 2026-07-28 "Standard headers" > "Value encoding").
fn header_form(value: &str) -> String {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.starts_with("=?base64?");
    if plain {
        value.to_owned()
    } else {
        format!("=?base64?{}?=", STANDARD.encode(value))
    }
}

fn check_accept(h: &HeaderMap) {
    let accept = first(h, "accept");
    let parsed = headers::accepts(accept);
    if let Some(a) = accept {
        let reversed: Vec<&str> = a.split(',').rev().collect();
        assert_eq!(
            headers::accepts(Some(&reversed.join(","))),
            parsed,
            "order of {a:?}"
        );
    }
    if let Some(ct) = first(h, "content-type")
        && headers::is_json(Some(ct))
    {
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        assert_eq!(media, "application/json");
    }
}

fn check_origin_and_host(h: &HeaderMap) {
    let allowed: Vec<String> = ORIGINS.iter().map(|s| (*s).to_owned()).collect();
    if let Some(origin) = first(h, "origin") {
        let norm = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if headers::origin_allowed(origin, &allowed) {
            assert!(
                ORIGINS.contains(&norm.as_str()),
                "origin {origin:?} let through"
            );
        }
        if headers::own_loopback_origin(origin, 3000) {
            assert!(
                [
                    "http://localhost:3000",
                    "http://127.0.0.1:3000",
                    "http://[::1]:3000"
                ]
                .contains(&norm.as_str())
            );
        }
    }
    let hosts: Vec<String> = HOSTS.iter().map(|s| (*s).to_owned()).collect();
    if let Some(host) = first(h, "host")
        && headers::host_allowed(host, &hosts)
    {
        let host = host.trim().to_ascii_lowercase();
        let Some(name) = host_name(&host) else {
            panic!("a malformed Host {host:?} let through");
        };
        assert!(
            matches!(name, "localhost" | "127.0.0.1" | "[::1]")
                || name == HOSTS[0]
                || host == HOSTS[1],
            "host {host:?} let through"
        );
    }
}

fn check_version(h: &HeaderMap) {
    let header = first(h, "mcp-protocol-version");
    for negotiated in version::LEGACY {
        if version::check(header, negotiated).is_ok() {
            assert!(header.is_none_or(|v| v.trim() == negotiated));
        }
    }
}

/// The routing headers of a stateless request.
fn check_routing(h: &HeaderMap, env: &Envelope<'_>) {
    let Ok(params) = Params::parse(env.params) else {
        return;
    };
    let Ok(meta) = modern::request_meta(&params) else {
        return;
    };
    let method = env.method();
    let Ok(name) = params.routed_name(method) else {
        return;
    };
    let sent = RoutingHeaders {
        version: values(h, "mcp-protocol-version"),
        method: values(h, "mcp-method"),
        name: values(h, "mcp-name"),
    };
    if modern::check_headers(&sent, method, &meta.version, name.as_deref()).is_ok() {
        assert_eq!(sent.version, [meta.version.as_str()]);
        assert_eq!(sent.method, [method]);
        if let Some(name) = &name {
            let decoded = sent
                .name
                .first()
                .and_then(|n| modern::decode_header_value(n));
            assert_eq!(decoded.as_deref(), Some(name.as_str()));
        }
    }
    // What a conforming client sends always passes.
    let mut own = HeaderMap::new();
    let mut put = |n: &'static str, v: &str| match HeaderValue::from_str(&header_form(v)) {
        Ok(v) => {
            own.append(n, v);
            true
        }
        Err(_) => false,
    };
    if !(put("mcp-protocol-version", &meta.version)
        && put("mcp-method", method)
        && name.as_deref().is_none_or(|n| put("mcp-name", n)))
    {
        return;
    }
    let derived = RoutingHeaders {
        version: values(&own, "mcp-protocol-version"),
        method: values(&own, "mcp-method"),
        name: values(&own, "mcp-name"),
    };
    let version_plain = header_form(&meta.version) == meta.version;
    let method_plain = header_form(method) == method;
    if version_plain && method_plain {
        if let Err(e) = modern::check_headers(&derived, method, &meta.version, name.as_deref()) {
            panic!("a conforming client's headers refused: {e:?}");
        }
    }
}

/// `Mcp-Param-*` against the tool's schema (`params.inputSchema` of the input, else a fixed one).
fn check_param_headers(h: &HeaderMap, params: &Value) {
    let fixed = json!({"type": "object", "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "dry": {"type": "boolean", "x-mcp-header": "Dry"},
        "nested": {"type": "object", "properties": {
            "id": {"type": "string", "x-mcp-header": "Nested-Id"}}}}});
    let schema = params.get("inputSchema").unwrap_or(&fixed);
    let Some(annotations) = param_headers::annotations(schema) else {
        return;
    };
    let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
    let sent: Vec<(String, String)> = h
        .iter()
        .filter(|(n, _)| n.as_str().starts_with(param_headers::PREFIX))
        .map(|(n, v)| {
            let v = v.to_str().map(str::trim).unwrap_or("\u{fffd}");
            (n.as_str().to_owned(), v.to_owned())
        })
        .collect();
    let _ = param_headers::check(&annotations, &arguments, &sent);
    // The headers a conforming client derives from the arguments pass.
    let mut derived = Vec::new();
    for a in &annotations {
        let value = a
            .path
            .iter()
            .try_fold(&arguments, |node, key| node.get(key))
            .filter(|v| !v.is_null());
        let text = match value {
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        let name = format!("{}{}", param_headers::PREFIX, a.token.to_ascii_lowercase());
        derived.push((name, header_form(&text)));
    }
    if let Err(e) = param_headers::check(&annotations, &arguments, &derived) {
        panic!("a conforming client's Mcp-Param headers refused: {e:?} {derived:?} {arguments}");
    }
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut h = HeaderMap::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        h.append(name, value);
    }
    check_accept(&h);
    check_origin_and_host(&h);
    check_version(&h);
    let Ok(env) = Envelope::parse(body) else {
        return;
    };
    if env.kind() != Kind::Request {
        return;
    }
    check_routing(&h, &env);
    if let Some(params) = env
        .params
        .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
    {
        check_param_headers(&h, &params);
    }
});
