//! `subscriptions/listen` (MCP 2026-07-28 "Subscriptions"): the long-lived stream of the
//! notifications a client opted into. It starts with `notifications/subscriptions/acknowledged`
//! naming the types the server agreed to (those its children support), then carries the matching
//! list_changed and resource-update notifications of the pool's children (see `hub`); the server
//! MUST NOT send types the client did not request. At shutdown the stream ends with the
//! `SubscriptionsListenResult`.

use std::sync::Arc;

use hyper::Response;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::app::App;
use crate::error::HttpError;
use crate::http::body::ResponseBody;
use crate::http::response::sse_stream;
use crate::http::sse::SseBody;
use crate::modern::hub::{Filter, tagged};
use crate::modern::pools::StatelessPool;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::modern::META_SUBSCRIPTION_ID;
use crate::protocol::sse;

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
        .initialize_result(app.config.child_start_timeout)
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
