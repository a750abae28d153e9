//! The OAuth 2.1 authorization server: one module per endpoint or protocol rule.

pub mod authorize;
pub mod callback;
pub mod cimd;
pub mod client;
pub mod client_assertion;
pub mod client_auth;
pub mod code;
pub mod consent;
pub mod device;
pub mod fetch;
pub mod introspect;
pub mod login;
pub mod metadata;
pub mod params;
pub mod pending;
pub mod pkce;
pub mod prompt;
pub mod redirect;
pub mod register;
pub mod response;
pub mod revoke;
pub mod scope;
pub mod token;
