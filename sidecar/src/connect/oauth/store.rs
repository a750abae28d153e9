//! The token file: registrations per issuer and tokens per issuer and resource, in one JSON file
//! that only the user may read (0600, in a 0700 directory). A file that others can read is
//! refused with a message, never silently used or fixed: a token there may already have leaked.
//! Writes are atomic (a new file renamed over the old), so a crash never leaves half a file.
//!
//! Several bridges share the file (an MCP client starts one per server, and `just login` may run
//! beside them): a write takes an exclusive lock (flock(2) on a sibling `.lock` file), reads what
//! the others wrote since and replaces only the entries this process changed. Without that, the
//! last writer would drop another bridge's fresh login, or bring back a refresh token the server
//! has already rotated, whose replay revokes the whole grant (OAuth 2.1 §4.3.1).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::connect::error::ConnectError;

/// A client registered at an issuer (RFC 7591 §3.2.1, RFC 7592 §3).
#[derive(Clone, Serialize, Deserialize)]
pub struct Registration {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
}

/// Tokens for one resource from one issuer.
#[derive(Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub issuer: String,
    pub resource: String,
    pub client_id: String,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Unix seconds; 0 when the server did not say (then only a 401 tells).
    #[serde(default)]
    pub expires_at: u64,
    #[serde(default)]
    pub scope: String,
}

impl std::fmt::Debug for Tokens {
    // Secrets never reach a log line or a Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Default, Clone, Serialize, Deserialize)]
struct Contents {
    #[serde(default)]
    clients: BTreeMap<String, Registration>,
    #[serde(default)]
    tokens: BTreeMap<String, Tokens>,
}

/// The token file, loaded.
pub struct Store {
    path: PathBuf,
    contents: Contents,
    /// Keys of `clients` and `tokens` this process set or removed since it last wrote: only these
    /// are written over what the file holds by then.
    changed_clients: BTreeSet<String>,
    changed_tokens: BTreeSet<String>,
}

fn file_error(path: &Path, what: impl std::fmt::Display) -> ConnectError {
    ConnectError::TokenFile(format!("{}: {what}", path.display()))
}

/// The file's contents (a missing file is empty); refuses one that group or others may access.
fn read(path: &Path) -> Result<Contents, ConnectError> {
    let meta = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
        Err(e) => return Err(file_error(path, e)),
        Ok(meta) => meta,
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(file_error(
            path,
            format!(
                "permissions are {mode:04o}, but tokens must be readable only by you; \
                 run `chmod 600 {}` (or delete the file to log in again)",
                path.display()
            ),
        ));
    }
    let text = std::fs::read(path).map_err(|e| file_error(path, e))?;
    serde_json::from_slice(&text).map_err(|e| {
        file_error(
            path,
            format!("not a token file ({e}); delete it to start afresh"),
        )
    })
}

impl Store {
    /// Loads the file; refuses one that group or others may access.
    pub fn open(path: &Path) -> Result<Store, ConnectError> {
        Ok(Store {
            path: path.to_owned(),
            contents: read(path)?,
            changed_clients: BTreeSet::new(),
            changed_tokens: BTreeSet::new(),
        })
    }

    /// Takes in what other processes wrote since, keeping this process's unsaved changes.
    pub fn reload(&mut self) -> Result<(), ConnectError> {
        self.contents = self.merged(read(&self.path)?);
        Ok(())
    }

    /// `theirs` with this process's changed entries put over it.
    fn merged(&self, mut theirs: Contents) -> Contents {
        for k in &self.changed_clients {
            match self.contents.clients.get(k) {
                Some(r) => theirs.clients.insert(k.clone(), r.clone()),
                None => theirs.clients.remove(k),
            };
        }
        for k in &self.changed_tokens {
            match self.contents.tokens.get(k) {
                Some(t) => theirs.tokens.insert(k.clone(), t.clone()),
                None => theirs.tokens.remove(k),
            };
        }
        theirs
    }

    pub fn registration(&self, issuer: &str) -> Option<&Registration> {
        self.contents.clients.get(issuer)
    }

