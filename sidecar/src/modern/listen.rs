//! `subscriptions/listen` (MCP 2026-07-28 "Subscriptions"): the long-lived stream of the
//! notifications a client opted into. It starts with `notifications/subscriptions/acknowledged`
//! naming the types the server agreed to, then carries the matching list_changed and
//! resource-update notifications of the pool's children, each tagged with the subscription id (the
//! listen request's JSON-RPC id). The server MUST NOT send types the client did not request.
//! At shutdown the stream ends with the `SubscriptionsListenResult`.
//!
//! The `Hub` is a pool's sink for its children's unsolicited messages: it fans each notification
//! out to the listeners that asked for it. Server-to-client requests it does not take (they belong
//! to requests; the child is told nobody can answer).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hyper::Response;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::app::App;
use crate::child::state::Unsolicited;
use crate::error::HttpError;
use crate::http::body::ResponseBody;
use crate::http::response::sse_stream;
use crate::http::sse::SseBody;
use crate::modern::pools::StatelessPool;
use crate::protocol::jsonrpc::{self, Envelope, Kind, RpcError};
use crate::protocol::modern::META_SUBSCRIPTION_ID;
use crate::protocol::sse;

/// The notification types of a `SubscriptionFilter` (MCP 2026-07-28).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub tools_list_changed: bool,
    #[serde(default)]
    pub prompts_list_changed: bool,
    #[serde(default)]
    pub resources_list_changed: bool,
    #[serde(default)]
    pub resource_subscriptions: Vec<String>,
}

impl Filter {
    /// What of `self` a server with these `capabilities` (its `initialize` result's) honours.
    pub fn honoured(&self, capabilities: &Value) -> Filter {
        let can = |path: &[&str]| {
            path.iter()
                .try_fold(capabilities, |v, k| v.get(k))
                .is_some_and(|v| v.as_bool() == Some(true))
        };
        Filter {
            tools_list_changed: self.tools_list_changed && can(&["tools", "listChanged"]),
            prompts_list_changed: self.prompts_list_changed && can(&["prompts", "listChanged"]),
            resources_list_changed: self.resources_list_changed
                && can(&["resources", "listChanged"]),
            resource_subscriptions: if can(&["resources", "subscribe"]) {
                self.resource_subscriptions.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// As the acknowledgement reports it: only the types agreed to.
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (key, on) in [
            ("toolsListChanged", self.tools_list_changed),
            ("promptsListChanged", self.prompts_list_changed),
            ("resourcesListChanged", self.resources_list_changed),
        ] {
            if on {
                out.insert(key.into(), Value::Bool(true));
            }
        }
        if !self.resource_subscriptions.is_empty() {
            out.insert(
                "resourceSubscriptions".into(),
                json!(self.resource_subscriptions),
            );
        }
        Value::Object(out)
    }

    /// Whether a notification of `method` (about `uri`, for resource updates) was asked for.
    pub fn wants(&self, method: &str, uri: Option<&str>) -> bool {
        match method {
            "notifications/tools/list_changed" => self.tools_list_changed,
            "notifications/prompts/list_changed" => self.prompts_list_changed,
            "notifications/resources/list_changed" => self.resources_list_changed,
            "notifications/resources/updated" => {
                uri.is_some_and(|u| self.resource_subscriptions.iter().any(|s| s == u))
            }
            _ => false,
        }
    }
}

/// `notification` (method and params) with `_meta.subscriptionId` set to `subscription`.
pub fn tagged(method: &str, params: Option<&RawValue>, subscription: &RawValue) -> Bytes {
    let mut params: Map<String, Value> = params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_default();
    let id: Value = serde_json::from_str(subscription.get()).unwrap_or(Value::Null);
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert(META_SUBSCRIPTION_ID.into(), id);
    }
    let message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
    Bytes::from(message.to_string())
}

struct Listener {
    key: u64,
    subscription: Box<RawValue>,
    filter: Filter,
    tx: mpsc::Sender<Bytes>,
}

/// The listeners of one pool.
#[derive(Default)]
pub struct Hub {
    listeners: Mutex<Vec<Listener>>,
    next: AtomicU64,
}

impl Hub {
    fn listeners(&self) -> std::sync::MutexGuard<'_, Vec<Listener>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn count(&self) -> usize {
        self.listeners().len()
    }

    fn add(&self, subscription: &RawValue, filter: Filter, tx: mpsc::Sender<Bytes>) -> u64 {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.listeners().push(Listener {
            key,
            subscription: subscription.to_owned(),
            filter,
            tx,
        });
        key
    }

    fn remove(&self, key: u64) {
        self.listeners().retain(|l| l.key != key);
    }
}

