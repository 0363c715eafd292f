//! Teacher-forced scoring: the log-probability the model gives each token of a text.

use crate::error::EngineError;
use crate::text_model::TextModel;
use muse_models::LogitsMode;
use serde::Serialize;

/// Tokens per forward pass when scoring.
const SCORE_CHUNK: usize = 256;

/// What to score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScoreInput {
    /// Text, tokenized with the model's own BOS rule.
    Text(String),
    /// Token ids used exactly as given.
    TokenIds(Vec<u32>),
}

/// `logprobs[i]` = ln P(token[i+1] | token[0..=i]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub token_ids: Vec<u32>,
    pub logprobs: Vec<f64>,
    pub perplexity: f64,
}

/// ln softmax(logits)[target], computed in f64.
fn log_prob(logits: &[f32], target: usize) -> f64 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    let sum: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
    logits[target] as f64 - max - sum.ln()
}

impl TextModel {
    pub fn score(&self, input: &ScoreInput) -> Result<Scored, EngineError> {
        let ids = match input {
            ScoreInput::Text(t) => self.tokenizer.encode(t)?,
            ScoreInput::TokenIds(ids) => ids.clone(),
        };
        if ids.len() < 2 {
            return Err(EngineError::TooFewTokens(ids.len()));
        }
        if ids.len() > self.context() {
            return Err(EngineError::PromptTooLong {
                tokens: ids.len(),
                context: self.context(),
            });
        }
        let vocab = self.lm.vocab();
        let mut cache = self.lm.new_cache(ids.len());
        let mut logits = Vec::new();
        let mut logprobs = Vec::with_capacity(ids.len() - 1);
        // Chunk by chunk through one cache, so memory holds SCORE_CHUNK × vocab logits at a time
        // rather than the whole text's (8k tokens × 128k vocab would be 4 GB).
        let mut start = 0;
        for chunk in ids.chunks(SCORE_CHUNK) {
            self.lm
                .forward(chunk, &mut cache, LogitsMode::All, &mut logits)?;
            for (j, row) in logits.chunks_exact(vocab).enumerate() {
                if let Some(&next) = ids.get(start + j + 1) {
                    logprobs.push(log_prob(row, next as usize));
                }
            }
            start += chunk.len();
        }
        let mean = logprobs.iter().sum::<f64>() / logprobs.len() as f64;
        Ok(Scored {
            token_ids: ids,
            logprobs,
            perplexity: (-mean).exp(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::log_prob;

    #[test]
    fn log_prob_is_a_log_softmax() {
        let l = [1.0f32, 2.0, 3.0];
        let z: f64 = l.iter().map(|&v| (v as f64).exp()).sum();
        for i in 0..3 {
            assert!((log_prob(&l, i) - ((l[i] as f64).exp() / z).ln()).abs() < 1e-12);
        }
    }
}
