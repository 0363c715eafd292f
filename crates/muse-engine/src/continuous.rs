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

/// One running sequence of a continuous batch.
pub struct ActiveSeq {
    seq: Sequence,
    cache: SeqCache,
    /// The token to feed next; `None` once finished.
    next: Option<u32>,
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
            let mut seq = Sequence::new(params, req.stop.clone(), &ids, budget)?;
            let mut row = logits.clone();
            let next = seq.step(&mut row, &self.tokenizer, &mut |t: &str| emit(i, t))?;
            out.push(ActiveSeq {
                seq,
                cache: cache.clone(),
                next,
            });
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
            let s = &mut *seqs[i];
            s.next = s
                .seq
                .step(row, &self.tokenizer, &mut |t: &str| emit(i, t))?;
        }
        Ok(())
    }
}
