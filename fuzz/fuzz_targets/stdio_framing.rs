//! The stdio line framing (MCP spec "Transports" > "stdio"): a child's stdout cut by
//! `LineCodec` in arbitrary read sizes must give exactly the lines a plain reference splitter
//! gives, and fail with `LineTooLong` exactly when a line exceeds the limit.
//!
//! Input: two bytes of limit (1..=65536), one byte of read size (1..=64), then the stdout bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sidecar::protocol::framing::{FrameError, LineCodec};
use tokio_util::codec::Decoder;

/// What the framing rules say: complete lines without `\n` and one trailing `\r`, blank ones
/// skipped, the unterminated rest at EOF as it is; `Err` when a line is longer than `max`.
fn reference(data: &[u8], max: usize) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
        let line = &rest[..pos];
        if line.len() > max {
            return (out, true);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.push(line.to_vec());
        }
        rest = &rest[pos + 1..];
    }
    if rest.len() > max {
        return (out, true);
    }
    if !rest.iter().all(u8::is_ascii_whitespace) {
        out.push(rest.to_vec());
    }
    (out, false)
}

fuzz_target!(|input: &[u8]| {
    let [hi, lo, step, data @ ..] = input else {
        return;
    };
    let max = usize::from(u16::from_be_bytes([*hi, *lo])) + 1;
    let step = usize::from(*step % 64) + 1;
    let (expected, too_long) = reference(data, max);

    let mut codec = LineCodec::new(max);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut failed = false;
    'read: for chunk in data.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(line)) => got.push(line.to_vec()),
                Ok(None) => break,
                Err(FrameError::LineTooLong(n)) => {
                    assert_eq!(n, max);
                    failed = true;
                    break 'read;
                }
                Err(FrameError::Io(e)) => panic!("no I/O here: {e}"),
            }
        }
    }
    if !failed {
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(line)) => got.push(line.to_vec()),
                Ok(None) => break,
                Err(FrameError::LineTooLong(_)) => {
                    failed = true;
                    break;
                }
                Err(FrameError::Io(e)) => panic!("no I/O here: {e}"),
            }
        }
    }
    assert_eq!(failed, too_long, "limit {max}, read size {step}");
    assert_eq!(got, expected, "limit {max}, read size {step}");
    for line in &got {
        assert!(!line.contains(&b'\n'), "a frame never holds a newline");
    }
});
