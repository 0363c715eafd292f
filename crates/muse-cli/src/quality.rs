//! What `muse eval` and `muse generate --best-of` share: the weights (flag, then `muse.toml`, then
//! the defaults) and loading the sentence-embedding model the evaluator needs.

use crate::home::resolve_embedding_model;
use anyhow::{Context, Result};
use muse_models::SentenceEmbedder;
use muse_quality::{QualityConfig, Weights};
use std::path::{Path, PathBuf};

/// Options common to every command that scores quality.
#[derive(clap::Args, Debug, Clone)]
pub struct QualityArgs {
    /// Weights of coherence, fluency, relevance and creativity in the overall score
    /// (default: `[quality.weights]` of muse.toml, else 0.4,0.3,0.2,0.1).
    #[arg(long, value_name = "C,F,R,K")]
    pub weights: Option<String>,
    /// Sentence-embedding model for coherence, relevance and creativity (default: all-MiniLM-L6-v2).
    #[arg(long, value_name = "PATH|NAME")]
    pub embedding_model: Option<String>,
    /// Configuration file (default: ./muse.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl QualityArgs {
    /// `--weights`, else the config file's, else the defaults.
    pub fn weights(&self) -> Result<Weights> {
        if let Some(w) = &self.weights {
            return Ok(Weights::parse(w)?);
        }
        let default = Path::new("muse.toml");
        let path = match &self.config {
            Some(p) => p.as_path(),
            None if default.is_file() => default,
            None => return Ok(Weights::default()),
        };
        Ok(QualityConfig::from_file(path)?.weights)
    }

    pub fn load_embedder(&self) -> Result<SentenceEmbedder> {
        let dir = resolve_embedding_model(self.embedding_model.as_deref())?;
        SentenceEmbedder::load(&dir).with_context(|| format!("loading {}", dir.display()))
    }
}
