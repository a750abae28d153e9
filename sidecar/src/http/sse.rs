//! The body of an SSE response: events from a subscriber channel, and a keep-alive comment whenever
//! the stream has been quiet for the keep-alive interval (so dead connections are detected).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use crate::protocol::sse::KEEPALIVE;

/// Events from a subscriber channel, keep-alive comments in between.
pub struct SseBody {
    rx: mpsc::Receiver<Bytes>,
    keepalive: Interval,
}

impl SseBody {
    pub fn new(rx: mpsc::Receiver<Bytes>, every: Duration) -> Self {
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { rx, keepalive }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(data)) => {
                self.keepalive.reset();
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.keepalive.poll_tick(cx) {
                Poll::Ready(_) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEPALIVE))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
