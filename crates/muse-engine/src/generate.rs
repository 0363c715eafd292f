//! The decode loop: render → tokenize → prefill → (sample → stream → forward)* until an
//! end-of-generation token, a stop string, or the token budget.

use crate::chat::ChatMessage;
use crate::error::EngineError;
use crate::sequence::Sequence;
use crate::text_model::TextModel;
use muse_models::LogitsMode;
use muse_sample::SamplingParams;
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

pub(crate) fn per_s(n: usize, ms: f64) -> f64 {
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

    /// Tokenize the prompt of `req` and check it fits; returns its ids and the token budget.
    pub(crate) fn prepare(&self, req: &GenerateRequest) -> Result<(Vec<u32>, usize), EngineError> {
        req.sampling.validate()?;
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
        Ok((ids, budget))
    }

    /// Generate, calling `on_text` with each piece of text as soon as it is final; it returns
    /// `ControlFlow::Break(())` to cancel (finish reason `cancelled`).
    pub fn generate(
        &self,
        req: &GenerateRequest,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, EngineError> {
        let (ids, budget) = self.prepare(req)?;
        let mut seq = Sequence::new(req.sampling.clone(), req.stop.clone(), &ids, budget)?;
        // Start small; the cache doubles as generation proceeds, so a huge --max-tokens costs nothing
        // until it is used.
        let mut cache = self.lm.new_cache(ids.len() + budget.min(256));
        let mut logits = Vec::new();

        let t0 = Instant::now();
        self.lm
            .forward(&ids, &mut cache, LogitsMode::Last, &mut logits)?;
        let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;

        let t1 = Instant::now();
        let mut forwards = 0;
        while let Some(tok) = seq.step(&mut logits, &self.tokenizer, &mut on_text)? {
            self.lm
                .forward(&[tok], &mut cache, LogitsMode::Last, &mut logits)?;
            forwards += 1;
        }
        let decode_ms = t1.elapsed().as_secs_f64() * 1e3;
        Ok(Generation {
            text: seq.text().to_string(),
            tokens: seq.tokens(),
            finish_reason: seq.finish_reason(),
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
