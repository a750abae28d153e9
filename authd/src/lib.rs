//! authd: the gateway's OAuth 2.1 authorization server and forward-auth verifier
//! (docs/architecture/overview.md#three-roles, docs/api/endpoints.md#authd; `authd/CONTRACT.md` is
//! what the rest of the gateway relies on).
//!
//! A library so that the binary (`src/main.rs`, only the command line) and fuzz targets share one
//! implementation: the pure parsing functions are reachable from outside, e.g.
//! `oauth::authorize::parse_query` and `oauth::authorize::check_request` (`/authorize`
//! parameters), `oauth::token::request::TokenForm::parse` (`/token` parameters),
//! `oauth::redirect` (redirect URI rules), `resource::normalize` (RFC 8707 `resource`),
//! `oauth::client::parse_metadata` and `oauth::client::validate` (registration metadata) and
//! `credentials::bearer` (the token of an `Authorization` header at `/verify`).

pub mod admin;
pub mod admin_listing;
pub mod allow;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod error;
pub mod html;
pub mod listener;
pub mod oauth;
pub mod resource;
pub mod router;
pub mod serve;
pub mod state;
pub mod status_page;
pub mod store;
pub mod token;
pub mod upstream;
pub mod verify;
