//! Session ids that name their owner: the replica whose process holds the session's child. No
//! balancer can route on `Mcp-Session-Id` reliably (the replica that answers `initialize` mints the
//! id after the balancer has chosen), so any replica must be able to tell, from the id alone, where
//! the session lives; and a client must not be able to make a replica send its requests to an
//! address of the client's choosing. The owner's address is therefore sealed into the id with an
//! HMAC-SHA256 tag (RFC 2104) under `SIDECAR_SESSION_KEY`, a key the replicas of one service share.
//! The tag also covers the service (`scope`: a digest of the MCP server command every replica of it
//! runs), so that where one key serves several services, an id of one is refused by the others
//! instead of being forwarded to a service the client was not authorized for. Pure: the key, the
//! scope, the randomness and the address are inputs.
//!
//! Wire form: `<random, base64url>.<owner address, base64url>.<tag, base64url>`: visible ASCII
//! only, as the MCP spec requires of a session id ("Transports" > "Session Management").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Domain separation: this key seals nothing else.
const CONTEXT: &[u8] = b"mcp-sidecar session owner v1";
/// Longest owner address accepted when opening an id (an advertised URL is short).
const MAX_OWNER: usize = 256;

fn mac(key: &[u8], scope: &[u8], random: &str, owner: &str) -> Hmac<Sha256> {
    // Any key length is valid for HMAC (RFC 2104 §2): `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    // Length-prefixed fields: no two different inputs share an encoding.
    for field in [CONTEXT, scope, random.as_bytes(), owner.as_bytes()] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field);
    }
    mac
}

/// The session id for `random` (a fresh id from the CSPRNG) of the service `scope`, owned by the
/// replica at `owner`.
pub fn seal(key: &[u8], scope: &[u8], random: &str, owner: &str) -> String {
    let tag = URL_SAFE_NO_PAD.encode(mac(key, scope, random, owner).finalize().into_bytes());
    format!("{random}.{}.{tag}", URL_SAFE_NO_PAD.encode(owner))
}

/// The owner sealed into `id`, if the id is well-formed and its tag is genuine (compared in
/// constant time by `verify_slice`). Anything else, an id of an unsealed replica included, is
/// `None`: no such session here or anywhere.
pub fn open(key: &[u8], scope: &[u8], id: &str) -> Option<String> {
    let mut parts = id.split('.');
    let (random, owner, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || owner.len() > MAX_OWNER * 4 / 3 + 4 {
        return None;
    }
    let owner = String::from_utf8(URL_SAFE_NO_PAD.decode(owner).ok()?).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    mac(key, scope, random, &owner).verify_slice(&tag).ok()?;
    Some(owner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OWNER: &str = "http://10.0.0.7:3000";
    const SCOPE: &[u8] = b"mcp-server-time";

    #[test]
    fn a_sealed_id_names_its_owner_in_visible_ascii() {
        let id = seal(KEY, SCOPE, "r4nd0m", OWNER);
        assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{id}");
        assert_eq!(open(KEY, SCOPE, &id).as_deref(), Some(OWNER));
    }

    #[test]
    fn a_changed_owner_random_part_or_tag_is_refused() {
        let id = seal(KEY, SCOPE, "r4nd0m", OWNER);
        let parts: Vec<&str> = id.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode("http://attacker.example:80");
        for forged in [
            format!("{}.{other}.{}", parts[0], parts[2]),
            format!("x{}.{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}A", parts[0], parts[1], &parts[2][1..]),
            format!("{}.{}", parts[0], parts[1]),
            format!("{id}.x"),
            "plain-unsealed-id".to_owned(),
            String::new(),
        ] {
            assert_eq!(open(KEY, SCOPE, &forged), None, "{forged}");
        }
    }

    #[test]
    fn another_key_or_service_opens_nothing() {
        let id = seal(KEY, SCOPE, "r4nd0m", OWNER);
        assert_eq!(open(b"another key of the same length..", SCOPE, &id), None);
        assert_eq!(open(KEY, b"mcp-server-fetch", &id), None);
    }
}
