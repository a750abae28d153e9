//! The sidecar in front of real official MCP servers (issue 2 "Proof required"):
//! `@modelcontextprotocol/server-everything` (tools, resources, prompts), `mcp-server-fetch`
//! (a page this test serves on loopback), `@modelcontextprotocol/server-memory` (graph round trip)
//! and `mcp-server-time` (conversion). Progress, sampling and elicitation are in `sse.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn everything_tools_resources_prompts() {
    let sc = sidecar(everything()).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;

    let tools = session.request("tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for expected in ["echo", "get-sum", "trigger-long-running-operation"] {
        assert!(
            names.contains(&expected),
            "tools/list lacks {expected}: {names:?}"
        );
    }
    assert_eq!(
        session
            .call_tool_text("echo", json!({"message": "héllo wörld"}))
            .await,
        "Echo: héllo wörld"
    );
    let sum = session
        .call_tool_text("get-sum", json!({"a": 2, "b": 40}))
        .await;
    assert!(sum.contains("42"), "{sum}");

    let resources = session.request("resources/list", json!({})).await;
    let first = &resources["result"]["resources"][0];
    let uri = first["uri"].as_str().expect("a resource");
    let read = session.request("resources/read", json!({"uri": uri})).await;
    assert_eq!(read["result"]["contents"][0]["uri"], uri, "{read}");

    let prompts = session.request("prompts/list", json!({})).await;
    assert!(
        prompts["result"]["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "args-prompt"),
        "{prompts}"
    );
    let prompt = session
        .request(
            "prompts/get",
            json!({"name": "args-prompt", "arguments": {"city": "Lyon"}}),
        )
        .await;
    let text = prompt["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("Lyon"), "{prompt}");

    // An unknown method is the child's JSON-RPC error, relayed as is.
    let unknown = session.request("no/such/method", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");

    assert_eq!(session.delete().await, StatusCode::NO_CONTENT);
    sc.assert_children_at_most(idle, "after DELETE").await;
}

/// A one-page HTTP/1.1 server on loopback (the page mcp-server-fetch is asked for).
async fn serve_page(body: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut request = Vec::new();
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn fetch_reads_a_loopback_page() {
    const PAGE: &str = "<html><head><title>Sidecar test page</title></head><body><h1>Gateway</h1>\
        <p>The marker is purple-elephant-4711 and it must come back through the bridge.</p></body></html>";
    let (port, server) = serve_page(PAGE).await;
    let sc = sidecar(fetch_server()).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_06_18).await;
    let url = format!("http://127.0.0.1:{port}/page.html");
    let raw = session
        .call_tool_text("fetch", json!({"url": url, "raw": true}))
        .await;
    assert!(raw.contains("purple-elephant-4711"), "raw fetch: {raw}");
    let simplified = session.call_tool_text("fetch", json!({"url": url})).await;
    assert!(
        simplified.contains("purple-elephant-4711"),
        "markdown fetch: {simplified}"
    );
    server.abort();
    sc.assert_clean(&[&session], idle).await;
}

#[tokio::test]
async fn memory_graph_round_trip() {
    let sc = sidecar(memory());
    let file = std::env::temp_dir().join(format!("{}.jsonl", unique("sidecar-memory")));
    let sc = sc.env("MEMORY_FILE_PATH", file.display()).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_11_25).await;
    let created = session
        .request(
            "tools/call",
            json!({"name": "create_entities", "arguments": {"entities": [
                {"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]},
                {"name": "Analytical Engine", "entityType": "machine", "observations": ["designed by Babbage"]}
            ]}}),
        )
        .await;
    assert!(created.get("result").is_some(), "{created}");
    let related = session
        .request(
            "tools/call",
            json!({"name": "create_relations", "arguments": {"relations": [
                {"from": "Ada", "to": "Analytical Engine", "relationType": "programmed"}
            ]}}),
        )
        .await;
    assert!(related.get("result").is_some(), "{related}");
    let graph = session.call_tool_text("read_graph", json!({})).await;
    for needle in [
        "Ada",
        "Analytical Engine",
        "programmed",
        "wrote the first program",
    ] {
        assert!(graph.contains(needle), "read_graph lacks {needle}: {graph}");
    }
    let found = session
        .call_tool_text("search_nodes", json!({"query": "Babbage"}))
        .await;
    assert!(
        found.contains("Analytical Engine") && !found.contains("\"person\""),
        "search_nodes: {found}"
    );
    sc.assert_clean(&[&session], idle).await;
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn time_conversion() {
    let sc = sidecar(time_server()).start().await;
    let idle = sc.steady_children().await;
    let session = sc.initialize(V_2025_03_26).await;
    let text = session
        .call_tool_text(
            "convert_time",
            json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
        )
        .await;
    assert!(
        text.contains("T21:00:00+09:00"),
        "12:00 UTC is 21:00 in Tokyo: {text}"
    );
    assert!(text.contains("+9.0h"), "{text}");
    let bad = session
        .request(
            "tools/call",
            json!({"name": "convert_time", "arguments": {"source_timezone": "Mars/Olympus", "time": "12:00", "target_timezone": "UTC"}}),
        )
        .await;
    assert!(
        bad["result"]["isError"] == true || bad.get("error").is_some(),
        "bad timezone is an error: {bad}"
    );
    sc.assert_clean(&[&session], idle).await;
}
