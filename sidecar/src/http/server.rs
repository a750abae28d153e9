//! The accept loop (HTTP/1.1 with keep-alive; SSE needs long-lived responses), and graceful
//! shutdown: stop accepting, end the standalone streams, let in-flight requests finish within the
//! grace period.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::App;
use crate::http::route::route;

/// Serves until `app.shutdown` is cancelled, then drains connections for up to the grace period.
pub async fn serve(app: Arc<App>, listener: TcpListener) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).keep_alive(true);
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
        let app = app.clone();
        let service = service_fn(move |req| {
            // Boxed: hyper keeps the slot of the in-flight future for the connection's lifetime,
            // so the request's state (a few KiB) would otherwise stay with every idle connection.
            let answer = Box::pin(route(app.clone(), req));
            async move { Ok::<_, Infallible>(answer.await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    app.sessions.close_standalone_streams();
    let grace = app.config.shutdown_grace;
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections finished"),
        _ = tokio::time::sleep(grace) => tracing::warn!("grace period over; cancelling in-flight requests"),
    }
}
