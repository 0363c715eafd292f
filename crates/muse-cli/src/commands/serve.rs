//! `muse serve`: the OpenAI-compatible HTTP server with the web playground. Flags override the
//! `[server]` table of the config file, which overrides the defaults.

use crate::commands::serve_services::{ServedImages, ServedKb};
use crate::home::{resolve_embedding_model, resolve_image_model, resolve_text_model};
use crate::quality::QualityArgs;
use anyhow::{Context, Result};
use muse_engine::TextModel;
use muse_models::SentenceEmbedder;
use muse_safety::FilterChain;
use muse_server::ServerConfig;
use muse_server::engine::{ImageService, KbService, Models, MuseBackend};
use std::path::Path;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on.
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on.
    #[arg(long)]
    port: Option<u16>,
    /// Accepted API key (repeatable); clients send `Authorization: Bearer KEY`.
    #[arg(long = "api-key", value_name = "KEY", env = "MUSE_API_KEY")]
    api_keys: Vec<String>,
    /// Text model (default: the packaged SmolLM2-135M-Instruct).
    #[arg(long)]
    model: Option<String>,
    /// Serve without the sentence-embedding model (no /v1/embeddings, /v1/evaluate or /v1/kb).
    #[arg(long)]
    no_embeddings: bool,
    /// Image model for /v1/images/generations (default: the installed default image model,
    /// served when there is one).
    #[arg(long)]
    image_model: Option<String>,
    /// Serve without an image model.
    #[arg(long, conflicts_with = "image_model")]
    no_images: bool,
    /// Requests that may wait for the model (429 beyond).
    #[arg(long)]
    queue: Option<usize>,
    /// Largest `max_tokens` a request may ask for.
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Largest `n`.
    #[arg(long)]
    max_n: Option<usize>,
    /// Seconds a request may take until its response starts.
    #[arg(long)]
    timeout: Option<u64>,
    #[command(flatten)]
    quality: QualityArgs,
}

fn server_config(a: &Args) -> Result<ServerConfig> {
    let default = Path::new("muse.toml");
    let path = match &a.quality.config {
        Some(p) => Some(p.as_path()),
        None if default.is_file() => Some(default),
        None => None,
    };
    let mut c = match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            ServerConfig::from_toml_str(&text)?
        }
        None => ServerConfig::default(),
    };
    if let Some(h) = &a.host {
        c.host = h.clone();
    }
    if let Some(p) = a.port {
        c.port = p;
    }
    if !a.api_keys.is_empty() {
        c.api_keys = a.api_keys.clone();
    }
    if let Some(q) = a.queue {
        c.queue_capacity = q;
    }
    if let Some(m) = a.max_tokens {
        c.max_tokens = m;
    }
    if let Some(n) = a.max_n {
        c.max_n = n.min(muse_engine::MAX_BATCH);
    }
    if let Some(t) = a.timeout {
        c.request_timeout_s = t;
    }
    c.validate()?;
    Ok(c)
}

fn safety(a: &Args) -> Result<FilterChain> {
    let cfg = crate::safety::load(a.quality.config.as_deref())?;
    Ok(FilterChain::from_config(&cfg)?)
}

pub fn run(a: Args) -> Result<()> {
    let config = server_config(&a)?;
    let weights = a.quality.weights()?;
    let text_path = resolve_text_model(a.model.as_deref())?;
    let embed_path = if a.no_embeddings {
        None
    } else {
        Some(resolve_embedding_model(
            a.quality.embedding_model.as_deref(),
        )?)
    };
    let filters = safety(&a)?;
    // An image model named on the command line must load; the default one is served when it
    // is installed.
    let image_dir = if a.no_images {
        None
    } else {
        match resolve_image_model(a.image_model.as_deref()) {
            Ok(dir) => Some(dir),
            Err(e) if a.image_model.is_some() => return Err(e),
            Err(e) => {
                eprintln!("muse serve: no image model, /v1/images/generations is off ({e:#})");
                None
            }
        }
    };
    let safety_cfg = crate::safety::load(a.quality.config.as_deref())?;
    let kb_model = a.quality.embedding_model.clone();
    let serve_kb = !a.no_embeddings;
    let load = Box::new(move || {
        let text = TextModel::load(&text_path)
            .map_err(|e| format!("loading {}: {e}", text_path.display()))?;
        let embedder = match &embed_path {
            Some(p) => Some(
                SentenceEmbedder::load(p).map_err(|e| format!("loading {}: {e}", p.display()))?,
            ),
            None => None,
        };
        Ok(Models {
            text,
            embedder,
            weights,
        })
    });
    let mut backend =
        MuseBackend::start(load, filters, config.queue_capacity).map_err(anyhow::Error::msg)?;
    if let Some(dir) = image_dir {
        let id = dir
            .file_name()
            .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
        backend = backend
            .with_images(id, move || {
                ServedImages::load(&dir, &safety_cfg)
                    .map(|s| Box::new(s) as Box<dyn ImageService>)
                    .map_err(|e| format!("{e:#}"))
            })
            .map_err(anyhow::Error::msg)?;
    }
    if serve_kb {
        backend = backend
            .with_kb(move || {
                ServedKb::load(kb_model.as_deref())
                    .map(|s| Box::new(s) as Box<dyn KbService>)
                    .map_err(|e| format!("{e:#}"))
            })
            .map_err(anyhow::Error::msg)?;
    }
    let names: Vec<String> = muse_server::Backend::models(&backend)
        .into_iter()
        .map(|m| m.id)
        .collect();
    let (host, port, header_timeout) = (config.host.clone(), config.port, config.header_timeout());
    let app = muse_server::router(Arc::new(backend), config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!(
        "muse serve: http://{host}:{port}/ (models: {})",
        names.join(", ")
    );
    rt.block_on(muse_server::serve(app, &host, port, header_timeout))
        .with_context(|| format!("serving on {host}:{port}"))
}
