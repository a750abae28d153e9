//! Where children come from: the warm pool of spawned, not yet initialized children (for new
//! sessions) and the shared pool of children the sidecar initialized itself.

pub mod shared;
pub mod warm;
