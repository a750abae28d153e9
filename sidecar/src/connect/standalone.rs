//! The standalone GET stream of a legacy session (MCP "Streamable HTTP" > "Listening for Messages
//! from the Server"): unsolicited server messages (list changes, resource updates, log messages,
//! server requests) reach the client through it. Opened once the client is initialized, resumed
//! with `Last-Event-ID` after a drop (after the server's `retry` delay), followed to the next
//! session after a restart; a 405 means the server offers none.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};

use super::gateway::{Body, headers};
use super::session::Link;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// The longest wait between two attempts to open the stream.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Starts the stream task into `slot` unless it runs (once per relay: it follows the session
/// through restarts).
pub async fn start(slot: &Mutex<Option<JoinHandle<()>>>, link: Arc<Link>) {
    let mut task = slot.lock().await;
    if task.is_none() {
        *task = Some(tokio::spawn(run(link)));
    }
}

async fn run(relay: Arc<Link>) {
    let mut generations = relay.generation.subscribe();
    let mut last_id: Option<String> = None;
    let mut backoff = Duration::from_secs(1);
    let mut seen_generation = *generations.borrow();
    loop {
        let s = relay.session.lock().await.clone();
        if s.generation != seen_generation {
            // A new session: its stream starts from the beginning.
            seen_generation = s.generation;
            last_id = None;
        }
        let Some(id) = s.id else { return };
        let mut h = headers("text/event-stream", Some(&id), s.version.as_deref());
        h.remove("content-type");
        if let Some(v) = last_id
            .as_deref()
            .filter(|v| !v.is_empty())
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert("last-event-id", v);
        }
        let answer = relay.gw.send(Method::GET, h, None).await;
        let wait = match answer {
            Ok(a) if a.status == StatusCode::METHOD_NOT_ALLOWED => return,
            Ok(a) => match a.body {
                Body::Stream(resp) => {
                    backoff = Duration::from_secs(1);
                    let out = relay.out.clone();
                    let (parser, _) = relay
                        .gw
                        .events(resp, |data| {
                            let out = out.clone();
                            async move {
                                out.send(Bytes::from(data)).await;
                                true
                            }
                        })
                        .await;
                    last_id = parser.last_id.or(last_id);
                    parser.retry_ms.map_or(backoff, Duration::from_millis)
                }
                // 404: the session is gone; the next request starts a new one.
                Body::Whole(_) if a.status == StatusCode::NOT_FOUND => {
                    if generations.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                Body::Whole(_) => {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "standalone stream failed");
                backoff = (backoff * 2).min(MAX_BACKOFF);
                backoff
            }
        };
        tokio::time::sleep(wait).await;
    }
}
