//! Multi-round-trip requests (MCP 2026-07-28 "Multi Round-Trip Requests").
//!
//! A child speaks the session-based protocol: to ask its client for input it sends a
//! server-to-client request (sampling, elicitation, roots/list) and waits. A stateless client
//! cannot receive those, so while the sidecar serves a stateless `tools/call`, `prompts/get` or
//! `resources/read`, the child's requests become the `inputRequests` of an `InputRequiredResult`
//! (keyed by the child's request id) and the child's call is *held*: it stays pending on the child
//! while the client gathers the input. The result's `requestState` (see
//! `protocol::request_state`) names the held call; the client's retry with `inputResponses` and
//! that state resumes it: each response goes to the child as the answer to its request, and the
//! call goes on to its result or to another round.
//!
//! Held calls are bounded in number (`SIDECAR_MAX_HELD_CALLS`) and time
//! (`SIDECAR_HELD_CALL_TIMEOUT_SECS`); a state that fails verification, has expired or was used
//! already cancels the call it names. Cancelling a call answers the child's waiting requests with
//! an error and sends it `notifications/cancelled` (MCP spec "Utilities" > "Cancellation").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretSlice};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::child::Child;
use crate::child::pending::{Delivery, DeliveryTx};
use crate::clock;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::request_state::{self, Binding, Claims, StateError};

/// A server-to-client request of the child, waiting for the client's input.
#[derive(Debug)]
pub struct InputRequest {
    /// Its key in `inputRequests`: the child's request id (a string id as it is, a number as text).
    pub key: String,
    /// The child's request id, to answer it under.
    pub id: Box<RawValue>,
    pub method: String,
    pub params: Option<Box<RawValue>>,
}

/// A stateless request's call on a child, from its start to its answer. Dropped before it is
/// answered (client gone, timeout, refused retry, expiry, shutdown), it cancels the call.
pub struct ChildCall {
    pub child: Arc<Child>,
    /// The sidecar's id of the call on the child.
    pub own: u64,
    /// Its registration for server-to-client requests, when it takes input.
    pub stream: Option<u64>,
    pub rx: mpsc::UnboundedReceiver<Delivery>,
    pub tx: DeliveryTx,
    /// The child's requests waiting for the client's input.
    pub waiting: Vec<InputRequest>,
    answered: bool,
}

impl ChildCall {
    pub fn new(
        child: Arc<Child>,
        own: u64,
        stream: Option<u64>,
        rx: mpsc::UnboundedReceiver<Delivery>,
        tx: DeliveryTx,
    ) -> Self {
        Self {
            child,
            own,
            stream,
            rx,
            tx,
            waiting: Vec::new(),
            answered: false,
        }
    }

    /// The child answered the call: nothing is left to cancel.
    pub fn answered(&mut self) {
        self.answered = true;
    }

    /// Answers one of the child's requests (a response line in the child's id space).
    pub fn answer_child(&self, id: &RawValue, result: Option<&RawValue>, error: Option<&RpcError>) {
        let line = match error {
            Some(error) => error.response_line(id),
            None => jsonrpc::response_line(id, result, None),
        };
        // The queue towards a child holds 1024 lines; a full one means the child is not reading,
        // and it then times out like any other stuck call.
        let _ = self.child.try_send(line);
    }
}

impl Drop for ChildCall {
    fn drop(&mut self) {
        if let Some(stream) = self.stream {
            self.child.peer().remove_stream(stream);
        }
        if self.answered {
            return;
        }
        let cancelled = RpcError::new(
            jsonrpc::REQUEST_CANCELLED,
            "the client's request was cancelled",
        );
        for request in self.waiting.drain(..) {
            let _ = self.child.try_send(cancelled.response_line(&request.id));
        }
        if self.child.peer().fail(self.own, cancelled) {
            self.child
                .notify_cancelled(self.own, "the client's request was cancelled");
        }
    }
}

/// A call waiting for its client's input, and what the client's retry must match.
pub struct Held {
    pub id: String,
    pub round: u32,
    pub user: String,
    pub method: String,
    pub name: String,
    pub call: ChildCall,
    expires_ms: u64,
}

/// The calls held for input, bounded in number and time.
pub struct HeldCalls {
    calls: Mutex<HashMap<String, Held>>,
    max: usize,
    ttl: Duration,
    key: SecretSlice<u8>,
}

