//! The stateless revision (2026-07-28, "modern era"): every request carries its protocol version
//! and client capabilities in `params._meta` (MCP 2026-07-28 "Base Protocol" > "Per-request
//! protocol fields"), and the HTTP routing headers repeat what the body says (MCP 2026-07-28
//! "Transports" > "Streamable HTTP" > "Standard headers"). Pure: the rules as functions, so the
//! tests and fuzz targets call them directly.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::members::Members;
use crate::protocol::version;

/// `_meta` keys of a request (MCP 2026-07-28 `RequestMetaObject`).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key of a result naming the server software (`ResultMetaObject`).
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// `_meta` key tying a notification to its `subscriptions/listen` stream.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The routing headers (MCP 2026-07-28 "Transports" > "Standard headers").
pub const HEADER_VERSION: &str = "mcp-protocol-version";
pub const HEADER_METHOD: &str = "mcp-method";
pub const HEADER_NAME: &str = "mcp-name";

/// Client requests of the stateless revision that a child serves (the rest of the vocabulary,
/// `server/discover` and `subscriptions/listen`, the sidecar answers itself). Anything else is
/// -32601 with 404, including what the revision removed (`initialize`, `ping`,
/// `logging/setLevel`, `resources/subscribe`, `resources/unsubscribe`).
pub const FORWARDED: [&str; 8] = [
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "completion/complete",
];

/// Methods whose result may be an `InputRequiredResult` (MCP 2026-07-28 "Multi Round-Trip
/// Requests": "prompts/get, resources/read, tools/call").
pub const INPUT_CAPABLE: [&str; 3] = ["tools/call", "prompts/get", "resources/read"];

/// The client capabilities of one request that decide which server-to-client requests it can
/// take (MCP 2026-07-28 `ClientCapabilities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    pub sampling: bool,
    pub elicitation: bool,
    pub roots: bool,
}

impl ClientCaps {
    /// A legacy session's client: what it declared in `initialize` the child knows itself.
    pub const ALL: Self = Self {
        sampling: true,
        elicitation: true,
        roots: true,
    };

    /// Whether the client can answer a server-to-client request of `method`; `None` when the
    /// method is not one the stateless revision lets a server ask for (`InputRequest`).
    pub fn allows(self, method: &str) -> Option<bool> {
        match method {
            "sampling/createMessage" => Some(self.sampling),
            "elicitation/create" => Some(self.elicitation),
            "roots/list" => Some(self.roots),
            _ => None,
        }
    }

    /// The capability a server-to-client request needs, as a `ClientCapabilities` object
    /// (`MissingRequiredClientCapabilityError.data.requiredCapabilities`).
    pub fn required_for(method: &str) -> serde_json::Value {
        let name = match method {
            "sampling/createMessage" => "sampling",
            "elicitation/create" => "elicitation",
            _ => "roots",
        };
        json!({ name: {} })
    }
}

/// What `params._meta` of a stateless request says.
#[derive(Debug)]
pub struct RequestMeta<'a> {
    pub version: String,
    pub caps: ClientCaps,
    /// `io.modelcontextprotocol/logLevel`: without it the server sends no log messages.
    pub log_level: Option<String>,
    /// Every member of `_meta` (what is passed on to a child is chosen from these).
    pub members: Members<'a>,
}

/// The `params` of a stateless request: the members the sidecar looks at, and all of them (what
/// is passed on to a child).
#[derive(Debug, Default)]
pub struct Params<'a> {
    pub meta: Option<&'a RawValue>,
    pub name: Option<&'a RawValue>,
    pub uri: Option<&'a RawValue>,
    pub arguments: Option<&'a RawValue>,
    /// Present even when `null` (which is not a valid value, unlike absence).
    pub input_responses: Option<&'a RawValue>,
    pub request_state: Option<&'a RawValue>,
    /// `subscriptions/listen`'s filter.
    pub notifications: Option<&'a RawValue>,
    pub members: Members<'a>,
}

