//! The token file: registrations per issuer and tokens per issuer and resource, in one JSON file
//! that only the user may read (0600, in a 0700 directory). A file that others can read is
//! refused with a message, never silently used or fixed: a token there may already have leaked.
//! Writes are atomic (a new file renamed over the old), so a crash never leaves half a file.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

#[derive(Default, Serialize, Deserialize)]
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
}

fn file_error(path: &Path, what: impl std::fmt::Display) -> ConnectError {
    ConnectError::TokenFile(format!("{}: {what}", path.display()))
}

impl Store {
    /// Loads the file (a missing one is empty); refuses one that group or others may access.
    pub fn open(path: &Path) -> Result<Store, ConnectError> {
        let contents = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Contents::default(),
            Err(e) => return Err(file_error(path, e)),
            Ok(meta) => {
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
                })?
            }
        };
        Ok(Store {
            path: path.to_owned(),
            contents,
        })
    }

    pub fn registration(&self, issuer: &str) -> Option<&Registration> {
        self.contents.clients.get(issuer)
    }

    pub fn set_registration(&mut self, issuer: &str, r: Option<Registration>) {
        match r {
            Some(r) => self.contents.clients.insert(issuer.to_owned(), r),
            None => self.contents.clients.remove(issuer),
        };
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
        self.contents.tokens.insert(key, t);
    }

    pub fn drop_tokens(&mut self, issuer: &str, resource: &str) {
        self.contents.tokens.retain(|_, t| {
            !(t.issuer == issuer && super::discovery::same_resource(&t.resource, resource))
        });
    }

    /// Writes the file: a new 0600 file in a 0700 directory, renamed over the old one.
    pub fn save(&self) -> Result<(), ConnectError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| file_error(dir, e))?;
        let text =
            serde_json::to_vec_pretty(&self.contents).map_err(|e| file_error(&self.path, e))?;
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
        })
    }
}