    pub fn set_registration(&mut self, issuer: &str, r: Option<Registration>) {
        match r {
            Some(r) => self.contents.clients.insert(issuer.to_owned(), r),
            None => self.contents.clients.remove(issuer),
        };
        self.changed_clients.insert(issuer.to_owned());
    }

    /// The tokens for `resource` (from whichever issuer gave them).
    pub fn tokens_for(&self, resource: &str) -> Option<&Tokens> {
        self.contents
            .tokens
            .values()
            .find(|t| super::discovery::same_resource(&t.resource, resource))
    }

    pub fn set_tokens(&mut self, t: Tokens) {
        let key = format!("{} {}", t.issuer, t.resource);
        self.contents.tokens.insert(key.clone(), t);
        self.changed_tokens.insert(key);
    }

    pub fn drop_tokens(&mut self, issuer: &str, resource: &str) {
        let mut dropped = Vec::new();
        self.contents.tokens.retain(|k, t| {
            let hit = t.issuer == issuer && super::discovery::same_resource(&t.resource, resource);
            if hit {
                dropped.push(k.clone());
            }
            !hit
        });
        self.changed_tokens.extend(dropped);
    }

    /// Writes this process's changes over what the file holds now, under the lock: a new 0600
    /// file in a 0700 directory, renamed over the old one.
    pub fn save(&mut self) -> Result<(), ConnectError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| file_error(dir, e))?;
        let lock_path = self.path.with_extension("lock");
        let lock_file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| file_error(&lock_path, e))?;
        // Held until the end of this function (dropping it unlocks); the critical section is a
        // read and a write of a small file.
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
            .map_err(|(_, e)| file_error(&lock_path, e))?;
        let merged = self.merged(read(&self.path)?);
        let text = serde_json::to_vec_pretty(&merged).map_err(|e| file_error(&self.path, e))?;
        let tmp = self
            .path
            .with_extension(format!("tmp.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            file_error(&self.path, e)
        })?;
        self.contents = merged;
        self.changed_clients.clear();
        self.changed_tokens.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn tokens(resource: &str, access: &str) -> Tokens {
        Tokens {
            issuer: "https://auth.example".into(),
            resource: resource.into(),
            client_id: "c".into(),
            access_token: access.into(),
            refresh_token: Some(format!("refresh-{access}")),
            expires_at: 0,
            scope: "mcp".into(),
        }
    }

    /// Two bridges opened the same file before either wrote (Claude Desktop starts one per
    /// server): each keeps the other's entries, and the newer write of one entry wins.
    #[test]
    fn bridges_sharing_the_file_keep_each_others_tokens() {
        let dir = std::env::temp_dir().join(format!("connect-store-{}", std::process::id()));
        let path = dir.join("connect.json");
        let (time, memory) = (
            "https://gw.example/time/mcp",
            "https://gw.example/memory/mcp",
        );
        let mut a = Store::open(&path).unwrap();
        let mut b = Store::open(&path).unwrap();
        a.set_tokens(tokens(time, "a1"));
        a.save().unwrap();
        b.set_tokens(tokens(memory, "b1"));
        b.save().unwrap();
        // b's write kept a's login; a learns of b's on reload.
        let fresh = Store::open(&path).unwrap();
        assert_eq!(fresh.tokens_for(time).unwrap().access_token, "a1");
        assert_eq!(fresh.tokens_for(memory).unwrap().access_token, "b1");
        a.reload().unwrap();
        assert_eq!(a.tokens_for(memory).unwrap().access_token, "b1");
        // b refreshes time's tokens (rotation) and a, still holding the old ones, writes only
        // what it changed: the rotated pair survives.
        b.set_tokens(tokens(time, "b2"));
        b.save().unwrap();
        a.set_registration("https://auth.example", None);
        a.save().unwrap();
        let fresh = Store::open(&path).unwrap();
        assert_eq!(fresh.tokens_for(time).unwrap().access_token, "b2");
        // A dropped entry is dropped from the file too, the others' stay.
        a.reload().unwrap();
        a.drop_tokens("https://auth.example", time);
        a.save().unwrap();
        let fresh = Store::open(&path).unwrap();
        assert!(fresh.tokens_for(time).is_none());
        assert_eq!(fresh.tokens_for(memory).unwrap().access_token, "b1");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
