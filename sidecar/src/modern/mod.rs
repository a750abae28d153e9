//! The stateless revision (2026-07-28, "modern era") on the same endpoint as the session-based
//! ones: no `initialize` and no session; every request carries its version and client
//! capabilities in `_meta` and is served by children the sidecar initialized itself (see
//! `pools`); `server/discover` and `subscriptions/listen` are answered by the sidecar; the
//! children's server-to-client requests become multi-round-trip results (`mrtr`).

use crate::modern::mrtr::HeldCalls;
use crate::modern::pools::Pools;

pub mod discover;
pub mod exchange;
pub mod hub;
pub mod listen;
pub mod mrtr;
pub mod pools;
pub mod post;

/// The state of the stateless era.
pub struct Modern {
    pub pools: Pools,
    pub held: HeldCalls,
}
