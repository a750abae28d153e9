//! `loadgen malformed`: a burst of bad requests through the edge, each of which must get its own
//! defined answer (a status code, with a JSON-RPC error where the transport has one), while the
//! load of `loadgen soak` goes on around it: bad JSON, a body over the size limit, wrong methods,
//! a wrong content type, a message that is no JSON-RPC, a forged token and no token at all.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::json;

use crate::error::Error;
use crate::http::Endpoint;
use crate::session::ACCEPT_BOTH;

/// One bad request and the statuses that answer it correctly.
struct Case {
    name: &'static str,
    method: Method,
    content_type: &'static str,
    body: Bytes,
    /// `Some(value)`: this Authorization header instead of the endpoint's token.
    authorization: Option<&'static str>,
    expect: &'static [u16],
}

/// A token of the right shape (three base64url parts) whose signature is not authd's.
const FORGED: &str = "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvaWRjOmRldiIsImF1ZCI6IngiLCJleHAiOjQxMDI0NDQ4MDB9.Zm9yZ2Vk";

fn cases(max_body: usize) -> Vec<Case> {
    let case = |name, method, body: &[u8], expect| Case {
        name,
        method,
        content_type: "application/json",
        body: Bytes::copy_from_slice(body),
        authorization: None,
        expect,
    };
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let mut oversize = br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""#.to_vec();
    oversize.resize(max_body + 1024, b'a');
    oversize.extend_from_slice(br#""}}"#);
    vec![
        case("bad_json", Method::POST, b"{\"jsonrpc\":", &[400]),
        case("not_jsonrpc", Method::POST, b"{\"hello\":1}", &[400]),
        case("empty_batch", Method::POST, b"[]", &[400]),
        case("oversize", Method::POST, &oversize, &[413]),
        case("put", Method::PUT, ping, &[405]),
        case("patch", Method::PATCH, ping, &[405]),
        Case {
            content_type: "text/plain",
            ..case("text_plain", Method::POST, ping, &[415])
        },
        Case {
            authorization: Some(FORGED),
            ..case("forged_token", Method::POST, ping, &[401])
        },
        Case {
            authorization: Some(""),
            ..case("no_token", Method::POST, ping, &[401])
        },
    ]
}

/// Sends every case `rounds` times; fails unless each got one of its expected statuses.
pub async fn burst(endpoint: &Endpoint, rounds: usize, max_body: usize) -> Result<(), Error> {
    let mut counts = serde_json::Map::new();
    let mut wrong = Vec::new();
    for _ in 0..rounds {
        for case in cases(max_body) {
            let got = send(endpoint, &case).await;
            let ok = matches!(got, Ok(status) if case.expect.contains(&status));
            if !ok {
                wrong.push(format!("{}: {got:?}, want {:?}", case.name, case.expect));
            }
            let entry = counts.entry(case.name).or_insert(json!(0));
            *entry = json!(entry.as_u64().unwrap_or(0) + 1);
        }
    }
    println!(
        "{}",
        json!({"kind": "malformed", "rounds": rounds, "sent": counts, "wrong": wrong})
    );
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(wrong.join("; ")))
    }
}

/// The status of one answer, within the endpoint's deadline.
async fn send(endpoint: &Endpoint, case: &Case) -> Result<u16, Error> {
    let mut request = match case.authorization {
        Some(_) => hyper::Request::builder()
            .method(case.method.clone())
            .uri(endpoint.uri().clone()),
        None => endpoint.request(case.method.clone()),
    };
    if let Some(value) = case.authorization.filter(|v| !v.is_empty()) {
        request = request.header(AUTHORIZATION, value);
    }
    let request = request
        .header(CONTENT_TYPE, case.content_type)
        .header(ACCEPT, ACCEPT_BOTH)
        .header("mcp-protocol-version", "2025-11-25")
        .body(Full::new(case.body.clone()))
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let exchange = async {
        let response = endpoint.send(request).await?;
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await;
        Ok(status)
    };
    tokio::time::timeout(endpoint.timeout(), exchange)
        .await
        .map_err(|_| Error::Timeout(endpoint.timeout()))?
}
