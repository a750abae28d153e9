//! `sidecar connect` in front of a real `sidecar serve` and real MCP servers (no edge, so no
//! OAuth: the transport alone): sessions, SSE answers with progress, a server-to-client request
//! answered over stdio, stateless requests, a lost session started again unnoticed, bad input,
//! and a dead gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod connect_common;

use common::{V_2025_06_18, V_2025_11_25, conformance_server, everything, sidecar, time_server};
use connect_common::{BreakingRelay, Bridge};
use serde_json::json;

/// A successful `get_current_time` call through the bridge.
async fn current_time(bridge: &mut Bridge, id: u64) {
    let args = json!({"name": "get_current_time", "arguments": {"timezone": "UTC"}});
    let answer = bridge.request(id, "tools/call", args).await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
}

#[tokio::test]
async fn relays_a_session_and_ends_it() {
    let sc = sidecar(time_server()).start().await;
    let mut bridge = Bridge::start(&sc.mcp(), &[]);
    let init = bridge.initialize(V_2025_06_18).await;
    assert_eq!(init["result"]["protocolVersion"], V_2025_06_18);
    current_time(&mut bridge, 1).await;
    assert_eq!(
        bridge.request(2, "ping", json!({})).await["result"],
        json!({})
    );
    let (status, stderr) = bridge.finish().await;
    assert!(status.success(), "{stderr}");
    // The bridge ended its session (MCP "Session Management": DELETE on leaving).
    connect_common::eventually("the session to end", || async {
        sc.health().await.1["sessions"] == 0
    })
    .await;
}

#[tokio::test]
async fn progress_and_server_requests_pass_over_stdio() {
    let sc = sidecar(everything()).start().await;
    let mut bridge = Bridge::start(&sc.mcp(), &[]);
    bridge.initialize(V_2025_11_25).await;
    let done = bridge
        .request(
            1,
            "tools/call",
            json!({"name": "trigger-long-running-operation",
                   "arguments": {"duration": 1, "steps": 3},
                   "_meta": {"progressToken": "p1"}}),
        )
        .await;
    assert!(done["result"]["content"].is_array(), "{done}");
    let progress: Vec<_> = bridge
        .others
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{:?}", bridge.others);
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "p1")
    );
    // Sampling: the server asks the client, over stdio; the client answers on stdin.
    bridge
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "trigger-sampling-request", "arguments": {"prompt": "hi"}}}))
        .await;
    let asked = bridge.next().await;
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    bridge
        .send(&json!({"jsonrpc": "2.0", "id": asked["id"], "result": {
            "role": "assistant", "model": "test",
            "content": {"type": "text", "text": "sampled over stdio"}}}))
        .await;
    let answer = bridge.response(json!(2)).await;
    assert!(
        answer.to_string().contains("sampled over stdio"),
        "{answer}"
    );
    let (status, _) = bridge.finish().await;
    assert!(status.success());
}

#[tokio::test]
async fn stateless_requests_pass_with_their_headers() {
    let sc = sidecar(time_server()).start().await;
    let mut bridge = Bridge::start(&sc.mcp(), &[]);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}});
    let listed = bridge
        .request(1, "tools/list", json!({"_meta": meta}))
        .await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    let called = bridge
        .request(
            2,
            "tools/call",
            json!({"name": "get_current_time", "arguments": {"timezone": "UTC"}, "_meta": meta}),
        )
        .await;
    assert_eq!(called["result"]["isError"], false, "{called}");
    // An invalid _meta is answered as the gateway would (-32602), without a round trip.
    let bad = bridge
        .request(
            3,
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}),
        )
        .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    bridge.finish().await;
}

#[tokio::test]
async fn a_lost_session_is_started_again_unnoticed() {
    // Sessions expire after a second without activity: the gateway forgets ours.
    let sc = sidecar(time_server())
        .env("SIDECAR_IDLE_TIMEOUT_SECS", 1)
        .start()
        .await;
    let mut bridge = Bridge::start(&sc.mcp(), &[]);
    bridge.initialize(V_2025_06_18).await;
    connect_common::eventually("the idle session to expire", || async {
        sc.health().await.1["sessions"] == 0
    })
    .await;
    current_time(&mut bridge, 1).await;
    // Nothing but the answer reached the client: no second initialize result, no error.
    assert!(bridge.others.is_empty(), "{:?}", bridge.others);
    bridge.finish().await;
}

