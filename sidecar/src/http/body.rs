//! Request and response bodies. Request bodies are size-checked before they are collected
//! (`Content-Length` first, then a counting limit for chunked bodies). Responses are empty, one
//! buffer, or an SSE stream; one enum instead of a boxed trait object per response.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::http::sse::SseBody;

/// Why a request body was not taken.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("payload too large: the limit is {max} bytes")]
    TooLarge { max: usize },
    #[error("bad request: the request body could not be read")]
    Read,
}

/// Collects a request body of at most `max` bytes (else 413).
pub async fn collect(mut body: Incoming, max: usize) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > max as u64 {
        discard(&mut body).await;
        return Err(BodyError::TooLarge { max });
    }
    match Limited::new(&mut body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            discard(&mut body).await;
            Err(BodyError::TooLarge { max })
        }
        Err(_) => Err(BodyError::Read),
    }
}

/// How much of a refused body is still read, and for how long, before the 413 goes out.
const DISCARD_BYTES: u64 = 64 << 20;
const DISCARD_TIME: Duration = Duration::from_secs(10);

/// Reads and drops the rest of a refused body, within bounds. A proxy in front (Traefik) that is
/// still sending it when the connection closes reports the reset as 502 instead of passing the
/// 413 on (RFC 9112 §9.6: a server that closes early should let the client read its answer
/// first). A body larger than the bounds (declared or sent) only gets the connection closed.
async fn discard(body: &mut Incoming) {
    if body.size_hint().lower() > DISCARD_BYTES {
        return;
    }
    let mut left = DISCARD_BYTES;
    let read_rest = async {
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
            match left.checked_sub(n) {
                Some(rest) => left = rest,
                None => return,
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIME, read_rest).await;
}

/// Body of every response.
pub enum ResponseBody {
    Empty,
    Full(Option<Bytes>),
    Sse(SseBody),
}

impl ResponseBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Sse(sse) => Pin::new(sse).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(bytes) => bytes.is_none(),
            Self::Sse(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Sse(_) => SizeHint::default(),
        }
    }
}
