//! Multi-round-trip requests (issue 10 item 2; MCP 2026-07-28 "Multi Round-Trip Requests"): a
//! child's server-to-client requests during a stateless call become an `InputRequiredResult` whose
//! `requestState` (HMAC, bound to user and request, expiring, single use) resumes the held call.
//! Children: the official everything server, and the conformance fixture, whose requests carry the
//! ids the conformance scenarios name (the sidecar keys `inputRequests` by the child's id).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn accept(content: Value) -> Value {
    json!({"action": "accept", "content": content})
}

fn sampled(text: &str) -> Value {
    json!({"role": "assistant", "content": {"type": "text", "text": text},
           "model": "test-model", "stopReason": "endTurn"})
}

/// `tools/call` of `tool` with extra params (inputResponses, requestState).
async fn call(client: &Stateless, tool: &str, extra: Value) -> Answer {
    let mut params = json!({"name": tool, "arguments": {}});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        params[k] = v;
    }
    client.request("tools/call", params).await
}

/// The `requestState` of an `InputRequiredResult`, after checking its shape.
fn state_of(answer: &Answer) -> String {
    let result = answer.result();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(result["resultType"], "input_required", "{result}");
    result["requestState"].as_str().unwrap().to_owned()
}

async fn held_calls(sc: &Sidecar) -> u64 {
    let text = sc.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix("sidecar_held_calls "))
        .and_then(|v| v.parse().ok())
        .expect("sidecar_held_calls is exported")
}

fn refused(answer: &Answer, what: &str) {
    assert_eq!(
        (answer.status, answer.error_code()),
        (StatusCode::BAD_REQUEST, Some(-32602)),
        "{what}: {:?}",
        answer.messages
    );
}

