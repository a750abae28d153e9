//! stdio framing (MCP spec "Transports" > "stdio"): messages are delimited by newlines and MUST NOT
//! contain embedded newlines. A child's stdout is cut into lines of at most `max` bytes; a longer
//! line is a protocol error for that child (it is killed, its pending requests fail), because
//! skipping part of a message would silently lose a response.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Why a child's stdout could not be framed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("stdout line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("reading stdout failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Newline-delimited frames with a size limit. Empty lines are skipped; a trailing `\r` is removed.
#[derive(Debug)]
pub struct LineCodec {
    max: usize,
    /// Bytes of the buffer already known to contain no newline (avoids rescanning big lines).
    scanned: usize,
}

impl LineCodec {
    pub fn new(max: usize) -> Self {
        Self { max, scanned: 0 }
    }
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            let Some(offset) = buf[self.scanned..].iter().position(|b| *b == b'\n') else {
                self.scanned = buf.len();
                if buf.len() > self.max {
                    return Err(FrameError::LineTooLong(self.max));
                }
                return Ok(None);
            };
            let end = self.scanned + offset;
            self.scanned = 0;
            if end > self.max {
                return Err(FrameError::LineTooLong(self.max));
            }
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(line.freeze()));
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(buf)? {
            Some(line) => Ok(Some(line)),
            // A last message without its newline still counts (the child may exit right after).
            None if buf.iter().all(u8::is_ascii_whitespace) => Ok(None),
            None => {
                self.scanned = 0;
                Ok(Some(buf.split().freeze()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn feed(codec: &mut LineCodec, buf: &mut BytesMut, data: &[u8]) -> Vec<Bytes> {
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(line) = codec.decode(buf).unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn splits_lines_across_reads() {
        let mut codec = LineCodec::new(64);
        let mut buf = BytesMut::new();
        assert!(feed(&mut codec, &mut buf, b"{\"a\":").is_empty());
        let lines = feed(&mut codec, &mut buf, b"1}\r\n\n  \n{\"b\":2}\n{\"c\"");
        assert_eq!(
            lines,
            vec![
                Bytes::from_static(b"{\"a\":1}"),
                Bytes::from_static(b"{\"b\":2}")
            ]
        );
        assert_eq!(
            codec.decode_eof(&mut buf).unwrap().unwrap(),
            Bytes::from_static(b"{\"c\"")
        );
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn a_line_at_the_limit_passes_and_one_byte_more_fails() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::new();
        assert_eq!(feed(&mut codec, &mut buf, b"12345678\n").len(), 1);
        buf.extend_from_slice(b"123456789");
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::LineTooLong(8))
        ));
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"123456789\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::LineTooLong(8))
        ));
    }
}
