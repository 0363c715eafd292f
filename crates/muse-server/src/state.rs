//! What every handler shares: the backend, the limits, the metrics.

use crate::backend::Backend;
use crate::config::ServerConfig;
use crate::image_store::ImageStore;
use crate::metrics::Metrics;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub backend: Arc<dyn Backend>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// `/openapi.json`, with this configuration's limits.
    pub openapi: Arc<str>,
    /// Images generated for `response_format: "url"`.
    pub images: Arc<ImageStore>,
}

impl AppState {
    pub fn new(backend: Arc<dyn Backend>, config: ServerConfig) -> Self {
        let openapi = crate::openapi::document(&config, &backend.models()).into();
        Self {
            backend,
            openapi,
            images: Arc::new(ImageStore::new(config.stored_images)),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
        }
    }
}
