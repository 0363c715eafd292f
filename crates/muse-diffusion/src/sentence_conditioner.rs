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
//! folder. A folder may also carry a [`CaptionPrior`] (`text_prior/`), which maps each prompt's
//! embedding onto the training captions before the UNet sees it.

use std::path::Path;

use candle_core::{Device, Tensor};
use muse_models::SentenceEmbedder;

use crate::caption_prior::{CaptionPrior, MappedCaption};
use crate::pipeline::TextConditioner;
use crate::{DiffusionError, Result};

/// A [`TextConditioner`] over a sentence-transformers model.
pub struct SentenceConditioner {
    embedder: SentenceEmbedder,
    prior: Option<CaptionPrior>,
    device: Device,
}

impl SentenceConditioner {
    pub fn new(embedder: SentenceEmbedder, device: &Device) -> Self {
        Self {
            embedder,
            prior: None,
            device: device.clone(),
        }
    }

    /// Maps every non-empty prompt's embedding through `prior` (None: the raw embedding).
    pub fn with_prior(mut self, prior: Option<CaptionPrior>) -> Result<Self> {
        if let Some(p) = &prior
            && p.dim() != self.embedder.dim()
        {
            return Err(DiffusionError::config(format!(
                "the caption prior has width {} but the text encoder gives {}",
                p.dim(),
                self.embedder.dim()
            )));
        }
        self.prior = prior;
        Ok(self)
    }
}

impl TextConditioner for SentenceConditioner {
    fn encode(&self, texts: &[String]) -> Result<Tensor> {
        let dim = self.embedder.dim();
        let mut rows = vec![0f32; texts.len() * dim];
        // A pipeline asks for the same prompt once per image: embed each distinct text once.
        let mut distinct: Vec<&str> = Vec::new();
        let mut which: Vec<Option<usize>> = Vec::with_capacity(texts.len());
        for t in texts {
            if t.trim().is_empty() {
                which.push(None);
                continue;
            }
            let k = match distinct.iter().position(|d| *d == t.as_str()) {
                Some(k) => k,
                None => {
                    distinct.push(t);
                    distinct.len() - 1
                }
            };
            which.push(Some(k));
        }
        if !distinct.is_empty() {
            let e = self
                .embedder
                .embed(&distinct)
                .map_err(|e| DiffusionError::input(format!("embedding the prompt: {e}")))?;
            let mapped: Vec<Vec<f32>> = e
                .vectors
                .iter()
                .map(|v| match &self.prior {
                    Some(p) => p.project(v),
                    None => Ok(v.clone()),
                })
                .collect::<Result<_>>()?;
            let placed = which
                .iter()
                .enumerate()
                .filter_map(|(i, k)| Some((i, mapped.get((*k)?)?)));
            for (i, v) in placed {
                rows[i * dim..(i + 1) * dim].copy_from_slice(v);
            }
        }
        Ok(Tensor::from_vec(rows, (texts.len(), 1, dim), &self.device)?)
    }

    fn has_caption_prior(&self) -> bool {
        self.prior.is_some()
    }

    fn mapped_caption(&self, text: &str) -> Result<Option<MappedCaption>> {
        let Some(prior) = &self.prior else {
            return Ok(None);
        };
        if text.trim().is_empty() {
            return Ok(None);
        }
        let e = self
            .embedder
            .embed(&[text])
            .map_err(|e| DiffusionError::input(format!("embedding the prompt: {e}")))?;
        Ok(e.vectors.first().and_then(|v| prior.mapped(v)))
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
