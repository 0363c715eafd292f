//! Muse's OpenAI-compatible HTTP server.
//!
//! The HTTP layer translates requests into validated native types and back; the models sit
//! behind the [`Backend`] trait (never candle here). [`router`] builds the whole application;
//! [`serve`] runs it on a socket. With the `engine` feature, [`engine::MuseBackend`] serves the
//! real models from a worker thread fed by a bounded queue.
//!
//! Routes: `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions`,
//! `POST /v1/embeddings`, `POST /v1/images/generations`, `POST /v1/moderations`,
//! `POST /v1/evaluate`, `POST /v1/create`, `GET /v1/kb`, `POST /v1/kb/search`,
//! `POST /v1/kb/add`, `GET /health`, `GET /metrics`, `GET /openapi.json`,
//! `GET /images/{id}.png`, and the playground at `/`.

pub mod backend;
pub mod base64;
pub mod config;
pub mod dto;
#[cfg(feature = "engine")]
pub mod engine;
pub mod error;
pub mod extract;
pub mod image_store;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod validate;

pub use backend::Backend;
pub use config::ServerConfig;
pub use error::ApiError;
pub use state::AppState;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use routes::{chat, completions, embeddings, images, info, kb, quality};
use std::sync::Arc;

/// `system_fingerprint` of every completion.
pub const FINGERPRINT: &str = concat!("muse-", env!("CARGO_PKG_VERSION"));

/// The OpenAPI 3.1 description of the API.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The web playground: one HTML file with its script, no build step.
pub const PLAYGROUND_HTML: &str = include_str!("playground.html");

/// The application: every route, the API-key check on `/v1`, the body limit, the timeout and
/// the metrics.
pub fn router(backend: Arc<dyn Backend>, config: ServerConfig) -> Router {
    let max_body = config.max_body_bytes;
    let state = AppState::new(backend, config);
    let v1 = Router::new()
        .route("/models", get(info::models))
        .route("/models/{id}", get(info::model))
        .route("/chat/completions", post(chat::handler))
        .route("/completions", post(completions::handler))
        .route("/embeddings", post(embeddings::handler))
        .route("/moderations", post(quality::moderations))
        .route("/evaluate", post(quality::evaluate))
        .route("/create", post(quality::create))
        .route("/images/generations", post(images::generate))
        .route("/kb", get(kb::list))
        .route("/kb/search", post(kb::search))
        .route("/kb/add", post(kb::add))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::require_key,
        ));
    Router::new()
        .route("/", get(info::playground))
        .route("/health", get(info::health))
        .route("/metrics", get(info::metrics))
        .route("/openapi.json", get(info::openapi))
        .route("/images/{file}", get(images::file))
        .nest("/v1", v1)
        .fallback(info::not_found)
        .method_not_allowed_fallback(info::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::track,
        ))
        .with_state(state)
}

/// Serve `app` on `host:port` until Ctrl-C. Each connection is served by hyper with a limit on
/// reading request headers (`header_timeout`: a client that trickles its headers is cut, which
/// `axum::serve` does not do); bodies are bounded by the request timeout of [`router`].
pub async fn serve(
    app: Router,
    host: &str,
    port: u16,
    header_timeout: std::time::Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let listener = tokio::net::TcpListener::bind((host, port)).await?;
    let mut shutdown = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            // A failed connection (reset, timed out) concerns that client only.
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}