impl<'a> Params<'a> {
    /// Parses `params`; absent is an empty object, anything but an object is invalid (-32602).
    pub fn parse(params: Option<&'a RawValue>) -> Result<Self, RpcError> {
        let Some(raw) = params else {
            return Ok(Self::default());
        };
        if !raw.get().trim_start().starts_with('{') {
            return Err(invalid_params("params must be an object"));
        }
        let members =
            Members::parse(raw.get()).map_err(|e| invalid_params(format!("params: {e}")))?;
        Ok(Self {
            meta: members.get("_meta"),
            name: members.get("name"),
            uri: members.get("uri"),
            arguments: members.get("arguments"),
            input_responses: members.get("inputResponses"),
            request_state: members.get("requestState"),
            notifications: members.get("notifications"),
            members,
        })
    }

    /// The body value `Mcp-Name` must repeat: `name` of tools/call and prompts/get, `uri` of
    /// resources/read (MCP 2026-07-28 "Standard headers"). `Err` when it is not a string.
    pub fn routed_name(&self, method: &str) -> Result<Option<String>, RpcError> {
        let raw = match method {
            "tools/call" | "prompts/get" => self.name,
            "resources/read" => self.uri,
            _ => return Ok(None),
        };
        raw.map(|r| {
            serde_json::from_str::<String>(r.get())
                .map_err(|_| invalid_params(format!("params of {method}: expected a string")))
        })
        .transpose()
    }
}

fn invalid_params(message: impl Into<Cow<'static, str>>) -> RpcError {
    RpcError::new(jsonrpc::INVALID_PARAMS, message)
}

/// Whether a request without a session is of the stateless revision: the header names it (or a
/// later one), or `_meta` carries a protocol version, or the method exists only there.
pub fn is_stateless(version_header: Option<&str>, method: &str, params: Option<&RawValue>) -> bool {
    version_header.is_some_and(version::is_modern)
        || matches!(method, "server/discover" | "subscriptions/listen")
        || params.is_some_and(|p| p.get().contains(META_PROTOCOL_VERSION))
}

/// Reads `params._meta` (MCP 2026-07-28 "Per-request protocol fields"): it must be an object with
/// the protocol version and the client capabilities (client info is a SHOULD and optional);
/// otherwise -32602.
pub fn request_meta<'a>(params: &Params<'a>) -> Result<RequestMeta<'a>, RpcError> {
    #[derive(Deserialize)]
    struct Caps<'a> {
        #[serde(borrow)]
        sampling: Option<&'a RawValue>,
        #[serde(borrow)]
        elicitation: Option<&'a RawValue>,
        #[serde(borrow)]
        roots: Option<&'a RawValue>,
    }
    let required = || {
        invalid_params(format!(
            "params._meta must be an object carrying {META_PROTOCOL_VERSION} and {META_CLIENT_CAPABILITIES}"
        ))
    };
    let raw = params.meta.ok_or_else(required)?;
    if !raw.get().trim_start().starts_with('{') {
        return Err(required());
    }
    let members = Members::parse(raw.get()).map_err(|_| required())?;
    let (Some(version), Some(caps)) = (
        members.get(META_PROTOCOL_VERSION),
        members.get(META_CLIENT_CAPABILITIES),
    ) else {
        return Err(required());
    };
    let version = serde_json::from_str::<String>(version.get())
        .map_err(|_| invalid_params(format!("{META_PROTOCOL_VERSION} must be a string")))?;
    let not_object = || invalid_params(format!("{META_CLIENT_CAPABILITIES} must be an object"));
    if !caps.get().trim_start().starts_with('{') {
        return Err(not_object());
    }
    let caps: Caps = serde_json::from_str(caps.get()).map_err(|_| not_object())?;
    let declared = |c: Option<&RawValue>| c.is_some_and(|v| v.get() != "null");
    let log_level = members
        .get(META_LOG_LEVEL)
        .and_then(|l| serde_json::from_str::<String>(l.get()).ok());
    Ok(RequestMeta {
        version,
        caps: ClientCaps {
            sampling: declared(caps.sampling),
            elicitation: declared(caps.elicitation),
            roots: declared(caps.roots),
        },
        log_level,
        members,
    })
}

