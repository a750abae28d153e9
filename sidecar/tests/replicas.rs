//! Replicas of one MCP service (issue 12 item 1): two real sidecars on handed-over sockets, sharing
//! `SIDECAR_SESSION_KEY`, in front of real official servers. A session started on one (the owner)
//! is used through the other, which forwards each request once, streaming: POST (JSON and SSE
//! answers, notifications), GET (the standalone stream, `Last-Event-ID` resumption) and DELETE.
//! A tampered id, an owner that is gone, a request forwarded already and forwarding switched off
//! each get 404 (the client starts a new session) while the replica keeps serving. SIGTERM drains.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// 32 random bytes, base64: the key both replicas share.
const KEY: &str = "q83vEjRWeJC8V8t1z3rJ1E3l2b8cN0pZsQ2wYv5m6aE=";
const OTHER_KEY: &str = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=";

/// One replica. No warm pool: sessions spawn their child on demand, which halves the processes
/// these tests start at once (each replica's health probe child is started anyway).
fn replica(command: Vec<String>) -> SidecarBuilder {
    sidecar(command)
        .env("SIDECAR_SESSION_KEY", KEY)
        .env("SIDECAR_WARM_POOL", 0)
}

/// Two replicas of one service, started together.
async fn pair(command: fn() -> Vec<String>) -> (Sidecar, Sidecar) {
    let (a, b) = (replica(command()).spawn(), replica(command()).spawn());
    futures::join!(a.wait_healthy(), b.wait_healthy());
    (a, b)
}

/// `session` as seen through another replica: same id, requests sent to `other`.
fn through(session: &Session, other: &Sidecar) -> Session {
    let mut moved = Session::new(
        other.client.clone(),
        other.mcp(),
        &session.version,
        session.user.as_deref(),
    );
    moved.id = session.id.clone();
    moved
}