#[tokio::test]
async fn bad_input_gets_errors_and_the_bridge_goes_on() {
    let sc = sidecar(time_server()).start().await;
    let mut bridge = Bridge::start(&sc.mcp(), &["--max-line-bytes", "4096"]);
    bridge.initialize(V_2025_06_18).await;
    bridge.send_raw(b"this is not json\n").await;
    let e = bridge.next().await;
    assert_eq!(
        (e["id"].clone(), e["error"]["code"].clone()),
        (json!(null), json!(-32700))
    );
    bridge
        .send_raw(b"{\"jsonrpc\": \"2.0\", \"id\": 5}\n")
        .await;
    let e = bridge.next().await;
    assert_eq!(e["error"]["code"], -32600, "{e}");
    bridge
        .send_raw(b"[{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}]\n")
        .await;
    let e = bridge.next().await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("batches"),
        "{e}"
    );
    // A line over the limit is refused and skipped to its end; the next one is served.
    let mut long = vec![b'x'; 10_000];
    long.push(b'\n');
    bridge.send_raw(&long).await;
    let e = bridge.next().await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("4096"),
        "{e}"
    );
    assert_eq!(
        bridge.request(7, "ping", json!({})).await["result"],
        json!({})
    );
    // A request the server refuses comes back as the server's error, with its id.
    let refused = bridge.request(8, "no/such/method", json!({})).await;
    assert_eq!(refused["error"]["code"], -32601, "{refused}");
    let (status, _) = bridge.finish().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_dead_gateway_is_a_clear_error() {
    // Nothing listens on port 1 of loopback: every connection is refused.
    let mut bridge = Bridge::start("http://127.0.0.1:1/mcp", &[]);
    bridge
        .send(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": V_2025_06_18, "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .await;
    let e = bridge.response(json!(1)).await;
    assert_eq!(e["error"]["code"], -32000, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{e}"
    );
    let (status, _) = bridge.finish().await;
    assert!(status.success());
}

#[tokio::test]
async fn bad_options_exit_64_with_every_problem() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sidecar"))
        .args([
            "connect",
            "not a url",
            "--max-line-bytes",
            "1",
            "--login-timeout-secs",
            "0",
            "--log-level",
            "loud",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in [
        "URL",
        "--max-line-bytes",
        "--login-timeout-secs",
        "--log-level",
    ] {
        assert!(err.contains(name), "{name} missing: {err}");
    }
}

#[tokio::test]
async fn unsolicited_messages_arrive_on_the_standalone_stream() {
    let sc = sidecar(conformance_server()).start().await;
    let mut bridge = Bridge::start(&sc.mcp(), &[]);
    bridge.initialize(V_2025_11_25).await;
    let answer = bridge
        .request(
            1,
            "tools/call",
            json!({"name": "test_trigger_tool_change", "arguments": {}}),
        )
        .await;
    assert!(answer.get("result").is_some(), "{answer}");
    // The list change reaches the client (on the call's stream or the session's GET stream,
    // wherever the gateway sends it).
    let mut seen = bridge.others.clone();
    while !seen
        .iter()
        .any(|m| m["method"] == "notifications/tools/list_changed")
    {
        seen.push(bridge.next().await);
    }
    // The bridge keeps the session's GET stream open (the sidecar counts it as `stream`).
    connect_common::eventually("the standalone stream to open", || async {
        sc.metrics()
            .await
            .contains(r#"sidecar_requests_total{method="stream",status="200"}"#)
    })
    .await;
    bridge.finish().await;
}

#[tokio::test]
async fn a_broken_answer_stream_is_resumed() {
    let mut relay = BreakingRelay::bind().await;
    let host = format!("127.0.0.1:{}", relay.port);
    let sc = sidecar(everything())
        .env("SIDECAR_ALLOWED_HOSTS", &host)
        .start()
        .await;
    // The connection breaks right after the first progress event of the call's SSE answer.
    relay.start(sc.port, b"notifications/progress");
    let mut bridge = Bridge::start(&format!("http://{host}/mcp"), &[]);
    bridge.initialize(V_2025_11_25).await;
    let done = bridge
        .request(
            1,
            "tools/call",
            json!({"name": "trigger-long-running-operation",
                   "arguments": {"duration": 2, "steps": 4},
                   "_meta": {"progressToken": "p"}}),
        )
        .await;
    assert!(done["result"]["content"].is_array(), "{done}");
    assert!(relay.cut(), "the relay never broke a connection");
    // Resumed with Last-Event-ID: every progress event once, none lost, none twice.
    let progress: Vec<_> = bridge
        .others
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| m["params"]["progress"].clone())
        .collect();
    assert_eq!(progress.len(), 4, "{:?}", bridge.others);
    let mut distinct = progress.clone();
    distinct.dedup();
    assert_eq!(distinct, progress);
    bridge.finish().await;
}