/// An official server's sampling and elicitation, each through one input_required round trip.
#[tokio::test]
async fn official_sampling_and_elicitation_round_trips() {
    let sc = sidecar(everything()).start().await;
    let client = Stateless::new(&sc);
    let first = call(
        &client,
        "trigger-sampling-request",
        json!({"arguments": {"prompt": "hi"}}),
    )
    .await;
    let state = state_of(&first);
    let requests = first.result()["inputRequests"].as_object().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    let responses = json!({ key: sampled("sampled answer") });
    let done = call(
        &client,
        "trigger-sampling-request",
        json!({"arguments": {"prompt": "hi"}, "inputResponses": responses, "requestState": state}),
    )
    .await;
    assert_eq!(
        done.result()["resultType"],
        "complete",
        "{:?}",
        done.messages
    );
    assert!(
        done.result()["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("sampled answer")
    );
    // The state was for one use: replayed, it is refused.
    let again = call(
        &client,
        "trigger-sampling-request",
        json!({"arguments": {"prompt": "hi"}, "inputResponses": responses, "requestState": state}),
    )
    .await;
    refused(&again, "replayed state");
    let asked = call(&client, "trigger-elicitation-request", json!({})).await;
    let requests = asked.result()["inputRequests"].as_object().unwrap().clone();
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create");
    let content = json!({"name": "Ada", "check": true, "email": "ada@example.com"});
    let done = call(
        &client,
        "trigger-elicitation-request",
        json!({"inputResponses": {key: accept(content)}, "requestState": state_of(&asked)}),
    )
    .await;
    assert_eq!(
        done.result()["resultType"],
        "complete",
        "{:?}",
        done.messages
    );
    assert_eq!(held_calls(&sc).await, 0);
}

/// Rounds, several requests at once, answers given up front, and what is refused.
#[tokio::test]
async fn rounds_and_input_given_up_front() {
    let sc = sidecar(conformance_server()).start().await;
    let client = Stateless::new(&sc);
    // Several requests raised together come in one result, keyed by the child's ids.
    let several = call(
        &client,
        "test_input_required_result_multiple_inputs",
        json!({}),
    )
    .await;
    let keys: Vec<String> = several.result()["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys.len(), 3, "{:?}", several.messages);
    let responses = json!({"user_name": accept(json!({"name": "Ada"})), "greeting": sampled("Hello"),
        "client_roots": {"roots": [{"uri": "file:///r", "name": "r"}]}});
    let done = call(
        &client,
        "test_input_required_result_multiple_inputs",
        json!({"inputResponses": responses, "requestState": state_of(&several)}),
    )
    .await;
    assert_eq!(done.result()["content"][0]["text"], "Hello Ada (1 roots)");
    // Three rounds: each state differs; an earlier round's state is refused and ends the call.
    let r1 = call(&client, "test_input_required_result_multi_round", json!({})).await;
    let s1 = state_of(&r1);
    let r2 = call(
        &client,
        "test_input_required_result_multi_round",
        json!({"inputResponses": {"step1": accept(json!({"name": "Ada"}))}, "requestState": s1}),
    )
    .await;
    let s2 = state_of(&r2);
    assert_ne!(s1, s2);
    assert!(r2.result()["inputRequests"]["step2"].is_object());
    refused(
        &call(
            &client,
            "test_input_required_result_multi_round",
            json!({"inputResponses": {"step1": accept(json!({}))}, "requestState": s1}),
        )
        .await,
        "round 1 again",
    );
    refused(&call(&client, "test_input_required_result_multi_round",
        json!({"inputResponses": {"step2": accept(json!({"color": "red"}))}, "requestState": s2})).await,
        "the call a replay cancelled");
    // A retry without the asked key is asked again, in a new round.
    let asked = call(&client, "test_input_required_result_elicitation", json!({})).await;
    let reasked = call(
        &client,
        "test_input_required_result_elicitation",
        json!({"inputResponses": {"other": accept(json!({}))}, "requestState": state_of(&asked)}),
    )
    .await;
    assert!(
        reasked.result()["inputRequests"]["user_name"].is_object(),
        "{:?}",
        reasked.messages
    );
    let done = call(&client, "test_input_required_result_elicitation",
        json!({"inputResponses": {"user_name": accept(json!({"name": "Bo"}))}, "requestState": state_of(&reasked)})).await;
    assert_eq!(done.result()["content"][0]["text"], "Hello, Bo!");
    // Input given with the first request answers the child at once; extra keys are ignored.
    let direct = call(&client, "test_input_required_result_elicitation",
        json!({"inputResponses": {"user_name": accept(json!({"name": "Cy"})), "extra": accept(json!({}))}})).await;
    assert_eq!(direct.result()["content"][0]["text"], "Hello, Cy!");
    // inputResponses must be an object of results.
    for bad in [json!(null), json!({"user_name": 12345}), json!([1])] {
        refused(
            &call(
                &client,
                "test_input_required_result_elicitation",
                json!({"inputResponses": bad}),
            )
            .await,
            "bad inputResponses",
        );
    }
    // A child may ask only for what the request's client declared: the child is told (-32021).
    let no_elicitation = Stateless::new(&sc).with_caps(json!({"sampling": {}}));
    let result = no_elicitation
        .call_tool("test_input_required_result_elicitation", json!({}))
        .await;
    assert_eq!(result["isError"], true, "{result}");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("-32021"),
        "{result}"
    );
    assert_eq!(held_calls(&sc).await, 0);
}

/// A forged or altered state, another user's, one for another request, an expired one: each is
/// refused with -32602 and the call it names is cancelled.
#[tokio::test]
async fn forged_foreign_and_expired_states_are_refused_and_cancel_the_call() {
    let sc = sidecar(conformance_server())
        .env("SIDECAR_HELD_CALL_TIMEOUT_SECS", "3")
        .start()
        .await;
    let alice = Stateless::new(&sc).for_user("alice");
    let mallory = Stateless::new(&sc).for_user("mallory");
    let tool = "test_input_required_result_tampered_state";
    let answer = json!({"confirm": accept(json!({"ok": true}))});
    for what in ["altered", "another user's", "for another request"] {
        let state = state_of(&call(&alice, tool, json!({})).await);
        assert_eq!(held_calls(&sc).await, 1);
        let shown = match what {
            "altered" => format!("{state}-TAMPERED"),
            _ => state.clone(),
        };
        let presented = json!({"inputResponses": answer, "requestState": shown});
        let refusal = match what {
            "another user's" => call(&mallory, tool, presented).await,
            "for another request" => {
                call(
                    &alice,
                    "test_input_required_result_request_state",
                    presented,
                )
                .await
            }
            _ => call(&alice, tool, presented).await,
        };
        refused(&refusal, what);
        assert_eq!(
            held_calls(&sc).await,
            0,
            "{what}: the held call is cancelled"
        );
        let genuine = call(
            &alice,
            tool,
            json!({"inputResponses": answer, "requestState": state}),
        )
        .await;
        refused(&genuine, &format!("{what}: the cancelled call"));
    }
    // Expired: held past SIDECAR_HELD_CALL_TIMEOUT_SECS, the call is cancelled and its state
    // refused (bounded poll of the held-call gauge, no fixed sleep).
    let state = state_of(&call(&alice, tool, json!({})).await);
    let start = std::time::Instant::now();
    while held_calls(&sc).await > 0 {
        assert!(
            start.elapsed() < ANSWER_WITHIN,
            "the held call never expired"
        );
        tokio::time::sleep(POLL).await;
    }
    refused(
        &call(
            &alice,
            tool,
            json!({"inputResponses": answer, "requestState": state}),
        )
        .await,
        "expired",
    );
    sc.assert_still_serves().await;
}

/// Held calls are bounded in number: beyond SIDECAR_MAX_HELD_CALLS a call that needs input is
/// answered with an error (and cancelled), while those held stay resumable.
#[tokio::test]
async fn held_calls_are_bounded_in_number() {
    let sc = sidecar(conformance_server())
        .env("SIDECAR_MAX_HELD_CALLS", "1")
        .start()
        .await;
    let client = Stateless::new(&sc);
    let held = state_of(&call(&client, "test_input_required_result_elicitation", json!({})).await);
    let over = call(
        &client,
        "test_input_required_result_request_state",
        json!({}),
    )
    .await;
    assert_eq!(over.status, StatusCode::OK);
    assert_eq!(over.error_code(), Some(-32005), "{:?}", over.messages);
    assert_eq!(held_calls(&sc).await, 1);
    let done = call(&client, "test_input_required_result_elicitation",
        json!({"inputResponses": {"user_name": accept(json!({"name": "Di"}))}, "requestState": held})).await;
    assert_eq!(done.result()["content"][0]["text"], "Hello, Di!");
}
