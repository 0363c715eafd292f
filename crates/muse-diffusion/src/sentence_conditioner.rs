//! Text conditioning through a sentence-embedding model, for Muse's own text-to-image models
//! (`muse train diffusion`): a prompt becomes its unit-length sentence embedding (e.g.
//! all-MiniLM-L6-v2, 384-d), given to the UNet as a one-token `encoder_hidden_states` and — for
//! UNets with `class_embed_type: "projection"` — as the class label added to the time embedding.
//! The empty prompt (the unconditional branch of classifier-free guidance) is the zero vector,
//! the "no caption" the model was trained with.
//!
//! Such a pipeline names the component `"text_encoder": ["muse", "SentenceEmbedding"]` in its
//! `model_index.json`, and the embedding model's installed name under
//! `"muse": {"text_encoder_model": "all-MiniLM-L6-v2"}`; the model itself is not copied into the
//! folder.

use std::path::Path;

use candle_core::{Device, Tensor};
use muse_models::SentenceEmbedder;

use crate::pipeline::TextConditioner;
use crate::{DiffusionError, Result};

/// A [`TextConditioner`] over a sentence-transformers model.
pub struct SentenceConditioner {
    embedder: SentenceEmbedder,
    device: Device,
}

impl SentenceConditioner {
    pub fn new(embedder: SentenceEmbedder, device: &Device) -> Self {
        Self {
            embedder,
            device: device.clone(),
        }
    }
}

impl TextConditioner for SentenceConditioner {
    fn encode(&self, texts: &[String]) -> Result<Tensor> {
        let dim = self.embedder.dim();
        let mut rows = vec![0f32; texts.len() * dim];
        let non_empty: Vec<(usize, &str)> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.trim().is_empty())
            .map(|(i, t)| (i, t.as_str()))
            .collect();
        if !non_empty.is_empty() {
            let refs: Vec<&str> = non_empty.iter().map(|(_, t)| *t).collect();
            let e = self
                .embedder
                .embed(&refs)
                .map_err(|e| DiffusionError::input(format!("embedding the prompt: {e}")))?;
            for ((i, _), v) in non_empty.iter().zip(&e.vectors) {
                rows[i * dim..(i + 1) * dim].copy_from_slice(v);
            }
        }
        Ok(Tensor::from_vec(rows, (texts.len(), 1, dim), &self.device)?)
    }
}

/// The sentence-embedding model a pipeline folder asks for, when its `model_index.json` names
/// the `["muse", "SentenceEmbedding"]` text encoder.
pub fn sentence_encoder_name(dir: &Path) -> Option<String> {
    let text = std::fs::read(dir.join("model_index.json")).ok()?;
    let index: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let enc = index.get("text_encoder")?.as_array()?;
    if enc.first()?.as_str()? != "muse" || enc.get(1)?.as_str()? != "SentenceEmbedding" {
        return None;
    }
    Some(
        index
            .get("muse")
            .and_then(|m| m.get("text_encoder_model"))
            .and_then(|m| m.as_str())
            .unwrap_or("all-MiniLM-L6-v2")
            .to_string(),
    )
}
