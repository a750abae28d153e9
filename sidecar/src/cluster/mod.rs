//! Replicas of one MCP service behind a balancer. A session-based (legacy) session lives in the
//! one replica whose process holds its child; its id names that owner (`owner`), and a replica
//! that receives a request for a session it does not hold sends it on once, streaming, to the
//! owner (`forward`), as the TypeScript SDK's "local state with message routing" does. Stateless
//! (2026-07-28) requests need no owner and are always served where they arrive.
//!
//! Without `SIDECAR_SESSION_KEY` ids are plain random strings and nothing is forwarded: one replica
//! per service, as before.

use std::net::SocketAddr;

use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

pub mod forward;
pub mod owner;

/// Header that marks a request one replica forwarded to another (the loop guard: a forwarded
/// request is never forwarded again).
pub const FORWARDED: &str = "mcp-forwarded";

/// Settings of the replica set (`Debug` shows no key: `SecretSlice` redacts it).
#[derive(Debug, Default)]
pub struct Settings {
    /// `SIDECAR_SESSION_KEY`: shared by the replicas of one service.
    pub key: Option<SecretSlice<u8>>,
    /// `SIDECAR_ADVERTISE_URL`: `http://host:port` other replicas reach this one at; `None`: the
    /// local address of the connection that carried `initialize`.
    pub advertise: Option<String>,
    /// `SIDECAR_FORWARD_SESSIONS`.
    pub forward: bool,
}

/// Where a request that names a session is served.
#[derive(Debug, PartialEq, Eq)]
pub enum Place {
    /// This replica: the session is here, or the id is not a sealed one (the session handling
    /// answers it as usual: 404 for an id it does not know).
    Here,
    /// Another replica, at this address.
    Owner(String),
    /// Nowhere: this replica owned the session and no longer holds it, the request was forwarded
    /// already, or forwarding is off. 404, so that the client starts a new session (MCP spec
    /// "Transports" > "Session Management").
    Gone,
}

pub struct Cluster {
    settings: Settings,
    /// What the replicas of this service have in common and other services do not: a digest of
    /// the MCP server command they run (`owner`).
    scope: [u8; 32],
    client: forward::Client,
}

impl Cluster {
    pub fn new(settings: Settings, command: &[String]) -> Self {
        let mut digest = Sha256::new();
        for part in command {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        Self {
            settings,
            scope: digest.finalize().into(),
            client: forward::client(),
        }
    }

    /// This replica's address as sealed into the ids of sessions started on a connection that
    /// arrived at local address `via`.
    fn address(&self, via: SocketAddr) -> String {
        self.settings
            .advertise
            .clone()
            .unwrap_or_else(|| format!("http://{via}"))
    }

    /// The id of a new session (`random`: a fresh id from the CSPRNG) started on a connection
    /// that arrived at `via`: sealed with this replica's address when the replicas share a key.
    pub fn session_id(&self, random: String, via: SocketAddr) -> String {
        match &self.settings.key {
            Some(key) => owner::seal(
                key.expose_secret(),
                &self.scope,
                &random,
                &self.address(via),
            ),
            None => random,
        }
    }

    /// Where the session `id` is served; `held`: this replica holds it; `forwarded`: the request
    /// carries `Mcp-Forwarded`; `via`: the local address the request arrived at.
    pub fn place(&self, id: &str, held: bool, forwarded: bool, via: SocketAddr) -> Place {
        let Some(key) = &self.settings.key else {
            return Place::Here;
        };
        if held {
            return Place::Here;
        }
        let Some(owner) = owner::open(key.expose_secret(), &self.scope, id) else {
            return Place::Here;
        };
        if owner == self.address(via) || forwarded || !self.settings.forward {
            return Place::Gone;
        }
        Place::Owner(owner)
    }

    pub fn client(&self) -> &forward::Client {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn cluster(key: bool, forward: bool) -> Cluster {
        let settings = Settings {
            key: key.then(|| SecretSlice::from(KEY.to_vec())),
            advertise: None,
            forward,
        };
        Cluster::new(settings, &["mcp-server-time".to_owned()])
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn places_follow_the_sealed_owner() {
        let c = cluster(true, true);
        let id = c.session_id("r".into(), addr(1));
        assert_eq!(c.place(&id, true, false, addr(2)), Place::Here);
        assert_eq!(
            c.place(&id, false, false, addr(2)),
            Place::Owner("http://127.0.0.1:1".into())
        );
        // The owner itself no longer holds it; a forwarded request is never sent on again.
        assert_eq!(c.place(&id, false, false, addr(1)), Place::Gone);
        assert_eq!(c.place(&id, false, true, addr(2)), Place::Gone);
        assert_eq!(c.place("forged.id.x", false, false, addr(2)), Place::Here);
        assert_eq!(
            cluster(true, false).place(&id, false, false, addr(2)),
            Place::Gone
        );
    }

    #[test]
    fn without_a_key_ids_stay_plain_and_nothing_moves() {
        let c = cluster(false, true);
        assert_eq!(c.session_id("plain".into(), addr(1)), "plain");
        assert_eq!(c.place("plain", false, false, addr(2)), Place::Here);
    }
}
