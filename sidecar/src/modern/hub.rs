//! A pool's listeners (MCP 2026-07-28 "Subscriptions"): the sink of its children's unsolicited
//! messages, which fans each notification out to the `subscriptions/listen` streams that asked
//! for its type, tagged with each stream's subscription id. Server-to-client requests it does not
//! take (they belong to requests; the child is told nobody can answer).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::child::state::Unsolicited;
use crate::protocol::jsonrpc::{Envelope, Kind};
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
    pub fn to_json(&self) -> Value {
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
    /// Counts the children's `notifications/tools/list_changed` (what was learnt from a tools/list
    /// before a change is stale).
    tools_changed: AtomicU64,
}

impl Hub {
    fn listeners(&self) -> std::sync::MutexGuard<'_, Vec<Listener>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn count(&self) -> usize {
        self.listeners().len()
    }

    /// How many times the children said their tool list changed.
    pub fn tools_changed(&self) -> u64 {
        self.tools_changed.load(Ordering::Relaxed)
    }

    pub fn add(&self, subscription: &RawValue, filter: Filter, tx: mpsc::Sender<Bytes>) -> u64 {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.listeners().push(Listener {
            key,
            subscription: subscription.to_owned(),
            filter,
            tx,
        });
        key
    }

    pub fn remove(&self, key: u64) {
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
        if env.method() == "notifications/tools/list_changed" {
            self.tools_changed.fetch_add(1, Ordering::Relaxed);
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
