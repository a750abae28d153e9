//! Routing state of one child: which of the sidecar's own request ids is waiting where.
//!
//! MCP spec "Base Protocol": request ids must be unique per sender within a session. Clients only
//! guarantee that for their own requests, and the sidecar adds its own (health probe), so every
//! request towards a child gets a fresh id from a per-child monotonic counter and the client's id is
//! restored on the way back: duplicate client ids across concurrent POSTs never collide. When the
//! child dies, every waiter is failed with a JSON-RPC error at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::protocol::bridge;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::modern::ClientCaps;

/// What the child sent that belongs to a waiting exchange.
#[derive(Debug)]
pub enum Delivery {
    /// The response to request `own` (already carrying the client's id, shaped for its client),
    /// with its error code when it is an error.
    Response {
        own: u64,
        body: Bytes,
        code: Option<i64>,
    },
    /// A progress notification or a server-to-client request raised while the exchange runs.
    Message(Bytes),
}

pub type DeliveryTx = mpsc::UnboundedSender<Delivery>;

/// Who asked: a client of the session-based revisions gets the child's result as it is; a
/// stateless client's result gains what its revision requires (`bridge::stateless_result`) on the
/// way through, with no second parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    Session,
    Stateless { method: &'static str },
}

struct Waiter {
    /// The session that sent it (children of the shared pool serve many sessions).
    owner: u64,
    client_id: Box<RawValue>,
    tx: DeliveryTx,
    progress: Option<String>,
    asker: Asker,
}

#[derive(Default)]
struct State {
    waiters: HashMap<u64, Waiter>,
    /// progressToken (raw JSON) -> own id of the request that announced it.
    progress: HashMap<String, u64>,
    /// Exchanges that can carry server-to-client requests (legacy ones answering over SSE,
    /// stateless ones through multi-round-trip results), with what their clients can answer;
    /// newest last.
    streams: Vec<(u64, DeliveryTx, ClientCaps)>,
    /// Set once the child is gone; later registrations fail with this reason.
    closed: Option<&'static str>,
}

/// Why a request could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `SIDECAR_MAX_CONCURRENT_REQUESTS` requests are already in flight.
    Busy,
    /// The child is gone (the reason says why).
    Gone(&'static str),
}

impl From<Refused> for RpcError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Busy => RpcError::new(
                jsonrpc::OVERLOADED,
                "too many requests in flight in this session (SIDECAR_MAX_CONCURRENT_REQUESTS)",
            ),
            Refused::Gone(reason) => RpcError::server_gone(reason),
        }
    }
}

/// The waiters of one child. One short mutex per child: no lock is shared between sessions.
#[derive(Default)]
pub struct Peer {
    next_id: AtomicU64,
    state: Mutex<State>,
}

impl Peer {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps inconsistent in a way that matters
        // more than losing the session, so a poisoned lock is simply taken over.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a request; returns the id to use towards the child.
    pub fn register(
        &self,
        owner: u64,
        client_id: &RawValue,
        tx: &DeliveryTx,
        progress: Option<String>,
        limit: usize,
    ) -> Result<u64, Refused> {
        self.register_for(Asker::Session, owner, client_id, tx, progress, limit)
    }

    /// `register` for a request whose answer goes to `asker`.
    pub fn register_for(
        &self,
        asker: Asker,
        owner: u64,
        client_id: &RawValue,
        tx: &DeliveryTx,
        progress: Option<String>,
        limit: usize,
    ) -> Result<u64, Refused> {
        let mut state = self.state();
        if let Some(reason) = state.closed {
            return Err(Refused::Gone(reason));
        }
        if state.waiters.len() >= limit {
            return Err(Refused::Busy);
        }
        let own = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(token) = &progress {
            state.progress.insert(token.clone(), own);
        }
        state.waiters.insert(
            own,
            Waiter {
                owner,
                client_id: client_id.to_owned(),
                tx: tx.clone(),
                progress,
                asker,
            },
        );
        Ok(own)
    }

    fn remove(state: &mut State, own: u64) -> Option<Waiter> {
        let waiter = state.waiters.remove(&own)?;
        if let Some(token) = &waiter.progress
            && state.progress.get(token) == Some(&own)
        {
            state.progress.remove(token);
        }
        Some(waiter)
    }

    /// Delivers the child's response to request `own`; false when nobody waits for it (late answer
    /// after a timeout or cancellation).
    pub fn complete(&self, own: u64, result: Option<&RawValue>, error: Option<&RawValue>) -> bool {
        let Some(waiter) = Self::remove(&mut self.state(), own) else {
            return false;
        };
        let shaped = match (waiter.asker, result) {
            (Asker::Stateless { method }, Some(result)) => bridge::stateless_result(method, result),
            _ => None,
        };
        let result = shaped.as_deref().or(result.map(RawValue::get));
        let body = jsonrpc::response_text(&waiter.client_id, result, error);
        let code = error.and_then(jsonrpc::error_code);
        waiter
            .tx
            .send(Delivery::Response { own, body, code })
            .is_ok()
    }

