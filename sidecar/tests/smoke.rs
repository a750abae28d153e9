//! Smoke tests: the real `sidecar` binary in front of real official MCP servers
//! (`@modelcontextprotocol/server-everything` on Node 22, `mcp-server-time` from the venv).
//! Initialize, list, call over JSON and SSE, progress, a sampling round trip, DELETE, a SIGTERM
//! that leaves no child process behind, and shared mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{BOTH, Session, Sidecar, call, events, everything, time_server};

#[tokio::test]
async fn everything_server_round_trips() {
    let sidecar = Sidecar::start(everything()).await;
    let s = Session::open(&sidecar, "2025-11-25", json!({"sampling": {}})).await;

    let tools = s
        .json(json!({"jsonrpc": "2.0", "id": "list", "method": "tools/list"}))
        .await;
    assert_eq!(tools["id"], "list");
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"trigger-sampling-request"),
        "{names:?}"
    );

    let echo = s
        .json(call(json!(1), "echo", json!({"message": "json"})))
        .await;
    assert_eq!(echo["result"]["content"][0]["text"], "Echo: json");

    // SSE: priming event (id, empty data) first, then the response, then the end of the stream.
    let ev = s
        .sse(call(json!(1), "echo", json!({"message": "sse"})))
        .await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(ev[0].0.ends_with("-0") && ev[0].1.is_empty());
    let answer: Value = serde_json::from_str(&ev[1].1).unwrap();
    assert_eq!(
        (
            answer["id"].clone(),
            answer["result"]["content"][0]["text"].clone()
        ),
        (json!(1), json!("Echo: sse"))
    );

    // Progress notifications for this request's token arrive before its response.
    let mut long = call(
        json!("p"),
        "trigger-long-running-operation",
        json!({"duration": 1, "steps": 2}),
    );
    long["params"]["_meta"] = json!({"progressToken": "tok"});
    let ev = s.sse(long).await;
    let msgs: Vec<Value> = ev[1..]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(
        msgs[..2]
            .iter()
            .all(|m| m["method"] == "notifications/progress"
                && m["params"]["progressToken"] == "tok")
    );
    assert_eq!(msgs[2]["id"], "p");

    // Sampling: the server's request comes over the POST's stream, our answer goes back in a POST.
    let mut r = s
        .post(
            BOTH,
            call(
                json!(9),
                "trigger-sampling-request",
                json!({"prompt": "hi"}),
            ),
        )
        .await;
    let mut text = String::new();
    let request = loop {
        let chunk = r
            .chunk()
            .await
            .unwrap()
            .expect("stream ended before the sampling request");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        let found = events(&text).into_iter().find_map(|(_, d)| {
            let v: Value = serde_json::from_str(&d).ok()?;
            (v["method"] == "sampling/createMessage").then_some(v)
        });
        if let Some(v) = found {
            break v;
        }
    };
    let reply = json!({"jsonrpc": "2.0", "id": request["id"], "result": {
        "role": "assistant", "model": "smoke", "content": {"type": "text", "text": "sampled!"}}});
    assert_eq!(s.post(BOTH, reply).await.status(), 202);
    while let Some(chunk) = r.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let last: Value = serde_json::from_str(&events(&text).last().unwrap().1).unwrap();
    assert_eq!(last["id"], 9);
    assert!(
        last["result"]["content"].to_string().contains("sampled!"),
        "{last}"
    );

    // DELETE ends the session and its child; the id is then unknown.
    let before = sidecar.children().len();
    let r = s
        .http
        .delete(&s.url)
        .header("mcp-session-id", &s.id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(sidecar.children().len(), before - 1);
    let r = s
        .post(BOTH, json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn time_server_over_json_and_sse() {
    let sidecar = Sidecar::start(time_server()).await;
    let s = Session::open(&sidecar, "2025-06-18", json!({})).await;
    let get_time = call(json!("t"), "get_current_time", json!({"timezone": "UTC"}));
    let answer = s.json(get_time.clone()).await;
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("UTC")
    );
    let ev = s.sse(get_time).await;
    // 2025-06-18 sessions get no priming event (older clients cannot parse empty data).
    assert_eq!(ev.len(), 1, "{ev:?}");
    let answer: Value = serde_json::from_str(&ev[0].1).unwrap();
    assert_eq!(answer["id"], "t");
    // The negotiated version is enforced.
    let r = s
        .http
        .post(&s.url)
        .header("accept", BOTH)
        .header("mcp-session-id", &s.id)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn sigterm_stops_every_child() {
    let mut sidecar = Sidecar::start(time_server()).await;
    let a = Session::open(&sidecar, "2025-03-26", json!({})).await;
    let _b = Session::open(&sidecar, "2025-11-25", json!({})).await;
    // Batches are allowed in a 2025-03-26 session.
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]);
    let answers = a.json(batch).await;
    assert_eq!(answers.as_array().unwrap().len(), 2);
    let children = sidecar.children();
    assert!(
        children.len() >= 3,
        "two sessions and the probe: {children:?}"
    );
    assert!(sidecar.terminate().success());
    for pid in children {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} left behind"
        );
    }
}

#[tokio::test]
async fn shared_mode_serves_virtual_sessions() {
    let env = [
        ("SIDECAR_SESSION_MODE", "shared"),
        ("SIDECAR_SHARED_POOL", "2"),
    ];
    let sidecar = Sidecar::start_with(everything(), &env).await;
    // Each session gets the revision it asked for, from the cached initialize result.
    let a = Session::open(&sidecar, "2025-06-18", json!({})).await;
    let b = Session::open(&sidecar, "2025-11-25", json!({})).await;
    assert_ne!(a.id, b.id);
    // Two shared children and the probe child; sessions add none.
    let children = sidecar.children().len();
    assert_eq!(children, 3, "{:?}", sidecar.children());
    // Concurrent calls with the same ids in both sessions are each answered to their sender.
    let calls = (0..20).map(|i| {
        let (s, who) = if i % 2 == 0 { (&a, "a") } else { (&b, "b") };
        async move {
            let message = format!("{who}{i}");
            let answer = s
                .json(call(json!(i / 2), "echo", json!({"message": message})))
                .await;
            assert_eq!(answer["id"], i / 2);
            assert_eq!(
                answer["result"]["content"][0]["text"],
                format!("Echo: {message}")
            );
        }
    });
    futures::future::join_all(calls).await;
    let ev = b
        .sse(call(json!("s"), "echo", json!({"message": "x"})))
        .await;
    let last: Value = serde_json::from_str(&ev.last().unwrap().1).unwrap();
    assert_eq!(last["result"]["content"][0]["text"], "Echo: x");
    // Ending a session leaves the shared children running and the other session working.
    let r = a
        .http
        .delete(&a.url)
        .header("mcp-session-id", &a.id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(sidecar.children().len(), children);
    assert_eq!(
        b.post(BOTH, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .await
            .status(),
        200
    );
    let r = a
        .post(BOTH, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(r.status(), 404);
}
