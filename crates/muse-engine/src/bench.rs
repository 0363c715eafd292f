//! Throughput measurement in the shape of llama.cpp's `llama-bench`: prefill of an N-token prompt
//! and decode of M tokens at batch 1, each timed on its own, so the figures compare directly.

use crate::error::EngineError;
use crate::text_model::TextModel;
use muse_models::LogitsMode;
use serde::Serialize;
use std::time::Instant;

/// Text repeated to build prompts of any length.
const FILLER: &str = "The old lighthouse keeper climbed the spiral stairs every evening, counting the steps \
as his father had taught him, and watched the ships pass along the rocky coast until the lamp was lit. ";

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BenchResult {
    pub prefill_tokens: usize,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens: usize,
    pub decode_tokens_per_s: f64,
}

impl TextModel {
    /// A prompt of exactly `n` tokens (repeated filler text).
    pub fn filler_tokens(&self, n: usize) -> Result<Vec<u32>, EngineError> {
        let per = self.tokenizer.encode(FILLER)?.len().max(1);
        let text = FILLER.repeat(n / per + 2);
        let mut ids = self.tokenizer.encode(&text)?;
        ids.truncate(n);
        Ok(ids)
    }

    /// Time a prefill of `prefill` tokens, then (in a fresh sequence after an 8-token prompt)
    /// `decode` greedy single-token steps.
    pub fn bench(&self, prefill: usize, decode: usize) -> Result<BenchResult, EngineError> {
        let context = self.context();
        if prefill == 0 || prefill > context || decode.saturating_add(8) > context {
            return Err(EngineError::InvalidParameter {
                name: "bench sizes",
                problem: format!(
                    "prefill {prefill} and decode {decode} must fit the context of {context}"
                ),
            });
        }
        let ids = self.filler_tokens(prefill)?;
        let mut logits = Vec::new();
        let mut cache = self.lm.new_cache(prefill);
        let t0 = Instant::now();
        self.lm
            .forward(&ids, &mut cache, LogitsMode::Last, &mut logits)?;
        let prefill_s = t0.elapsed().as_secs_f64();

        let mut cache = self.lm.new_cache(8 + decode);
        self.lm.forward(
            &ids[..8.min(ids.len())],
            &mut cache,
            LogitsMode::Last,
            &mut logits,
        )?;
        let t1 = Instant::now();
        for _ in 0..decode {
            let next = muse_sample::greedy(&logits).unwrap_or(0);
            self.lm
                .forward(&[next], &mut cache, LogitsMode::Last, &mut logits)?;
        }
        let decode_s = t1.elapsed().as_secs_f64();
        Ok(BenchResult {
            prefill_tokens: prefill,
            prefill_tokens_per_s: prefill as f64 / prefill_s,
            decode_tokens: decode,
            decode_tokens_per_s: decode as f64 / decode_s,
        })
    }
}
