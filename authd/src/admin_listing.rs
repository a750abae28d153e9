//! The admin CLI's listings of who uses the gateway: users, remembered consents and the clients
//! that hold live grants, plus the generic listing of one key family. One JSON object per line,
//! never a token value or a secret (Redis holds only hashes of those anyway).
//!
//! Users exist only through what they hold: the index of their grants (`user_tokens:{user}`),
//! their consents and the disabled set. SCAN, never KEYS: these run against a live store.

use std::collections::{BTreeMap, BTreeSet};

use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::oauth::client::Client;
use crate::oauth::consent::Consent;
use crate::oauth::token::family::{Family, TokenRecord};
use crate::state::App;
use crate::store::user_tokens::Held;
use crate::store::{Store, StoreError};

type Result<T> = std::result::Result<T, String>;

fn text(e: StoreError) -> String {
    e.to_string()
}

/// Prints every record of a key family as one JSON line each (records that do not decode, left
/// by an older version, are skipped).
pub async fn list<T: serde::de::DeserializeOwned>(
    store: &Store,
    family: &str,
    line: impl Fn(&str, T) -> Value,
) -> Result<()> {
    let prefix = store.key(family, "");
    for k in store.scan(family).await.map_err(text)? {
        if let Ok(Some(v)) = store.get::<T>(&k).await {
            println!("{}", line(k.strip_prefix(&prefix).unwrap_or(&k), v));
        }
    }
    Ok(())
}

pub fn token_line(jti: &str, t: TokenRecord) -> Value {
    json!({"jti": jti, "sub": t.sub, "client_id": t.client_id, "aud": t.aud, "scope": t.scope, "exp": t.exp})
}

/// The client a held grant belongs to; None when it was revoked or rotated away meanwhile.
async fn client_of(store: &Store, held: &Held) -> Result<Option<String>> {
    Ok(match held {
        Held::Access(jti) => store
            .get::<TokenRecord>(&store.key("token", jti))
            .await
            .map_err(text)?
            .map(|t| t.client_id),
        Held::Family(id) => store
            .get::<Family>(&store.key("family", id))
            .await
            .map_err(text)?
            .map(|f| f.client_id),
    })
}

/// Live grants of one user or one client: access tokens, refresh families, and the other side
/// (the clients of a user, the users of a client).
#[derive(Default)]
struct Grants {
    access: usize,
    families: usize,
    peers: BTreeSet<String>,
}

impl Grants {
    fn add(&mut self, held: &Held, peer: &str) {
        match held {
            Held::Access(_) => self.access += 1,
            Held::Family(_) => self.families += 1,
        }
        self.peers.insert(peer.to_owned());
    }
}

/// Users that hold grants now, in their index keys.
async fn users_with_grants(store: &Store) -> Result<Vec<String>> {
    let prefix = store.user_tokens_key("");
    Ok(store
        .scan("user_tokens")
        .await
        .map_err(text)?
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
        .collect())
}

async fn consents_of(store: &Store) -> Result<Vec<(Consent, i64)>> {
    let mut out = Vec::new();
    let mut conn = store.conn();
    for k in store.scan("consent").await.map_err(text)? {
        // Consents remembered before their record named user and client are skipped.
        if let Ok(Some(c)) = store.get::<Consent>(&k).await {
            let ttl: i64 = conn.ttl(&k).await.map_err(|e| e.to_string())?;
            out.push((c, ttl));
        }
    }
    Ok(out)
}

async fn client_name(store: &Store, client_id: &str) -> Option<String> {
    let client = store
        .get::<Client>(&store.key("client", client_id))
        .await
        .ok()??;
    Some(client.display_name().to_owned())
}

/// `authd users list`: every user the store knows, with what they hold.
pub async fn users(app: &App) -> Result<()> {
    let store = &app.store;
    let disabled: BTreeSet<String> = store
        .conn()
        .smembers(store.disabled_key())
        .await
        .map_err(|e| e.to_string())?;
    let mut consents: BTreeMap<String, usize> = BTreeMap::new();
    for (c, _) in consents_of(store).await? {
        *consents.entry(c.user).or_default() += 1;
    }
    let mut ids: BTreeSet<String> = users_with_grants(store).await?.into_iter().collect();
    ids.extend(disabled.iter().cloned());
    ids.extend(consents.keys().cloned());
    for user in ids {
        let mut g = Grants::default();
        for held in store.held_by(&user).await.map_err(text)? {
            if let Some(client) = client_of(store, &held).await? {
                g.add(&held, &client);
            }
        }
        println!(
            "{}",
            json!({"user": user, "disabled": disabled.contains(&user),
                "access_tokens": g.access, "refresh_families": g.families,
                "clients": g.peers, "consents": consents.get(&user).copied().unwrap_or(0)})
        );
    }
    Ok(())
}

/// `authd consents list [--user ID]`: remembered consents, the next login of that user with that
/// client skips the consent page until `expires_in` runs out.
pub async fn consents(app: &App, user: Option<&str>) -> Result<()> {
    let store = &app.store;
    for (c, ttl) in consents_of(store).await? {
        if user.is_some_and(|u| u != c.user) {
            continue;
        }
        let name = client_name(store, &c.client_id).await;
        println!(
            "{}",
            json!({"user": c.user, "client_id": c.client_id, "client_name": name,
                "granted_at": c.granted_at, "expires_in": ttl.max(0)})
        );
    }
    Ok(())
}

/// `authd clients connected`: clients that hold live grants now, with their users.
pub async fn connected(app: &App) -> Result<()> {
    let store = &app.store;
    let mut by_client: BTreeMap<String, Grants> = BTreeMap::new();
    for user in users_with_grants(store).await? {
        for held in store.held_by(&user).await.map_err(text)? {
            if let Some(client) = client_of(store, &held).await? {
                by_client.entry(client).or_default().add(&held, &user);
            }
        }
    }
    for (client_id, g) in by_client {
        let name = client_name(store, &client_id).await;
        println!(
            "{}",
            json!({"client_id": client_id, "client_name": name, "users": g.peers,
                "access_tokens": g.access, "refresh_families": g.families})
        );
    }
    Ok(())
}
