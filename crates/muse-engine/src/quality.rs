//! The models behind the quality evaluator: the text model scores tokens for fluency, the
//! sentence-embedding model embeds sentences for coherence, relevance and creativity.

use crate::error::EngineError;
use crate::score::ScoreInput;
use crate::text_model::TextModel;
use muse_models::SentenceEmbedder;
use muse_quality::{BackendError, Embedder, TokenScorer};

impl TokenScorer for TextModel {
    /// Per-token log-probabilities; a text of a single token has none (fluency then scores 0).
    fn token_logprobs(&self, text: &str) -> Result<Vec<f64>, BackendError> {
        match self.score(&ScoreInput::Text(text.to_string())) {
            Ok(s) => Ok(s.logprobs),
            Err(EngineError::TooFewTokens(_)) => Ok(Vec::new()),
            Err(e) => Err(Box::new(e)),
        }
    }
}

/// A [`SentenceEmbedder`] as the evaluator's [`Embedder`]. Inputs longer than the model's window
/// are embedded from their first tokens (the truncations are counted in
/// [`SentenceEmbedderRef::truncated`]).
pub struct SentenceEmbedderRef<'a> {
    model: &'a SentenceEmbedder,
    truncated: std::cell::Cell<usize>,
}

impl<'a> SentenceEmbedderRef<'a> {
    pub fn new(model: &'a SentenceEmbedder) -> Self {
        Self {
            model,
            truncated: std::cell::Cell::new(0),
        }
    }

    /// Inputs truncated so far.
    pub fn truncated(&self) -> usize {
        self.truncated.get()
    }
}

impl Embedder for SentenceEmbedderRef<'_> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError> {
        let e = self.model.embed(texts).map_err(Box::new)?;
        self.truncated.set(self.truncated.get() + e.truncated.len());
        Ok(e.vectors)
    }
}
