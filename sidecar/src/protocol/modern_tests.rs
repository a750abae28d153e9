//! The stateless revision's rules as pure functions: `_meta`, routing headers, versions, statuses,
//! result members.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_owned()).unwrap()
}

/// What `request_meta` reads, owned.
#[derive(Debug)]
struct Meta {
    version: String,
    caps: ClientCaps,
    log_level: Option<String>,
}

fn meta_of(params: &str) -> Result<Meta, RpcError> {
    let params = raw(params);
    let meta = request_meta(&Params::parse(Some(&params))?)?;
    Ok(Meta {
        version: meta.version,
        caps: meta.caps,
        log_level: meta.log_level,
    })
}

const META: &str = r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{},"roots":{"listChanged":true}}},"name":"echo"}"#;

#[test]
fn meta_needs_version_and_capabilities_and_nothing_else() {
    let meta = meta_of(META).unwrap();
    assert_eq!(meta.version, "2026-07-28");
    assert_eq!(
        meta.caps,
        ClientCaps {
            sampling: true,
            elicitation: false,
            roots: true
        }
    );
    assert_eq!(meta.log_level, None);
    for bad in [
        r#"{}"#,
        r#"{"_meta":[]}"#,
        r#"{"_meta":{"io.modelcontextprotocol/clientCapabilities":{}}}"#,
        r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#,
        r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":7,"io.modelcontextprotocol/clientCapabilities":{}}}"#,
        r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":"all"}}"#,
    ] {
        assert_eq!(
            meta_of(bad).unwrap_err().code,
            jsonrpc::INVALID_PARAMS,
            "{bad}"
        );
    }
    assert!(Params::parse(Some(&raw("[1]"))).is_err());
    let no_caps = meta_of(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"x","io.modelcontextprotocol/clientCapabilities":{"elicitation":null},"io.modelcontextprotocol/logLevel":"info"}}"#).unwrap();
    assert_eq!(no_caps.caps, ClientCaps::default());
    assert_eq!(no_caps.log_level.as_deref(), Some("info"));
}

fn headers<'a>(version: &[&'a str], method: &[&'a str], name: &[&'a str]) -> RoutingHeaders<'a> {
    RoutingHeaders {
        version: version.to_vec(),
        method: method.to_vec(),
        name: name.to_vec(),
    }
}

#[test]
fn routing_headers_must_repeat_the_body() {
    let v = "2026-07-28";
    let ok = |h: RoutingHeaders<'_>, name: Option<&str>| check_headers(&h, "tools/call", v, name);
    assert!(ok(headers(&[v], &["tools/call"], &["echo"]), Some("echo")).is_ok());
    // Base64 sentinel (non-ASCII names travel encoded).
    assert!(
        ok(
            headers(&[v], &["tools/call"], &["=?base64?w6ljaG8=?="]),
            Some("écho")
        )
        .is_ok()
    );
    // No name in the body: Mcp-Name is not compared.
    assert!(ok(headers(&[v], &["tools/call"], &[]), None).is_ok());
    for (h, name, what) in [
        (
            headers(&[], &["tools/call"], &["echo"]),
            Some("echo"),
            "no version header",
        ),
        (
            headers(&["2025-11-25"], &["tools/call"], &["echo"]),
            Some("echo"),
            "other version",
        ),
        (
            headers(&[v, v], &["tools/call"], &["echo"]),
            Some("echo"),
            "version twice",
        ),
        (
            headers(&[v], &[], &["echo"]),
            Some("echo"),
            "no method header",
        ),
        (
            headers(&[v], &["Tools/Call"], &["echo"]),
            Some("echo"),
            "method case differs",
        ),
        (
            headers(&[v], &["tools/list"], &["echo"]),
            Some("echo"),
            "other method",
        ),
        (
            headers(&[v], &["tools/call"], &[]),
            Some("echo"),
            "no name header",
        ),
        (
            headers(&[v], &["tools/call"], &["other"]),
            Some("echo"),
            "other name",
        ),
        (
            headers(&[v], &["tools/call"], &["=?base64?!!!?="]),
            Some("echo"),
            "bad sentinel",
        ),
    ] {
        assert_eq!(
            ok(h, name).unwrap_err().code,
            jsonrpc::HEADER_MISMATCH,
            "{what}"
        );
    }
}

#[test]
fn header_values_decode_only_canonical_base64() {
    assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
    assert_eq!(
        decode_header_value("=?base64?aGk=?=").as_deref(),
        Some("hi")
    );
    assert_eq!(decode_header_value("=?base64?aGl=?="), None, "stray bits");
    assert_eq!(decode_header_value("=?base64?/w==?="), None, "not UTF-8");
}

#[test]
fn names_come_from_the_method_specific_member() {
    let p = raw(r#"{"name":"n","uri":"u"}"#);
    let params = Params::parse(Some(&p)).unwrap();
    assert_eq!(
        params.routed_name("tools/call").unwrap().as_deref(),
        Some("n")
    );
    assert_eq!(
        params.routed_name("prompts/get").unwrap().as_deref(),
        Some("n")
    );
    assert_eq!(
        params.routed_name("resources/read").unwrap().as_deref(),
        Some("u")
    );
    assert_eq!(params.routed_name("tools/list").unwrap(), None);
    let p = raw(r#"{"name":5}"#);
    assert!(
        Params::parse(Some(&p))
            .unwrap()
            .routed_name("tools/call")
            .is_err()
    );
}

#[test]
fn versions_statuses_and_era() {
    assert!(check_version("2026-07-28").is_ok());
    let e = check_version("v999.0.0").unwrap_err();
    assert_eq!(e.code, jsonrpc::UNSUPPORTED_PROTOCOL_VERSION);
    let data = e.data.unwrap();
    assert_eq!(data["requested"], "v999.0.0");
    assert!(
        data["supported"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    assert_eq!(http_status(jsonrpc::METHOD_NOT_FOUND), 404);
    for code in [-32700, -32600, -32602, -32020, -32021, -32022] {
        assert_eq!(http_status(code), 400, "{code}");
    }
    assert_eq!(http_status(jsonrpc::INTERNAL_ERROR), 200);
    assert!(is_stateless(Some("2026-07-28"), "initialize", None));
    assert!(is_stateless(None, "server/discover", None));
    let p = raw(META);
    assert!(is_stateless(None, "tools/call", Some(&p)));
    assert!(!is_stateless(Some("2025-11-25"), "initialize", None));
    assert!(!is_stateless(None, "tools/list", None));
}

#[test]
fn capabilities_name_what_a_server_request_needs() {
    let caps = ClientCaps {
        sampling: true,
        ..ClientCaps::default()
    };
    assert_eq!(caps.allows("sampling/createMessage"), Some(true));
    assert_eq!(caps.allows("elicitation/create"), Some(false));
    assert_eq!(caps.allows("ping"), None);
    assert_eq!(
        ClientCaps::required_for("elicitation/create"),
        json!({"elicitation": {}})
    );
}
