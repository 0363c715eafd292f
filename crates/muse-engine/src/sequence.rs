//! The per-sequence half of the decode loop, shared by single and batched generation: sample a
//! token, decode it to text, watch for end-of-generation, stop strings and the token budget.

use crate::generate::FinishReason;
use crate::utf8::Utf8Stream;
use muse_models::TextTokenizer;
use muse_sample::{SampleError, Sampler, SamplingParams, StopMatcher};
use std::ops::ControlFlow;

/// One sequence being generated.
pub(crate) struct Sequence {
    sampler: Sampler,
    stop: StopMatcher,
    utf8: Utf8Stream,
    text: String,
    tokens: usize,
    budget: usize,
    finish: Option<FinishReason>,
    /// The token sampled by the latest `step` (end-of-generation tokens included).
    last: Option<u32>,
}

impl Sequence {
    /// A sequence continuing `prompt_ids` (they feed the repetition penalties' history).
    pub(crate) fn new(
        params: SamplingParams,
        stop: Vec<String>,
        prompt_ids: &[u32],
        budget: usize,
    ) -> Result<Self, SampleError> {
        let mut sampler = Sampler::new(params)?;
        for &id in prompt_ids {
            sampler.accept(id);
        }
        Ok(Self {
            sampler,
            stop: StopMatcher::new(stop),
            utf8: Utf8Stream::default(),
            text: String::new(),
            tokens: 0,
            budget,
            finish: None,
            last: None,
        })
    }

    /// Sample from `logits` (consumed as scratch) and take the token. Returns the token to feed
    /// the model next, or `None` when the sequence has finished. `emit` receives text as soon as
    /// it is final and may cancel.
    pub(crate) fn step(
        &mut self,
        logits: &mut [f32],
        tokenizer: &TextTokenizer,
        emit: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Option<u32>, SampleError> {
        if self.finish.is_some() {
            return Ok(None);
        }
        let tok = self.sampler.sample(logits)?;
        self.sampler.accept(tok);
        self.last = Some(tok);
        if tokenizer.is_eog(tok) {
            return Ok(self.end(FinishReason::Stop, emit));
        }
        self.tokens += 1;
        let piece = self.utf8.push(tokenizer.piece_bytes(tok));
        let step = self.stop.push(&piece);
        if self.emit(&step.emit, emit).is_break() {
            self.finish = Some(FinishReason::Cancelled);
            return Ok(None);
        }
        if step.stopped {
            self.finish = Some(FinishReason::Stop);
            return Ok(None);
        }
        if self.tokens >= self.budget {
            return Ok(self.end(FinishReason::Length, emit));
        }
        Ok(Some(tok))
    }

    /// Flush held text (an incomplete UTF-8 tail, a partial stop-string match) and record why
    /// the sequence ended.
    fn end(
        &mut self,
        reason: FinishReason,
        emit: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Option<u32> {
        let tail = self.utf8.finish();
        let step = self.stop.push(&tail);
        let mut reason = reason;
        if self.emit(&step.emit, emit).is_break() {
            reason = FinishReason::Cancelled;
        } else if step.stopped {
            reason = FinishReason::Stop;
        } else {
            let held = self.stop.finish();
            if self.emit(&held, emit).is_break() {
                reason = FinishReason::Cancelled;
            }
        }
        self.finish = Some(reason);
        None
    }

    fn emit(&mut self, s: &str, emit: &mut dyn FnMut(&str) -> ControlFlow<()>) -> ControlFlow<()> {
        if s.is_empty() {
            return ControlFlow::Continue(());
        }
        self.text.push_str(s);
        emit(s)
    }

    /// The token sampled by the latest step, if that step sampled one.
    pub(crate) fn last_token(&self) -> Option<u32> {
        self.last
    }

    /// Generated text so far.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Tokens generated (end-of-generation tokens not counted).
    pub(crate) fn tokens(&self) -> usize {
        self.tokens
    }

    /// Why it ended; `Length` if it is still running (the caller ran out of room).
    pub(crate) fn finish_reason(&self) -> FinishReason {
        self.finish.unwrap_or(FinishReason::Length)
    }
}
