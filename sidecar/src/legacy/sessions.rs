//! The session table: lookup by id for the owning user, the session limits, and idle expiry.
//! Lookups take a read lock on one map (no await while held); only session start and end write.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hyper::Request;

use crate::error::HttpError;
use crate::http::header;
use crate::legacy::session::Session;

/// Why a session cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReached {
    /// `SIDECAR_MAX_SESSIONS`.
    Total,
    /// `SIDECAR_MAX_SESSIONS_PER_USER`.
    PerUser,
}

#[derive(Default)]
struct Table {
    by_id: HashMap<String, Arc<Session>>,
    per_user: HashMap<String, usize>,
}

pub struct Sessions {
    table: RwLock<Table>,
    max: usize,
    max_per_user: usize,
}

impl Sessions {
    pub fn new(max: usize, max_per_user: usize) -> Self {
        Self {
            table: RwLock::new(Table::default()),
            max,
            max_per_user,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `user` could start a session now (checked again atomically by `insert`).
    pub fn check(&self, user: &str) -> Result<(), LimitReached> {
        let table = self.read();
        Self::limits(&table, user, self.max, self.max_per_user)
    }

    fn limits(table: &Table, user: &str, max: usize, per_user: usize) -> Result<(), LimitReached> {
        if table.by_id.len() >= max {
            return Err(LimitReached::Total);
        }
        if table.per_user.get(user).copied().unwrap_or(0) >= per_user {
            return Err(LimitReached::PerUser);
        }
        Ok(())
    }

    pub fn insert(&self, session: Arc<Session>) -> Result<(), LimitReached> {
        let mut table = self.write();
        Self::limits(&table, &session.user, self.max, self.max_per_user)?;
        *table.per_user.entry(session.user.clone()).or_default() += 1;
        table.by_id.insert(session.id.clone(), session);
        Ok(())
    }

    /// Whether this replica holds the session `id` (whoever it belongs to).
    pub fn holds(&self, id: &str) -> bool {
        self.read().by_id.contains_key(id)
    }

    /// The session `id` if it exists, belongs to `user` and its child is alive. A dead child's
    /// session is removed here, so the client gets 404 and re-initializes.
    pub fn get(&self, id: &str, user: &str) -> Option<Arc<Session>> {
        let session = self.read().by_id.get(id).cloned()?;
        if !session.is_alive() {
            self.remove(id);
            return None;
        }
        (session.user == user).then_some(session)
    }

    /// The session a request names, for GET and DELETE: none named is 405 (there is no
    /// sessionless stream, which is also what the stateless era specifies), an unknown one or
    /// another user's 404, a wrong `MCP-Protocol-Version` 400. Counts as client activity.
    pub fn named<B>(&self, req: &Request<B>, user: &str) -> Result<Arc<Session>, HttpError> {
        let id =
            header(req, "mcp-session-id").ok_or(HttpError::MethodNotAllowed { allow: "POST" })?;
        let session = self.get(id, user).ok_or(HttpError::SessionNotFound)?;
        session.check_version(header(req, "mcp-protocol-version"))?;
        session.touch();
        Ok(session)
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        let mut table = self.write();
        let session = table.by_id.remove(id)?;
        if let Some(n) = table.per_user.get_mut(&session.user) {
            *n -= 1;
            if *n == 0 {
                table.per_user.remove(&session.user);
            }
        }
        drop(table);
        session.close_streams();
        Some(session)
    }

    pub fn count(&self) -> usize {
        self.read().by_id.len()
    }

    /// Removes and returns the sessions idle for `idle_ms` or whose child is gone.
    pub fn expire(&self, now_ms: u64, idle_ms: u64) -> Vec<Arc<Session>> {
        let ids: Vec<String> = self
            .read()
            .by_id
            .values()
            .filter(|s| s.is_idle(now_ms, idle_ms) || !s.is_alive())
            .map(|s| s.id.clone())
            .collect();
        ids.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Removes every session (shutdown).
    pub fn drain(&self) -> Vec<Arc<Session>> {
        let ids: Vec<String> = self.read().by_id.keys().cloned().collect();
        ids.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Ends the standalone GET streams so that they do not hold connections open during a
    /// graceful shutdown (POST streams still finish their requests).
    pub fn close_standalone_streams(&self) {
        for session in self.read().by_id.values() {
            session.standalone.finish();
        }
    }
}
