//! The accept loop (HTTP/1.1 with keep-alive, SSE needing long-lived responses; and HTTP/2 over
//! cleartext with prior knowledge, RFC 9113 §3.3, which is how Traefik reaches a sidecar), and
//! graceful shutdown: once the drain (`shutdown::Drain`) is over, stop accepting and let what is
//! still in flight finish until the grace period ends. Every request learns the local address its
//! connection arrived at (a replica's own address, `cluster`) and counts as in flight until its
//! answer's last byte.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::App;
use crate::http::body::Tracked;
use crate::http::route::route;

/// The local address of the connection a request arrived on (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// Serves until `app.shutdown` is cancelled, then drains connections for up to the grace period.
pub async fn serve(app: Arc<App>, listener: TcpListener) {
    let graceful = GracefulShutdown::new();
    // HTTP/2 for Traefik: its HTTP/1 path can close a streaming answer's connection right after
    // the head (its server discards the client's request body once the answer starts, while its
    // transport still reads that body for the end-of-body check: golang/go#40747), and an SSE
    // stream then ends without its events. Over HTTP/2 the transport reads the body's end before
    // the request is complete, so no answer can start first.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = app.shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let local = LocalAddr(stream.local_addr().unwrap_or(app.config.listen));
        let app = app.clone();
        let service = service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(local);
            let in_flight = app.drain.enter();
            // Boxed: hyper keeps the slot of the in-flight future for the connection's lifetime,
            // so the request's state (a few KiB) would otherwise stay with every idle connection.
            let answer = Box::pin(route(app.clone(), req));
            async move { Ok::<_, Infallible>(answer.await.map(|b| Tracked::new(b, in_flight))) }
        });
        let connection = graceful.watch(
            builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned(),
        );
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    app.sessions.close_standalone_streams();
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections finished"),
        _ = tokio::time::sleep_until(app.drain.deadline()) => tracing::warn!("grace period over; cancelling in-flight requests"),
    }
}
