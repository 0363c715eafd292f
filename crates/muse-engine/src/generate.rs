//! The decode loop: render → tokenize → prefill → (sample → stream → forward)* until an
//! end-of-generation token, a stop string, or the token budget.

use crate::chat::ChatMessage;
use crate::error::EngineError;
use crate::text_model::TextModel;
use crate::utf8::Utf8Stream;
use muse_models::LogitsMode;
use muse_sample::{Sampler, SamplingParams, StopMatcher};
use serde::Serialize;
use std::ops::ControlFlow;
use std::time::Instant;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: String,
    /// Replaces the template's default system prompt (chat mode only).
    pub system: Option<String>,
    /// Plain completion of `prompt`, without the chat template.
    pub raw: bool,
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
}

impl GenerateRequest {
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            system: None,
            raw: false,
            max_tokens: 256,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
        }
    }
}

/// Why generation ended (OpenAI's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// An end-of-generation token or a stop string.
    Stop,
    /// The token budget (or the context) ran out.
    Length,
    /// The consumer of the stream asked to stop (closed pipe, disconnected client).
    Cancelled,
}

/// Measured speeds of one generation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timings {
    pub load_ms: f64,
    pub prompt_tokens: usize,
    pub prefill_ms: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_ms: f64,
    pub decode_tokens_per_s: f64,
}

/// The result of [`TextModel::generate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    pub text: String,
    /// Tokens generated (end-of-generation tokens not counted).
    pub tokens: usize,
    pub finish_reason: FinishReason,
    pub model: String,
    pub timings: Timings,
}

fn per_s(n: usize, ms: f64) -> f64 {
    if ms > 0.0 { n as f64 / (ms / 1e3) } else { 0.0 }
}

impl TextModel {
    /// The exact text fed to the model for `req` (chat template applied unless `raw`).
    pub fn prompt_text(&self, req: &GenerateRequest) -> Result<String, EngineError> {
        if req.raw || !self.has_chat_template() {
            return Ok(req.prompt.clone());
        }
        let mut messages = Vec::new();
        if let Some(s) = &req.system {
            messages.push(ChatMessage::new("system", s));
        }
        messages.push(ChatMessage::new("user", &req.prompt));
        self.render_chat(&messages)
    }

    /// Generate, calling `on_text` with each piece of text as soon as it is final; it returns
    /// `ControlFlow::Break(())` to cancel (finish reason `cancelled`).
    pub fn generate(
        &self,
        req: &GenerateRequest,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, EngineError> {
        let mut sampler = Sampler::new(req.sampling.clone())?;
        if req.max_tokens == 0 {
            return Err(EngineError::InvalidParameter {
                name: "max_tokens",
                problem: "must be at least 1".into(),
            });
        }
        let text = self.prompt_text(req)?;
        let ids = self.tokenizer.encode(&text)?;
        if ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        let context = self.context();
        if ids.len() >= context {
            return Err(EngineError::PromptTooLong {
                tokens: ids.len(),
                context,
            });
        }
        let budget = req.max_tokens.min(context - ids.len());
        for &id in &ids {
            sampler.accept(id);
        }
        // Start small; the cache doubles as generation proceeds, so a huge --max-tokens costs nothing
        // until it is used.
        let mut cache = self.llama.new_cache(ids.len() + budget.min(256));
        let mut logits = Vec::new();

        let t0 = Instant::now();
        self.llama
            .forward(&ids, &mut cache, LogitsMode::Last, &mut logits)?;
        let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;

        let t1 = Instant::now();
        let mut stop = StopMatcher::new(req.stop.clone());
        let mut utf8 = Utf8Stream::default();
        let mut out = String::new();
        let mut cancelled = false;
        let mut emit = |s: &str, out: &mut String| {
            if !s.is_empty() && !cancelled {
                cancelled = on_text(s).is_break();
                out.push_str(s);
            }
            cancelled
        };
        let mut generated = 0;
        let mut forwards = 0;
        let mut finish = FinishReason::Length;
        loop {
            let tok = sampler.sample(&mut logits)?;
            sampler.accept(tok);
            if self.tokenizer.is_eog(tok) {
                finish = FinishReason::Stop;
                break;
            }
            generated += 1;
            let piece = utf8.push(self.tokenizer.piece_bytes(tok));
            let step = stop.push(&piece);
            if emit(&step.emit, &mut out) {
                finish = FinishReason::Cancelled;
                break;
            }
            if step.stopped {
                finish = FinishReason::Stop;
                break;
            }
            if generated >= budget {
                break;
            }
            self.llama
                .forward(&[tok], &mut cache, LogitsMode::Last, &mut logits)?;
            forwards += 1;
        }
        if !stop.is_stopped() && finish != FinishReason::Cancelled {
            let tail = utf8.finish();
            let step = stop.push(&tail);
            emit(&step.emit, &mut out);
            if step.stopped {
                finish = FinishReason::Stop;
            } else {
                emit(&stop.finish(), &mut out);
            }
        }
        let decode_ms = t1.elapsed().as_secs_f64() * 1e3;
        Ok(Generation {
            text: out,
            tokens: generated,
            finish_reason: finish,
            model: self.name().to_string(),
            timings: Timings {
                load_ms: self.load_ms(),
                prompt_tokens: ids.len(),
                prefill_ms,
                prefill_tokens_per_s: per_s(ids.len(), prefill_ms),
                decode_ms,
                decode_tokens_per_s: per_s(forwards, decode_ms),
            },
        })
    }
}
