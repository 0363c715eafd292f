//! `POST /v1/completions` bodies (the legacy text-completion API).

use super::common::{OneOrMany, SamplingFields, StreamOptions, Usage};
use crate::backend::FinishReason;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: OneOrMany,
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub n: Option<u64>,
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Option<OneOrMany>,
    #[serde(default, deserialize_with = "crate::dto::common::opt_int")]
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub logprobs: Option<u64>,
    #[serde(default)]
    pub echo: bool,
}

impl CompletionRequest {
    /// The fields every generation endpoint shares.
    pub fn sampling(&self) -> SamplingFields {
        SamplingFields {
            n: self.n,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            stop: self.stop.clone(),
            seed: self.seed,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            stream: self.stream,
            stream_options: self.stream_options,
        }
    }
}

/// A completion, or one streamed chunk of it (same shape, `object` differs only by name in
/// OpenAI's API: both are `text_completion`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    pub system_fingerprint: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompletionChoice {
    pub index: usize,
    pub text: String,
    pub finish_reason: Option<FinishReason>,
    pub logprobs: Option<LegacyLogprobs>,
}

/// The legacy API's `logprobs` object: parallel lists over the generated tokens, each
/// alternative map holding the likeliest tokens at that position.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LegacyLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<f32>,
    pub top_logprobs: Vec<std::collections::BTreeMap<String, f32>>,
    /// Character offset of each token in the choice's `text`.
    pub text_offset: Vec<usize>,
}

impl LegacyLogprobs {
    /// `entries` in the legacy shape, the first token starting at character `offset`.
    pub fn from_entries(entries: &[crate::backend::TokenLogprob], mut offset: usize) -> Self {
        let mut out = Self::default();
        for e in entries {
            out.tokens.push(e.token.clone());
            out.token_logprobs.push(e.logprob);
            out.top_logprobs.push(
                e.top_logprobs
                    .iter()
                    .map(|t| (t.token.clone(), t.logprob))
                    .collect(),
            );
            out.text_offset.push(offset);
            offset += e.token.chars().count();
        }
        out
    }
}
