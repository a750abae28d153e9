//! `requestState` of multi-round-trip requests (MCP 2026-07-28 "Multi Round-Trip Requests"): the
//! opaque value an `InputRequiredResult` hands the client, which the client echoes on its retry.
//! The sidecar's names the call it holds for the client and which round of it this is, carries an
//! expiry, and is bound to the user and the request (method and name) by an HMAC-SHA256 tag
//! (RFC 2104) under a key from `.env`, so a forged, altered, expired, replayed or foreign state is
//! told apart from a genuine one. Pure: the key and the clock reading are inputs.
//!
//! Wire form: `v1.<held call id>.<round>.<expires, unix seconds>.<tag, base64url>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: &str = "v1";
/// Domain separation: this key signs nothing else.
const CONTEXT: &[u8] = b"mcp-sidecar requestState v1";

/// What a state says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The held call (random, hex).
    pub held: String,
    /// How many times the call has asked for input so far; a state is good for its round only.
    pub round: u32,
    /// Unix seconds after which the state is refused.
    pub expires: u64,
}

/// Who may present a state, and on which request.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub user: &'a str,
    pub method: &'a str,
    pub name: &'a str,
}

/// Why a state is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("requestState is malformed")]
    Malformed,
    /// The tag does not match: altered, forged, or issued for another user or request. `held` is
    /// the call it claims to continue, so that call can be cancelled.
    #[error("requestState failed its integrity check")]
    Forged { held: String },
    #[error("requestState has expired")]
    Expired { held: String },
}

/// The MAC over the claims and the binding, not finalized yet.
fn mac(key: &[u8], claims: &Claims, binding: Binding<'_>) -> Hmac<Sha256> {
    // Any key length is valid for HMAC (RFC 2104 §2): `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    let round = claims.round.to_string();
    let expires = claims.expires.to_string();
    // Every field length-prefixed: no two different inputs share an encoding.
    for field in [
        CONTEXT,
        claims.held.as_bytes(),
        round.as_bytes(),
        expires.as_bytes(),
        binding.user.as_bytes(),
        binding.method.as_bytes(),
        binding.name.as_bytes(),
    ] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field);
    }
    mac
}

/// The state for `claims`, bound to `binding`.
pub fn seal(key: &[u8], claims: &Claims, binding: Binding<'_>) -> String {
    let tag = URL_SAFE_NO_PAD.encode(mac(key, claims, binding).finalize().into_bytes());
    format!(
        "{VERSION}.{}.{}.{}.{tag}",
        claims.held, claims.round, claims.expires
    )
}

/// The claims of `state` if its tag verifies for `binding` and it has not expired at `now`
/// (unix seconds). The tag is compared in constant time.
pub fn open(key: &[u8], state: &str, binding: Binding<'_>, now: u64) -> Result<Claims, StateError> {
    let mut parts = state.split('.');
    let (Some(VERSION), Some(held), Some(round), Some(expires), Some(tag_text), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(StateError::Malformed);
    };
    if held.is_empty() || !held.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StateError::Malformed);
    }
    let forged = || StateError::Forged {
        held: held.to_owned(),
    };
    // Only the canonical decimal spelling `seal` writes: `01` or `+1` would parse to the same
    // number and pass the tag check, a second spelling of one state (found by the fuzz target
    // `resume_state`).
    let canonical = |text: &str| text == "0" || (!text.starts_with('0') && !text.starts_with('+'));
    let (Ok(round), Ok(expires), true, true) = (
        round.parse::<u32>(),
        expires.parse::<u64>(),
        canonical(round),
        canonical(expires),
    ) else {
        return Err(forged());
    };
    let claims = Claims {
        held: held.to_owned(),
        round,
        expires,
    };
    let Ok(given) = URL_SAFE_NO_PAD.decode(tag_text) else {
        return Err(forged());
    };
    // `verify_slice` compares in constant time.
    mac(key, &claims, binding)
        .verify_slice(&given)
        .map_err(|_| forged())?;
    if now > claims.expires {
        return Err(StateError::Expired { held: claims.held });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const ALICE: Binding<'static> = Binding {
        user: "oidc:alice",
        method: "tools/call",
        name: "ask",
    };

    fn claims() -> Claims {
        Claims {
            held: "00ff".into(),
            round: 1,
            expires: 1_000,
        }
    }

    #[test]
    fn a_sealed_state_opens_for_its_user_and_request_until_it_expires() {
        let state = seal(KEY, &claims(), ALICE);
        assert!(state.starts_with("v1.00ff.1.1000."));
        assert_eq!(open(KEY, &state, ALICE, 1_000), Ok(claims()));
        assert_eq!(
            open(KEY, &state, ALICE, 1_001),
            Err(StateError::Expired {
                held: "00ff".into()
            })
        );
    }

    #[test]
    fn anything_else_is_refused_and_names_the_call_when_it_can() {
        let state = seal(KEY, &claims(), ALICE);
        let forged = Err(StateError::Forged {
            held: "00ff".into(),
        });
        let mallory = Binding {
            user: "oidc:mallory",
            ..ALICE
        };
        let other_tool = Binding {
            name: "other",
            ..ALICE
        };
        assert_eq!(open(KEY, &state, mallory, 0), forged, "another user");
        assert_eq!(open(KEY, &state, other_tool, 0), forged, "another request");
        assert_eq!(
            open(b"another key", &state, ALICE, 0),
            forged,
            "another key"
        );
        assert_eq!(
            open(KEY, &format!("{state}-TAMPERED"), ALICE, 0),
            forged,
            "tag altered"
        );
        let later_round = state.replace("v1.00ff.1.", "v1.00ff.2.");
        assert_eq!(open(KEY, &later_round, ALICE, 0), forged, "round altered");
        for respelled in [
            state.replace("v1.00ff.1.", "v1.00ff.01."),
            state.replace("v1.00ff.1.", "v1.00ff.+1."),
            state.replace(".1000.", ".01000."),
        ] {
            assert_eq!(open(KEY, &respelled, ALICE, 0), forged, "{respelled}");
        }
        let longer = state.replace(".1000.", ".9999.");
        assert_eq!(open(KEY, &longer, ALICE, 0), forged, "expiry altered");
        for malformed in [
            "",
            "v1",
            "v2.00ff.1.1000.x",
            "v1.zz.1.1000.x",
            "v1.00ff.1.1000.x.y",
        ] {
            assert_eq!(
                open(KEY, malformed, ALICE, 0),
                Err(StateError::Malformed),
                "{malformed}"
            );
        }
    }
}
