//! Step-wise decoding for continuous batching: a scheduler starts sequences whenever requests
//! arrive ([`TextModel::start_sequences`]: prefill once, fork the cache per choice, sample the
//! first token) and advances every running sequence — whatever request it belongs to and however
//! long its context — by one token per batched forward pass ([`TextModel::step_batch`]).
//!
//! Each sequence samples, stops and streams exactly as in [`TextModel::generate`] (same
//! [`Sequence`] logic), so a request gives the same text alone or batched with others, up to
//! the floating-point differences of the batched matrix products.

use crate::causal::{BatchState, SeqCache};
use crate::error::EngineError;
use crate::generate::{FinishReason, GenerateRequest};
use crate::sequence::Sequence;
use crate::text_model::TextModel;
use muse_models::LogitsMode;
use std::ops::ControlFlow;

/// Most alternatives [`TokenLogprob::top`] may hold (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// The log-probability of a sampled token under the model (before temperature, penalties and
/// truncation), with the most likely alternatives at that position.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token: u32,
    pub logprob: f32,
    /// `(token, logprob)`, most likely first.
    pub top: Vec<(u32, f32)>,
}

/// One running sequence of a continuous batch.
pub struct ActiveSeq {
    seq: Sequence,
    cache: SeqCache,
    /// The token to feed next; `None` once finished.
    next: Option<u32>,
    /// Alternatives to record per token; `None`: no log-probabilities.
    top_logprobs: Option<usize>,
    logprobs: Vec<TokenLogprob>,
}

impl std::fmt::Debug for ActiveSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveSeq")
            .field("tokens", &self.seq.tokens())
            .field("finished", &self.next.is_none())
            .finish()
    }
}

impl ActiveSeq {
    pub fn is_finished(&self) -> bool {
        self.next.is_none()
    }

    /// Tokens generated (end-of-generation tokens not counted).
    pub fn tokens(&self) -> usize {
        self.seq.tokens()
    }

    /// Why it ended (`Length` while still running).
    pub fn finish_reason(&self) -> FinishReason {
        self.seq.finish_reason()
    }

    /// The text generated so far.
    pub fn text(&self) -> &str {
        self.seq.text()
    }

    /// Log-probabilities of the tokens sampled since the last call (end-of-generation tokens
    /// excluded); empty unless requested at start.
    pub fn take_logprobs(&mut self) -> Vec<TokenLogprob> {
        std::mem::take(&mut self.logprobs)
    }

    /// Sample from `row` (consumed), recording the token's log-probability when asked.
    fn step(
        &mut self,
        row: &mut [f32],
        tokenizer: &muse_models::TextTokenizer,
        emit: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), EngineError> {
        let Some(k) = self.top_logprobs else {
            self.next = self.seq.step(row, tokenizer, emit)?;
            return Ok(());
        };
        let (lse, top) = log_softmax_top(row, k);
        let original = row.to_vec();
        self.next = self.seq.step(row, tokenizer, emit)?;
        if let Some(tok) = self.seq.last_token()
            && !tokenizer.is_eog(tok)
            && let Some(&l) = original.get(tok as usize)
        {
            self.logprobs.push(TokenLogprob {
                token: tok,
                logprob: l - lse,
                top,
            });
        }
        Ok(())
    }
}

/// log Σ exp(row), and the `k` largest entries as `(index, log-probability)`.
fn log_softmax_top(row: &[f32], k: usize) -> (f32, Vec<(u32, f32)>) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
    let lse = max + sum.ln() as f32;
    let k = k.min(MAX_TOP_LOGPROBS).min(row.len());
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &v) in row.iter().enumerate() {
        if top.len() < k || top.last().is_some_and(|&(_, w)| v > w) {
            let at = top.partition_point(|&(_, w)| w >= v);
            top.insert(at, (i as u32, v));
            top.truncate(k);
        }
    }
    (lse, top.into_iter().map(|(i, v)| (i, v - lse)).collect())
}