/// The values of one routing header: each occurrence, trimmed (RFC 9110 §5.5: whitespace around a
/// field value is not part of it).
pub type HeaderValues<'a> = Vec<&'a str>;

/// The routing headers of a request as sent.
#[derive(Debug, Default)]
pub struct RoutingHeaders<'a> {
    pub version: HeaderValues<'a>,
    pub method: HeaderValues<'a>,
    pub name: HeaderValues<'a>,
}

/// MCP 2026-07-28 "Standard headers": `MCP-Protocol-Version` MUST equal `_meta`'s version,
/// `Mcp-Method` the body's method and `Mcp-Name` the routed name, exactly (values are
/// case-sensitive); a missing, repeated or different header is -32020 (400).
pub fn check_headers(
    headers: &RoutingHeaders<'_>,
    method: &str,
    meta_version: &str,
    name: Option<&str>,
) -> Result<(), RpcError> {
    let mismatch =
        |what: &str| RpcError::new(jsonrpc::HEADER_MISMATCH, format!("header mismatch: {what}"));
    fn single<'v>(values: &[&'v str], header: &str) -> Result<Option<&'v str>, RpcError> {
        match values {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(RpcError::new(
                jsonrpc::HEADER_MISMATCH,
                format!("header mismatch: {header} appears more than once"),
            )),
        }
    }
    let version = single(&headers.version, "MCP-Protocol-Version")?;
    if version != Some(meta_version) {
        return Err(mismatch(&format!(
            "MCP-Protocol-Version {version:?} does not equal params._meta {META_PROTOCOL_VERSION} {meta_version:?}"
        )));
    }
    let header_method = single(&headers.method, "Mcp-Method")?;
    if header_method != Some(method) {
        return Err(mismatch(&format!(
            "Mcp-Method {header_method:?} does not equal the body's method {method:?}"
        )));
    }
    let header_name = single(&headers.name, "Mcp-Name")?;
    if let Some(name) = name {
        let decoded = header_name.and_then(decode_header_value);
        if decoded.as_deref() != Some(name) {
            return Err(mismatch(&format!(
                "Mcp-Name {header_name:?} does not equal the body's {name:?}"
            )));
        }
    }
    Ok(())
}

/// A header value as the client meant it: verbatim, or the UTF-8 text inside the
/// `=?base64?...?=` sentinel (MCP 2026-07-28 "Standard headers" > "Value encoding"). A malformed
/// sentinel decodes to nothing, so it never matches by accident.
pub fn decode_header_value(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Some(value.to_owned());
    };
    let bytes = STANDARD.decode(payload).ok()?;
    // Only the canonical encoding counts (no stray bits the decoder would ignore).
    if STANDARD.encode(&bytes) != payload {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The revision must be one this sidecar serves statelessly; otherwise -32022 naming the
/// supported revisions and echoing the requested one (MCP 2026-07-28 "Versioning").
pub fn check_version(requested: &str) -> Result<(), RpcError> {
    if requested == version::MODERN {
        return Ok(());
    }
    Err(RpcError::new(
        jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        format!("unsupported protocol version {requested:?}"),
    )
    .with_data(json!({ "supported": version::ALL, "requested": requested })))
}

/// The HTTP status of a stateless answer that is a JSON-RPC error (MCP 2026-07-28 "Transports" >
/// "Error responses"): the request's own faults are 400, an unknown method 404, anything else is
/// an answer like any other (200).
pub fn http_status(code: i64) -> u16 {
    match code {
        jsonrpc::PARSE_ERROR
        | jsonrpc::INVALID_REQUEST
        | jsonrpc::INVALID_PARAMS
        | jsonrpc::HEADER_MISMATCH
        | jsonrpc::MISSING_CAPABILITY
        | jsonrpc::UNSUPPORTED_PROTOCOL_VERSION => 400,
        jsonrpc::METHOD_NOT_FOUND => 404,
        _ => 200,
    }
}

#[cfg(test)]
#[path = "modern_tests.rs"]
mod tests;
