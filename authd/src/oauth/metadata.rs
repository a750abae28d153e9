//! Discovery documents: authorization-server metadata (RFC 8414, also served at the OpenID
//! discovery path, client requirement A1 (docs/architecture/client-requirements.md)) and
//! protected-resource metadata (RFC 9728) for every MCP resource.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{client, client_assertion, scope};
use crate::error::json_error;
use crate::state::AppState;

/// RFC 8414 §2; advertises only what is implemented (client requirement A2).
pub async fn authorization_server(State(app): State<AppState>) -> Json<serde_json::Value> {
    let iss = app.issuer();
    Json(serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "registration_endpoint": format!("{iss}/register"),
        "jwks_uri": format!("{iss}/jwks"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        // RFC 8628 §4.
        "device_authorization_endpoint": format!("{iss}/device_authorization"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": client::GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": client::AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": client::AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": client::AUTH_METHODS,
        // RFC 8414 §2: required once private_key_jwt is listed.
        "token_endpoint_auth_signing_alg_values_supported": client_assertion::SIGNING_ALGS,
        "revocation_endpoint_auth_signing_alg_values_supported": client_assertion::SIGNING_ALGS,
        "introspection_endpoint_auth_signing_alg_values_supported": client_assertion::SIGNING_ALGS,
        "scopes_supported": scope::SUPPORTED,
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    }))
}

/// `found`: the service and the resource URL to publish for it (on the origin asked, RFC 9728 §3.3).
fn protected_resource(app: &AppState, found: Option<(&str, &str)>) -> Response {
    let Some((service, resource)) = found else {
        return json_error(
            StatusCode::NOT_FOUND,
            "invalid_target",
            "no MCP resource at this path",
        );
    };
    // RFC 9728 §2; exactly one authorization server (client requirement P2). `scopes_supported` is
    // what the resource needs, without `offline_access` (MCP authorization 2026-07-28 "Refresh
    // Tokens").
    Json(serde_json::json!({
        "resource": resource,
        "authorization_servers": [app.issuer()],
        "scopes_supported": scope::REQUIRED,
        "bearer_methods_supported": ["header"],
        "resource_name": service,
    }))
    .into_response()
}

fn forwarded_host(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(axum::http::header::HOST))
        .and_then(|v| v.to_str().ok())
}

/// `GET /.well-known/oauth-protected-resource/{*path}` (RFC 9728 §3.1 path-suffixed form).
pub async fn protected_resource_suffixed(
    State(app): State<AppState>,
    Path(suffix): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = app
        .config
        .resources
        .service_for_metadata(forwarded_host(&headers), &format!("/{suffix}"));
    protected_resource(&app, found)
}

/// `GET /.well-known/oauth-protected-resource` (host routing: one resource per host, client
/// requirement P1).
pub async fn protected_resource_root(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let found = app
        .config
        .resources
        .service_for_metadata(forwarded_host(&headers), "");
    protected_resource(&app, found)
}