async fn assert_session_gone(session: &Session, what: &str) {
    let resp = session
        .post(&request_body(json!(99), "tools/list", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{what}");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

#[tokio::test]
async fn every_method_reaches_the_owner_through_the_other_replica() {
    let (owner, other) = pair(everything).await;
    let idle = owner.steady_children().await;
    let started = owner.initialize_as(V_2025_11_25, Some("alice")).await;
    assert!(
        started.id.split('.').count() == 3 && started.id.bytes().all(|b| b.is_ascii_graphic()),
        "a sealed id of visible ASCII: {}",
        started.id
    );
    let session = through(&started, &other);
    // POST, JSON answer.
    let tools = session.request("tools/list", json!({})).await;
    assert!(
        tools["result"]["tools"].as_array().unwrap().len() > 3,
        "{tools}"
    );
    // POST, SSE answer, streamed event by event.
    let echo = session
        .call_tool_text("echo", json!({"message": "via the other replica"}))
        .await;
    assert!(echo.contains("via the other replica"), "{echo}");
    // A notification: 202 from the owner.
    assert_eq!(
        session
            .notify("notifications/roots/list_changed", None)
            .await,
        StatusCode::ACCEPTED
    );
    // GET: the owner's standalone stream.
    let resp = session.get().send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(content_type(&resp).starts_with("text/event-stream"));
    drop(resp);
    assert!(other.metric("method=\"forwarded\"").await >= 4.0);
    assert_eq!(other.metric("sidecar_sessions ").await, 0.0);
    // Another user presenting the id: the owner's user binding holds across the hop.
    let mut mallory = through(&started, &other);
    mallory.user = Some("mallory".into());
    assert_session_gone(&mallory, "another user's session").await;
    // DELETE through the other replica ends the session on the owner.
    assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
    assert_session_gone(&started, "deleted through the other replica").await;
    owner.assert_clean(&[], idle).await;
}

#[tokio::test]
async fn last_event_id_resumes_through_the_other_replica() {
    let (owner, other) = pair(everything).await;
    let started = owner.initialize(V_2025_11_25).await;
    let mut stream = started.post_sse(&long_call(7, "resume", 2, 4)).await;
    let first = stream.next_progress().await;
    drop(stream); // the connection to the owner breaks mid-call
    let session = through(&started, &other);
    let resp = session
        .get()
        .header("last-event-id", first.id.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET with Last-Event-ID");
    let (progress, response) = SseStream::new(resp)
        .progress_and_response("resume", 7)
        .await;
    assert_eq!(progress, vec![2.0, 3.0, 4.0], "replayed, then live");
    assert!(
        response["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Steps: 4")
    );
}

#[tokio::test]
async fn shared_mode_sessions_are_forwarded_too() {
    let time = || time_server();
    let shared = |sc: SidecarBuilder| sc.env("SIDECAR_SESSION_MODE", "shared");
    let (owner, other) = (
        shared(replica(time())).spawn(),
        shared(replica(time())).spawn(),
    );
    futures::join!(owner.wait_healthy(), other.wait_healthy());
    let started = owner.initialize(V_2025_06_18).await;
    let session = through(&started, &other);
    let now = session
        .call_tool_text("get_current_time", json!({"timezone": "UTC"}))
        .await;
    assert!(now.contains("UTC"), "{now}");
}

#[tokio::test]
async fn tampered_and_foreign_ids_get_404_and_both_keep_serving() {
    let (owner, other) = pair(time_server).await;
    let foreign = sidecar(time_server())
        .env("SIDECAR_SESSION_KEY", OTHER_KEY)
        .start()
        .await;
    // Another service (another server command) under the same key: its ids name its replicas,
    // which the client may not be allowed to use; they must not be reachable through this one.
    let mut berlin = time_server();
    berlin[2] = "Europe/Berlin".into();
    let other_service = replica(berlin).start().await;
    let from_other_service = other_service.initialize(V_2025_11_25).await;
    let genuine = owner.initialize(V_2025_11_25).await;
    let parts: Vec<&str> = genuine.id.split('.').collect();
    let elsewhere = base64_url(&format!("http://127.0.0.1:{}", foreign.port));
    let from_foreign = foreign.initialize(V_2025_11_25).await;
    for forged in [
        // The owner's address replaced: a client steering the replica elsewhere.
        format!("{}.{elsewhere}.{}", parts[0], parts[2]),
        // The tag altered.
        format!("{}.{}.{}", parts[0], parts[1], flip_last(parts[2])),
        // Sealed under another service's key.
        from_foreign.id.clone(),
        // Sealed under the same key for another service.
        from_other_service.id.clone(),
        // Not sealed at all.
        "plain-random-id".to_owned(),
    ] {
        for sc in [&owner, &other] {
            let mut session = through(&genuine, sc);
            session.id = forged.clone();
            assert_session_gone(&session, &format!("forged id {forged}")).await;
        }
    }
    for sc in [&foreign, &other_service] {
        assert_eq!(sc.metric("method=\"tools/list\"").await, 0.0);
    }
    through(&genuine, &other).request("ping", json!({})).await;
    other.assert_still_serves().await;
    owner.assert_still_serves().await;
}

fn base64_url(text: &str) -> String {
    use std::fmt::Write;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let _ = write!(
                out,
                "{}",
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
            );
        }
    }
    out
}

fn flip_last(tag: &str) -> String {
    let (head, last) = tag.split_at(tag.len() - 1);
    format!("{head}{}", if last == "A" { "B" } else { "A" })
}

#[tokio::test]
async fn an_owner_that_is_gone_gives_404_and_the_client_starts_over_on_the_survivor() {
    let (owner, survivor) = pair(time_server).await;
    let started = owner.initialize(V_2025_11_25).await;
    let session = through(&started, &survivor);
    session.request("ping", json!({})).await;
    signal(owner.pid(), "KILL");
    within(EVENT_WITHIN, "owner exits", async {
        while owner.exit_status().is_none() {
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    assert_session_gone(&session, "owner killed").await;
    let again = survivor.initialize(V_2025_11_25).await;
    let now = again
        .call_tool_text("get_current_time", json!({"timezone": "UTC"}))
        .await;
    assert!(now.contains("UTC"), "{now}");
}

#[tokio::test]
async fn a_request_is_forwarded_once_at_most() {
    let (owner, other) = pair(time_server).await;
    let started = owner.initialize(V_2025_11_25).await;
    // A request that claims to have been forwarded already is never sent on again.
    let resp = through(&started, &other)
        .post(&request_body(json!(1), "ping", json!({})))
        .header("mcp-forwarded", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // The owner no longer holding its own session answers 404 itself (no hop back to itself).
    assert_eq!(started.delete().await, StatusCode::NO_CONTENT);
    assert_session_gone(&started, "deleted on the owner").await;
    assert_session_gone(&through(&started, &other), "deleted, through the other").await;
    assert_eq!(owner.metric("method=\"forwarded\"").await, 0.0);
}

/// A request that reaches the other replica over cleartext HTTP/2, as Traefik sends it, names its
/// host in `:authority` only; forwarded over HTTP/1.1 it must carry that host as its Host field
/// (RFC 9113 §8.3.1), not the owner's address, which the owner's Host check refuses (403). The
/// owner advertises a name of itself that is not on its Host allow list to make the difference.
#[tokio::test]
async fn a_request_over_cleartext_http2_is_forwarded_with_its_host() {
    let owner = replica(time_server())
        .env("SIDECAR_ADVERTISE_URL", "http://[::ffff:127.0.0.1]:{port}")
        .spawn();
    let other = replica(time_server()).spawn();
    futures::join!(owner.wait_healthy(), other.wait_healthy());
    let started = owner.initialize(V_2025_11_25).await;
    let mut session = through(&started, &other);
    session.client = cleartext_http2_client();
    let resp = session
        .post(&request_body(json!(7), "ping", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (StatusCode::OK, reqwest::Version::HTTP_2)
    );
    assert_eq!(other.metric("method=\"forwarded\"").await, 1.0);
}

#[tokio::test]
async fn with_forwarding_off_the_other_replica_answers_404() {
    let owner = replica(time_server()).spawn();
    let other = replica(time_server())
        .env("SIDECAR_FORWARD_SESSIONS", "false")
        .spawn();
    futures::join!(owner.wait_healthy(), other.wait_healthy());
    let started = owner.initialize(V_2025_11_25).await;
    assert_session_gone(&through(&started, &other), "forwarding off").await;
    started.request("ping", json!({})).await;
}

#[tokio::test]
async fn stateless_requests_are_served_by_either_replica() {
    let (a, b) = pair(time_server).await;
    for sc in [&a, &b] {
        let result = Stateless::new(sc)
            .call_tool("get_current_time", json!({"timezone": "UTC"}))
            .await;
        assert!(
            result["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("UTC")
        );
        assert_eq!(sc.metric("method=\"forwarded\"").await, 0.0);
    }
}

#[tokio::test]
async fn sigterm_drains_health_503_no_new_sessions_in_flight_requests_finish() {
    let sc = replica(everything())
        .env("SIDECAR_SHUTDOWN_GRACE_SECS", 60)
        .start()
        .await;
    let session = sc.initialize(V_2025_11_25).await;
    let mut stream = session.post_sse(&long_call(5, "drain", 3, 3)).await;
    // The call is running (its first progress arrived) when SIGTERM comes.
    stream.next_progress().await;
    signal(sc.pid(), "TERM");
    let (status, health) = within(EVENT_WITHIN, "health turns 503", async {
        loop {
            let (status, body) = sc.health().await;
            if status == StatusCode::SERVICE_UNAVAILABLE {
                return (status, body);
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("draining"))
    );
    let refused = sc
        .post_raw(&initialize_body(1, V_2025_11_25))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let response = loop {
        let event = stream
            .next_within(EVENT_WITHIN, "the call in flight finishes")
            .await
            .expect("the response before the stream ends");
        if !event.data.is_empty() && event.json()["id"] == 5 {
            break event.json();
        }
    };
    assert!(
        response["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Steps: 3")
    );
    // Nothing left in flight: the sidecar stops well before its 60 s grace period.
    let exit = within(EVENT_WITHIN, "exit after the drain", sc.terminate()).await;
    assert!(exit.success(), "{exit:?}");
}
