//! Access tokens: signing keys and the JWK set (`keys`), JWT claims, signing and checking (`jwt`).

pub mod cache;
pub mod jwt;
pub mod keys;