impl Unsolicited for Hub {
    fn deliver(&self, line: &Bytes) -> bool {
        let Some(env) = std::str::from_utf8(line)
            .ok()
            .and_then(|t| Envelope::parse(t).ok())
        else {
            return false;
        };
        if env.kind() != Kind::Notification {
            return false;
        }
        #[derive(Deserialize)]
        struct About {
            uri: Option<String>,
        }
        let uri = env
            .params
            .and_then(|p| serde_json::from_str::<About>(p.get()).ok())
            .and_then(|a| a.uri);
        // A listener that cannot keep up (its queue is full) is closed: it re-listens and re-reads
        // the lists, which is what a list_changed means anyway.
        self.listeners().retain(|l| {
            if !l.filter.wants(env.method(), uri.as_deref()) {
                return !l.tx.is_closed();
            }
            let event = sse::plain_event(&tagged(env.method(), env.params, &l.subscription));
            l.tx.try_send(event).is_ok()
        });
        true
    }

    fn closed(&self) {
        // One child of the pool is gone; the pool replaces it and the listeners stay.
    }
}

/// Opens a listen stream for the request `id` with `params` (its `notifications` filter).
pub async fn open(
    app: &Arc<App>,
    pool: Arc<StatelessPool>,
    id: &RawValue,
    notifications: Option<&RawValue>,
) -> Result<Response<ResponseBody>, HttpError> {
    let stateless = |error: RpcError| HttpError::Stateless {
        id: Some(id.to_owned()),
        error,
    };
    let requested: Filter = notifications
        .filter(|n| n.get().trim_start().starts_with('{'))
        .and_then(|n| serde_json::from_str(n.get()).ok())
        .ok_or_else(|| {
            stateless(RpcError::new(
                jsonrpc::INVALID_PARAMS,
                "subscriptions/listen: params.notifications must be a SubscriptionFilter object",
            ))
        })?;
    let init = app
        .health
        .initialize_result(app.config.request_timeout)
        .await
        .ok_or(HttpError::SpawnFailed)?;
    let capabilities = serde_json::from_str::<Value>(init.get())
        .ok()
        .and_then(|v| v.get("capabilities").cloned())
        .unwrap_or(Value::Null);
    let filter = requested.honoured(&capabilities);
    let (tx, rx) = mpsc::channel(app.config.standalone_queue.max(2));
    // The acknowledgement is queued before the listener is registered: it comes first.
    let ack = json!({ "notifications": filter.to_json() }).to_string();
    let ack = RawValue::from_string(ack).ok();
    let _ = tx.try_send(sse::plain_event(&tagged(
        "notifications/subscriptions/acknowledged",
        ack.as_deref(),
        id,
    )));
    let uris = filter.resource_subscriptions.clone();
    let key = pool.hub.add(id, filter, tx.clone());
    pool.pool.subscribe(&uris);
    let shutdown = app.shutdown.clone();
    let subscription = id.to_owned();
    tokio::spawn(async move {
        tokio::select! {
            _ = tx.closed() => {}
            _ = shutdown.cancelled() => {
                // The graceful end of a subscription (MCP 2026-07-28 `SubscriptionsListenResult`).
                let meta = json!({ META_SUBSCRIPTION_ID: &subscription });
                let result = json!({ "resultType": "complete", "_meta": meta }).to_string();
                let result = RawValue::from_string(result).ok();
                let end = jsonrpc::response(&subscription, result.as_deref(), None);
                let _ = tx.try_send(sse::plain_event(&end));
            }
        }
        pool.hub.remove(key);
        pool.pool.unsubscribe(&uris);
    });
    Ok(sse_stream(SseBody::new(rx, app.config.keepalive)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn only_requested_and_supported_types_pass() {
        let caps = json!({"tools": {"listChanged": true}, "resources": {"subscribe": true}});
        let asked = Filter {
            tools_list_changed: true,
            prompts_list_changed: true,
            resources_list_changed: true,
            resource_subscriptions: vec!["file:///a".into()],
        };
        let honoured = asked.honoured(&caps);
        assert_eq!(
            honoured.to_json(),
            json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///a"]})
        );
        assert!(honoured.wants("notifications/tools/list_changed", None));
        assert!(!honoured.wants("notifications/prompts/list_changed", None));
        assert!(honoured.wants("notifications/resources/updated", Some("file:///a")));
        assert!(!honoured.wants("notifications/resources/updated", Some("file:///b")));
        assert!(!honoured.wants("notifications/message", None));
    }

    #[test]
    fn notifications_are_tagged_with_the_subscription() {
        let id = RawValue::from_string("\"L1\"".into()).unwrap();
        let params = RawValue::from_string(r#"{"uri":"x","_meta":{"k":1}}"#.into()).unwrap();
        let out: Value = serde_json::from_slice(&tagged(
            "notifications/resources/updated",
            Some(&params),
            &id,
        ))
        .unwrap();
        assert_eq!(out["params"]["_meta"][META_SUBSCRIPTION_ID], "L1");
        assert_eq!(out["params"]["_meta"]["k"], 1);
        assert_eq!(out["params"]["uri"], "x");
        let bare: Value =
            serde_json::from_slice(&tagged("notifications/tools/list_changed", None, &id)).unwrap();
        assert_eq!(bare["params"]["_meta"][META_SUBSCRIPTION_ID], "L1");
    }
}