impl TextModel {
    /// Prefill `req`'s prompt once and start `n` sequences on it (choice `i` samples with seed
    /// `seed + i`), each with its first token sampled; `emit(i, text)` receives choice `i`'s
    /// first text and may cancel it. Returns the sequences and the prompt's token count.
    pub fn start_sequences(
        &self,
        req: &GenerateRequest,
        n: usize,
        emit: &mut dyn FnMut(usize, &str) -> ControlFlow<()>,
    ) -> Result<(Vec<ActiveSeq>, usize), EngineError> {
        self.start_sequences_with_logprobs(req, n, None, emit)
    }

    /// [`Self::start_sequences`], recording each sampled token's log-probability and the
    /// `top_logprobs` most likely alternatives (at most [`MAX_TOP_LOGPROBS`]) when it is `Some`.
    pub fn start_sequences_with_logprobs(
        &self,
        req: &GenerateRequest,
        n: usize,
        top_logprobs: Option<usize>,
        emit: &mut dyn FnMut(usize, &str) -> ControlFlow<()>,
    ) -> Result<(Vec<ActiveSeq>, usize), EngineError> {
        if n == 0 || n > crate::MAX_BATCH {
            return Err(EngineError::InvalidParameter {
                name: "n",
                problem: format!("must be in 1..={}, got {n}", crate::MAX_BATCH),
            });
        }
        let (ids, budget) = self.prepare(req)?;
        let mut cache = self.lm.new_cache(ids.len() + budget.min(256));
        let mut logits = Vec::new();
        self.lm
            .forward(&ids, &mut cache, LogitsMode::Last, &mut logits)?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut params = req.sampling.clone();
            params.seed = req.sampling.seed.wrapping_add(i as u64);
            let mut active = ActiveSeq {
                seq: Sequence::new(params, req.stop.clone(), &ids, budget)?,
                cache: cache.clone(),
                next: None,
                top_logprobs,
                logprobs: Vec::new(),
            };
            let mut row = logits.clone();
            active.step(&mut row, &self.tokenizer, &mut |t: &str| emit(i, t))?;
            out.push(active);
        }
        Ok((out, ids.len()))
    }

    /// Advance every unfinished sequence of `seqs` by one token in one batched forward pass;
    /// `emit(i, text)` receives `seqs[i]`'s new text and may cancel it.
    pub fn step_batch(
        &self,
        seqs: &mut [&mut ActiveSeq],
        batch: &mut BatchState,
        logits: &mut Vec<f32>,
        emit: &mut dyn FnMut(usize, &str) -> ControlFlow<()>,
    ) -> Result<(), EngineError> {
        let active: Vec<usize> = (0..seqs.len())
            .filter(|&i| seqs[i].next.is_some())
            .collect();
        if active.is_empty() {
            return Ok(());
        }
        let tokens: Vec<u32> = active.iter().filter_map(|&i| seqs[i].next).collect();
        let mut caches: Vec<&mut SeqCache> = seqs
            .iter_mut()
            .filter(|s| s.next.is_some())
            .map(|s| &mut s.cache)
            .collect();
        self.lm.forward_batch(&tokens, &mut caches, batch, logits)?;
        let vocab = logits.len() / active.len();
        for (row, &i) in logits.chunks_exact_mut(vocab).zip(&active) {
            seqs[i].step(row, &self.tokenizer, &mut |t: &str| emit(i, t))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::log_softmax_top;

    #[test]
    fn top_entries_are_log_softmax_in_order() {
        let row = [1.0f32, 3.0, 2.0, 0.5];
        let (lse, top) = log_softmax_top(&row, 2);
        let z: f32 = row.iter().map(|v| v.exp()).sum();
        assert!((lse - z.ln()).abs() < 1e-5);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1, 2]);
        assert!((top[0].1 - (3.0f32.exp() / z).ln()).abs() < 1e-5);
        assert!(log_softmax_top(&row, 0).1.is_empty());
    }
}
