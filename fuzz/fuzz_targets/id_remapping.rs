//! JSON-RPC id remapping (MCP spec "Base Protocol": a response carries the id of its request):
//! a POST body goes the way the sidecar sends it, through `compact` and `messages`, each request
//! registered with a child's `Peer` under a fresh id of the sidecar's own and written as a stdio
//! line; that line is framed back as the child reads it, the child answers its own id, and the
//! answer is routed back. The client must get its id back byte-identical (strings and numbers
//! keep their spelling), params must reach the child unchanged, and no line may carry an
//! embedded newline.
//!
//! Input: a POST body.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use sidecar::child::pending::{Asker, Delivery, Peer};
use sidecar::http::message;
use sidecar::protocol::framing::LineCodec;
use sidecar::protocol::jsonrpc::{self, Envelope, Kind};
use tokio_util::codec::Decoder;

/// The one frame a stdio line decodes to.
fn framed(line: &Bytes) -> Bytes {
    assert_eq!(
        line.last(),
        Some(&b'\n'),
        "a stdio line ends with a newline"
    );
    assert_eq!(
        line.iter().filter(|b| **b == b'\n').count(),
        1,
        "no embedded newline: {line:?}"
    );
    let mut codec = LineCodec::new(usize::MAX);
    let mut buf = BytesMut::from(&line[..]);
    match codec.decode(&mut buf) {
        Ok(Some(frame)) => frame,
        other => panic!("one frame expected: {other:?}"),
    }
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_else(|e| panic!("sidecar output is UTF-8: {e}"))
}

/// Only strings and numbers identify a request (JSON-RPC 2.0 §4): the id comes back spelled as
/// the client spelled it.
fn same(expected: &str, got: &RawValue) {
    assert_eq!(
        got.get(),
        expected,
        "the client's id comes back byte-identical"
    );
}

fuzz_target!(|body: &[u8]| {
    // The ids as the client wrote them, straight from its body.
    let Ok(original) = std::str::from_utf8(body) else {
        return;
    };
    let Ok((raw, _)) = jsonrpc::split_body(original) else {
        return;
    };
    let before: Vec<Option<(Kind, Option<String>)>> = raw
        .iter()
        .map(|r| {
            Envelope::parse(r.get())
                .ok()
                .map(|e| (e.kind(), e.id.map(|id| id.get().to_owned())))
        })
        .collect();
    let compacted = message::compact(Bytes::copy_from_slice(body));
    let Ok((messages, _batch)) = message::messages(&compacted) else {
        return;
    };
    assert_eq!(messages.len(), before.len());

    let peer = Peer::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut owns = Vec::new();
    for (n, (env, before)) in messages.iter().zip(&before).enumerate() {
        // Compacting changes no message: each is what the client's body said.
        let Some((kind, id)) = before else {
            panic!("compacting turned an invalid message valid");
        };
        assert_eq!(*kind, env.kind(), "compacting kept the message's kind");
        match env.kind() {
            Kind::Request => {}
            Kind::Notification => {
                let line = jsonrpc::notification_line(env.method(), env.params);
                let frame = framed(&line);
                let back = Envelope::parse(text(&frame)).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(back.kind(), Kind::Notification);
                assert_eq!(back.method(), env.method());
                continue;
            }
            _ => continue,
        }
        let (Some(client_id), Some(expected)) = (env.id, id) else {
            panic!("a request has an id");
        };
        let asker = if n % 2 == 0 {
            Asker::Session
        } else {
            Asker::Stateless {
                method: "tools/list",
            }
        };
        let progress = jsonrpc::progress_token(env.params);
        let own = match peer.register_for(asker, 7, client_id, &tx, progress, usize::MAX) {
            Ok(own) => own,
            Err(e) => panic!("registration refused: {e:?}"),
        };
        assert!(!owns.contains(&own), "own ids are unique");
        owns.push(own);
        assert_eq!(peer.own_id_of(7, client_id.get()).is_some(), true);

        // Towards the child: its own id, the method and params as they were.
        let line = jsonrpc::request_line(own, env.method(), env.params);
        let frame = framed(&line);
        let at_child = Envelope::parse(text(&frame)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(at_child.kind(), Kind::Request);
        assert_eq!(at_child.id.and_then(jsonrpc::own_id), Some(own));
        assert_eq!(at_child.method(), env.method());
        assert_eq!(
            at_child.params.map(RawValue::get),
            env.params.map(RawValue::get),
            "params reach the child verbatim"
        );

        // The child answers its own id with the params as its result.
        let own_raw = RawValue::from_string(own.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let empty = RawValue::from_string("{}".into()).unwrap_or_else(|e| panic!("{e}"));
        let result = at_child.params.unwrap_or(&empty);
        let answer = framed(&jsonrpc::response_line(&own_raw, Some(result), None));
        let answer = Envelope::parse(text(&answer)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.kind(), Kind::Response);
        let routed = answer.id.and_then(jsonrpc::own_id);
        assert_eq!(routed, Some(own));
        assert!(peer.complete(own, answer.result, answer.error));
        assert!(
            !peer.complete(own, answer.result, answer.error),
            "answered once"
        );
        let Ok(Delivery::Response {
            own: got,
            body,
            code,
        }) = rx.try_recv()
        else {
            panic!("the waiter gets its answer");
        };
        assert_eq!((got, code), (own, None));
        let to_client = Envelope::parse(text(&body)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(to_client.kind(), Kind::Response);
        same(expected, to_client.id.unwrap_or(RawValue::NULL));
        if asker == Asker::Session {
            assert_eq!(to_client.result.map(RawValue::get), Some(result.get()));
        }
    }
    assert_eq!(peer.in_flight(), 0);
});
