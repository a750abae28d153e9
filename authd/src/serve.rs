//! `authd serve`: logging, state, the listener, the published-keys exchange and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, EXIT_CONFIG};
use crate::state::App;
use crate::store::published;
use crate::{listener, router};

pub fn init_logging() {
    let filter = EnvFilter::try_new(std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into()))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "pretty");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    if pretty {
        builder.init();
    } else {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .init();
    }
}

pub async fn run(config: Config, inherited: Option<std::net::TcpListener>) -> i32 {
    init_logging();
    let listen = config.listen;
    let app = match App::build(config) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            tracing::error!(error.detail = %e, "cannot start");
            return EXIT_CONFIG;
        }
    };
    // Publish the own keys and load the others' before serving, so /jwks and /verify know them
    // from the first request.
    exchange_keys(&app).await;
    let refresher = tokio::spawn(refresh_keys(Arc::clone(&app)));
    let listener = match listener::listen(inherited, listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error.detail = %e, %listen, "cannot listen");
            return 1;
        }
    };
    // The address actually served (the handed-over socket's, or port 0 resolved).
    let listen = listener.local_addr().unwrap_or(listen);
    tracing::info!(%listen, issuer = %app.issuer(), kid = %app.keys.kid(), "authd listening");
    let service = router::router(app).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown())
        .await;
    refresher.abort();
    match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error.detail = %e, "server error");
            1
        }
    }
}

/// Publishes this process's keys (so other replicas accept its tokens even without the same
/// `.env`) and loads every published key.
async fn exchange_keys(app: &App) {
    let own: Vec<_> = app.keys.own_jwks().collect();
    let until = published::until(crate::clock::now(), app.config.limits.access_ttl);
    if let Err(e) = published::publish(&app.store, &own, until).await {
        tracing::warn!(error.detail = %e, "cannot publish the signing keys");
    }
    match published::load(&app.store).await {
        Ok(keys) => {
            app.keys.set_previous(keys);
            app.verified.clear();
        }
        Err(e) => tracing::warn!(error.detail = %e, "cannot load the published signing keys"),
    }
}

async fn refresh_keys(app: Arc<App>) {
    loop {
        tokio::time::sleep(Duration::from_secs(published::REFRESH_SECS)).await;
        exchange_keys(&app).await;
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