    /// Stops waiting for `own` and answers its waiter with `error`; false if it was already done.
    pub fn fail(&self, own: u64, error: RpcError) -> bool {
        let Some(waiter) = Self::remove(&mut self.state(), own) else {
            return false;
        };
        let body = error.response(Some(&waiter.client_id));
        let code = Some(error.code);
        // The exchange may be gone already (client disconnected): nothing left to tell.
        let _ = waiter.tx.send(Delivery::Response { own, body, code });
        true
    }

    /// Own id of a pending request session `owner` knows as `client_id` (for
    /// `notifications/cancelled`).
    pub fn own_id_of(&self, owner: u64, client_id: &str) -> Option<u64> {
        let state = self.state();
        state
            .waiters
            .iter()
            .find(|(_, w)| w.owner == owner && w.client_id.get() == client_id)
            .map(|(own, _)| *own)
    }

    /// Where a progress notification with this token goes.
    pub fn progress_target(&self, token: &str) -> Option<DeliveryTx> {
        let state = self.state();
        let own = state.progress.get(token)?;
        state.waiters.get(own).map(|w| w.tx.clone())
    }

    /// Where a server-to-client request of `method` goes: the newest exchange whose client can
    /// answer it, else the newest one (which refuses it for its client). stdio carries no hint of
    /// which client request caused it (the SDKs' `relatedRequestId` is not on the wire), and the
    /// newest one is the one most likely still running.
    pub fn server_request_target(&self, method: &str) -> Option<DeliveryTx> {
        let state = self.state();
        let open = || {
            state
                .streams
                .iter()
                .rev()
                .filter(|(_, tx, _)| !tx.is_closed())
        };
        open()
            .find(|(_, _, caps)| caps.allows(method) == Some(true))
            .or_else(|| open().next())
            .map(|(_, tx, _)| tx.clone())
    }

    /// Registers an exchange that can carry server-to-client requests its client's `caps` allow.
    pub fn add_stream(&self, stream: u64, tx: &DeliveryTx, caps: ClientCaps) {
        self.state().streams.push((stream, tx.clone(), caps));
    }

    pub fn remove_stream(&self, stream: u64) {
        self.state().streams.retain(|(id, _, _)| *id != stream);
    }

    /// Request `own` is now answered to `client_id` (a multi-round-trip request resumed by a
    /// retry with its own id); false when it is no longer pending.
    pub fn rebind(&self, own: u64, client_id: &RawValue) -> bool {
        match self.state().waiters.get_mut(&own) {
            Some(waiter) => {
                waiter.client_id = client_id.to_owned();
                true
            }
            None => false,
        }
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.state().waiters.len()
    }

    pub fn is_closed(&self) -> bool {
        self.state().closed.is_some()
    }

    /// Marks the child gone and fails every waiter with a JSON-RPC error naming the reason.
    pub fn close(&self, reason: &'static str) {
        let waiters: Vec<(u64, Waiter)> = {
            let mut state = self.state();
            state.closed = Some(reason);
            state.progress.clear();
            state.streams.clear();
            state.waiters.drain().collect()
        };
        let error = RpcError::server_gone(reason);
        let code = Some(error.code);
        for (own, waiter) in waiters {
            let body = error.response(Some(&waiter.client_id));
            let _ = waiter.tx.send(Delivery::Response { own, body, code });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    fn response_of(d: Delivery) -> (u64, serde_json::Value) {
        match d {
            Delivery::Response { own, body, .. } => (own, serde_json::from_slice(&body).unwrap()),
            Delivery::Message(_) => panic!("expected a response"),
        }
    }

    #[test]
    fn duplicate_client_ids_get_distinct_own_ids_and_come_back_unchanged() {
        let peer = Peer::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let a = peer.register(0, &raw("1"), &tx, None, 10).unwrap();
        let b = peer.register(0, &raw("1"), &tx, None, 10).unwrap();
        assert_ne!(a, b);
        assert!(peer.complete(b, Some(&raw(r#""second""#)), None));
        assert!(peer.complete(a, Some(&raw(r#""first""#)), None));
        assert!(
            !peer.complete(a, Some(&raw("null")), None),
            "answered twice"
        );
        let (own, v) = response_of(rx.try_recv().unwrap());
        assert_eq!(
            (own, v["id"].clone(), v["result"].clone()),
            (b, 1.into(), "second".into())
        );
        let (own, v) = response_of(rx.try_recv().unwrap());
        assert_eq!((own, v["result"].clone()), (a, "first".into()));
    }

    #[test]
    fn limit_progress_and_close() {
        let peer = Peer::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let a = peer
            .register(0, &raw(r#""x""#), &tx, Some(r#""tok""#.into()), 1)
            .unwrap();
        assert_eq!(
            peer.register(0, &raw("2"), &tx, None, 1),
            Err(Refused::Busy)
        );
        assert!(peer.progress_target(r#""tok""#).is_some());
        assert_eq!(peer.own_id_of(0, r#""x""#), Some(a));
        peer.close("mcp server exited");
        let (own, v) = response_of(rx.try_recv().unwrap());
        assert_eq!(own, a);
        assert_eq!(v["error"]["code"], jsonrpc::SERVER_GONE);
        assert_eq!(v["id"], "x");
        assert!(peer.progress_target(r#""tok""#).is_none());
        assert_eq!(
            peer.register(0, &raw("3"), &tx, None, 1),
            Err(Refused::Gone("mcp server exited"))
        );
    }
}
