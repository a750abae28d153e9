//! Requests of the stateless revision (MCP 2026-07-28 "Transports" > "Streamable HTTP" >
//! "Standard headers"): no session; `MCP-Protocol-Version` repeats `_meta`'s version,
//! `Mcp-Method` the method and `Mcp-Name` the tool, prompt or resource named in the body, in the
//! base64 sentinel form when the value cannot travel as a header as it is ("Value encoding").

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::value::RawValue;

use super::error::ConnectError;
use super::gateway::{ACCEPT_BOTH, headers};
use crate::protocol::modern::{self, Params};

/// The routing of one stateless request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub version: String,
    pub method: String,
    pub name: Option<String>,
}

/// The routing headers of a stateless request; its `_meta` must be valid (as the gateway
/// checks it too, an invalid one is answered here with the same error).
pub fn stateless(method: &str, params: Option<&RawValue>) -> Result<Option<Route>, ConnectError> {
    let invalid = |e: crate::protocol::jsonrpc::RpcError| ConnectError::Invalid(e);
    let p = Params::parse(params).map_err(invalid)?;
    let meta = modern::request_meta(&p).map_err(invalid)?;
    Ok(Some(Route {
        version: meta.version,
        method: method.to_owned(),
        name: p.routed_name(method).map_err(invalid)?,
    }))
}

/// A header value as it is, or `=?base64?...?=` for text a header cannot carry.
pub fn header_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !v.starts_with(' ')
        && !v.ends_with(' ')
        && !v.starts_with("=?");
    if plain {
        v.to_owned()
    } else {
        format!("=?base64?{}?=", STANDARD.encode(v.as_bytes()))
    }
}

impl Route {
    pub fn headers(&self) -> HeaderMap {
        let mut h = headers(ACCEPT_BOTH, None, Some(&self.version));
        for (name, value) in [
            ("mcp-method", Some(&self.method)),
            ("mcp-name", self.name.as_ref()),
        ] {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&header_value(v)).ok()) {
                h.insert(name, v);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn names_travel_as_they_are_or_encoded() {
        assert_eq!(header_value("get_time"), "get_time");
        let odd = "wetter in zürich";
        let encoded = header_value(odd);
        assert_eq!(modern::decode_header_value(&encoded).unwrap(), odd);
        assert_eq!(
            modern::decode_header_value(&header_value(" x")).unwrap(),
            " x"
        );
    }

    #[test]
    fn routing_comes_from_the_body() {
        let params = RawValue::from_string(
            r#"{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}"#.into(),
        )
        .unwrap();
        let r = stateless("tools/call", Some(&params)).unwrap().unwrap();
        assert_eq!(r.version, "2026-07-28");
        assert_eq!(r.name.as_deref(), Some("echo"));
        let h = r.headers();
        assert_eq!(h["mcp-method"], "tools/call");
        assert_eq!(h["mcp-protocol-version"], "2026-07-28");
        assert!(stateless("tools/list", None).is_err());
    }
}