/// The `InputRequiredResult` asking for `waiting`, to be continued with `state`.
pub fn input_required(waiting: &[InputRequest], state: &str) -> Option<Box<RawValue>> {
    let mut requests = Map::new();
    for request in waiting {
        let mut entry = Map::new();
        entry.insert("method".into(), Value::String(request.method.clone()));
        let params = request
            .params
            .as_ref()
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or_else(|| Value::Object(Map::new()));
        entry.insert("params".into(), params);
        requests.insert(request.key.clone(), Value::Object(entry));
    }
    let result = serde_json::json!({
        "resultType": "input_required",
        "inputRequests": requests,
        "requestState": state,
    });
    RawValue::from_string(result.to_string()).ok()
}

/// A fresh held-call id: 128 random bits, hex.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes[..]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl HeldCalls {
    /// `key`: the HMAC key of requestState (`SIDECAR_REQUEST_STATE_KEY`), or none for a random one
    /// (held calls live in this process only, so a key of its own is enough for one replica).
    pub fn new(max: usize, ttl: Duration, key: Option<SecretSlice<u8>>) -> Self {
        let key = key.unwrap_or_else(|| {
            let mut bytes = vec![0u8; 32];
            rand::fill(&mut bytes[..]);
            SecretSlice::from(bytes)
        });
        Self {
            calls: Mutex::new(HashMap::new()),
            max,
            ttl,
            key,
        }
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn count(&self) -> usize {
        self.calls().len()
    }

    /// Holds `call` for the next round of `id` (a fresh id for a first round); returns the
    /// `InputRequiredResult` for the client, or the error when too many calls are held (the call
    /// is then cancelled).
    pub fn hold(
        &self,
        id: Option<String>,
        round: u32,
        binding: Binding<'_>,
        call: ChildCall,
    ) -> Result<Box<RawValue>, RpcError> {
        let id = id.unwrap_or_else(new_id);
        let round = round + 1;
        let ttl_secs = self.ttl.as_secs();
        let claims = Claims {
            held: id.clone(),
            round,
            expires: clock::unix_secs().saturating_add(ttl_secs),
        };
        let state = request_state::seal(self.key.expose_secret(), &claims, binding);
        let result = input_required(&call.waiting, &state).ok_or_else(|| {
            RpcError::new(
                jsonrpc::INTERNAL_ERROR,
                "the input request could not be encoded",
            )
        })?;
        let mut calls = self.calls();
        if calls.len() >= self.max {
            return Err(RpcError::new(
                jsonrpc::OVERLOADED,
                "too many calls wait for input (SIDECAR_MAX_HELD_CALLS); retry later",
            ));
        }
        let expires_ms = clock::now_ms().saturating_add(ttl_secs.saturating_mul(1000));
        calls.insert(
            id.clone(),
            Held {
                id,
                round,
                user: binding.user.to_owned(),
                method: binding.method.to_owned(),
                name: binding.name.to_owned(),
                call,
                expires_ms,
            },
        );
        Ok(result)
    }

    /// The held call `state` continues, taken out for its retry. Every refusal (-32602) cancels
    /// the call the state names, if it exists: it was forged, altered, presented by another user
    /// or for another request, expired or replayed.
    pub fn resume(&self, state: &str, binding: Binding<'_>) -> Result<Held, RpcError> {
        let refused = |why: &str| {
            RpcError::new(
                jsonrpc::INVALID_PARAMS,
                format!("requestState refused: {why}"),
            )
        };
        let opened =
            request_state::open(self.key.expose_secret(), state, binding, clock::unix_secs());
        let claims = match opened {
            Ok(claims) => claims,
            Err(e) => {
                let named = match &e {
                    StateError::Forged { held } | StateError::Expired { held } => Some(held),
                    StateError::Malformed => None,
                };
                if let Some(call) = named.and_then(|held| self.calls().remove(held)) {
                    tracing::info!(mrtr.held = %call.id, reason = %e, "held call cancelled");
                }
                return Err(refused(&e.to_string()));
            }
        };
        let held = self.calls().remove(&claims.held).ok_or_else(|| {
            refused("the call it continues is over (answered, cancelled or expired)")
        })?;
        if held.round != claims.round {
            tracing::info!(mrtr.held = %held.id, "replayed requestState: held call cancelled");
            return Err(refused("it was used already"));
        }
        Ok(held)
    }

    /// Cancels the calls held past their time; returns how many.
    pub fn expire(&self, now_ms: u64) -> usize {
        let mut calls = self.calls();
        let before = calls.len();
        calls.retain(|_, held| held.expires_ms > now_ms);
        before - calls.len()
    }

    /// Cancels every held call (shutdown).
    pub fn clear(&self) {
        self.calls().clear();
    }
}
