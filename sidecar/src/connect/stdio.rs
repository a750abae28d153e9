//! The stdio side (MCP spec "Transports" > "stdio"): newline-delimited JSON-RPC messages from the
//! client on stdin, to it on stdout. One task owns stdout so that lines never interleave; a
//! message from the gateway that spans lines is made one line again (JSON allows whitespace
//! between tokens, never a raw newline inside a string).

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;

use crate::protocol::framing::LineCodec;

/// Messages waiting for stdout at most (backpressure on the gateway streams beyond that).
const OUT_QUEUE: usize = 256;

/// Sends lines to the client; cheap to clone.
#[derive(Clone)]
pub struct Out(mpsc::Sender<Bytes>);

impl Out {
    /// Starts the task that owns `writer` (stdout in production).
    pub fn start(
        mut writer: impl AsyncWrite + Unpin + Send + 'static,
    ) -> (Out, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Bytes>(OUT_QUEUE);
        let task = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let mut line = BytesMut::with_capacity(msg.len() + 1);
                line.extend_from_slice(&one_line(&msg));
                line.extend_from_slice(b"\n");
                if writer.write_all(&line).await.is_err() || writer.flush().await.is_err() {
                    // The client closed stdout: nobody is listening any more.
                    return;
                }
            }
        });
        (Out(tx), task)
    }

    /// Queues one message (a JSON text without its newline).
    pub async fn send(&self, msg: Bytes) {
        let _ = self.0.send(msg).await;
    }
}

/// The message on one line: line breaks outside strings are whitespace and become spaces; inside
/// a string JSON forbids raw control characters, so every CR or LF is outside one.
pub fn one_line(msg: &[u8]) -> Bytes {
    let trimmed = msg.trim_ascii();
    if !trimmed.iter().any(|b| *b == b'\n' || *b == b'\r') {
        return Bytes::copy_from_slice(trimmed);
    }
    trimmed
        .iter()
        .map(|b| if *b == b'\n' || *b == b'\r' { b' ' } else { *b })
        .collect::<Vec<u8>>()
        .into()
}

/// What the client wrote: a message line, or a line over the limit (skipped to its end).
pub enum Input {
    Line(Bytes),
    TooLong(usize),
}

/// Message lines from stdin (MCP spec "Transports" > "stdio"), each at most `max` bytes; a longer
/// one is reported and skipped, and reading goes on with the next line.
pub struct Lines<R> {
    reader: R,
    buf: BytesMut,
    codec: LineCodec,
    max: usize,
    skipping: bool,
    eof: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    pub fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            buf: BytesMut::with_capacity(64 * 1024),
            codec: LineCodec::new(max),
            max,
            skipping: false,
            eof: false,
        }
    }

    pub async fn next(&mut self) -> Option<Input> {
        loop {
            if self.skipping {
                match self.buf.iter().position(|b| *b == b'\n') {
                    Some(end) => {
                        let _ = self.buf.split_to(end + 1);
                        self.skipping = false;
                        self.codec = LineCodec::new(self.max);
                    }
                    None => self.buf.clear(),
                }
            }
            if !self.skipping {
                match self.codec.decode(&mut self.buf) {
                    Ok(Some(line)) => return Some(Input::Line(line)),
                    Ok(None) => {}
                    Err(_) => {
                        self.skipping = true;
                        return Some(Input::TooLong(self.max));
                    }
                }
            }
            if self.eof {
                return match self.codec.decode_eof(&mut self.buf) {
                    Ok(Some(line)) if !self.skipping => Some(Input::Line(line)),
                    _ => None,
                };
            }
            match self.reader.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => self.eof = true,
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn messages_become_one_line() {
        assert_eq!(&one_line(b" {\"a\":1}\n")[..], b"{\"a\":1}");
        assert_eq!(
            &one_line(b"{\n  \"a\": \"x\\ny\"\r\n}")[..],
            b"{   \"a\": \"x\\ny\"  }"
        );
    }
}
