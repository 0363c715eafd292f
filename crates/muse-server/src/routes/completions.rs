//! `POST /v1/completions` (one prompt per request).

use super::run::{ChunkFormat, new_id, now_s, submit};
use crate::backend::{FinishReason, GenRequest, ModelKind, Prompt, TokenLogprob};
use crate::dto::common::{OneOrMany, Usage};
use crate::dto::completions::{Completion, CompletionChoice, CompletionRequest, LegacyLogprobs};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::validate;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// OpenAI's default `max_tokens` for text completions.
const DEFAULT_MAX_TOKENS: usize = 16;
/// OpenAI's limit on the legacy `logprobs` (alternatives per token).
const MAX_LEGACY_LOGPROBS: u64 = 5;

pub async fn handler(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    validate::model(&state, &body.model, ModelKind::Text)?;
    let prompt = match body.prompt.clone() {
        OneOrMany::One(p) => p,
        OneOrMany::Many(mut v) if v.len() == 1 => v.remove(0),
        OneOrMany::Many(v) => {
            return Err(ApiError::invalid(
                "prompt",
                format!(
                    "`prompt` must be one string (batches are not supported), got {} strings",
                    v.len()
                ),
            ));
        }
    };
    if prompt.is_empty() {
        return Err(ApiError::invalid("prompt", "`prompt` must not be empty"));
    }
    let logprobs = match body.logprobs {
        Some(k) if k > MAX_LEGACY_LOGPROBS => {
            return Err(ApiError::invalid(
                "logprobs",
                format!("`logprobs` must be between 0 and {MAX_LEGACY_LOGPROBS}, got {k}"),
            ));
        }
        k => k.map(|k| k as usize),
    };
    let fields = body.sampling();
    let g = validate::generation(&fields, None, DEFAULT_MAX_TOKENS, &state.config)?;
    let req = GenRequest {
        model: body.model.clone(),
        prompt: Prompt::Text(prompt.clone()),
        max_tokens: g.max_tokens,
        sampling: g.sampling,
        stop: g.stop,
        n: g.n,
        logprobs,
    };
    let accepted = submit(&state, req).await?;
    let (id, created) = (new_id("cmpl"), now_s());
    let format = TextFormat {
        id,
        created,
        model: body.model,
        include_usage: fields.stream_options.is_some_and(|o| o.include_usage),
        offsets: std::sync::Mutex::new(vec![0; g.n]),
    };
    if fields.stream {
        return Ok(accepted.stream(format));
    }
    let prompt_tokens = accepted.prompt_tokens;
    let choices = accepted.collect().await?;
    let completion_tokens = choices.iter().map(|c| c.tokens).sum();
    let echo = body.echo;
    let prompt_chars = prompt.chars().count();
    let choices = choices
        .into_iter()
        .enumerate()
        .map(|(index, c)| CompletionChoice {
            index,
            text: if echo {
                format!("{prompt}{}", c.text)
            } else {
                c.text
            },
            finish_reason: Some(c.reason),
            // With `echo` the offsets count from the start of the prompt; the prompt's own
            // tokens are not scored (OpenAI lists them too).
            logprobs: logprobs.map(|_| {
                LegacyLogprobs::from_entries(&c.logprobs, if echo { prompt_chars } else { 0 })
            }),
        })
        .collect();
    Ok(
        Json(format.completion(choices, Some(Usage::new(prompt_tokens, completion_tokens))))
            .into_response(),
    )
}

struct TextFormat {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// Characters streamed so far per choice (the `text_offset` of the next token).
    offsets: std::sync::Mutex<Vec<usize>>,
}

impl TextFormat {
    fn completion(&self, choices: Vec<CompletionChoice>, usage: Option<Usage>) -> Completion {
        Completion {
            id: self.id.clone(),
            object: "text_completion",
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
            system_fingerprint: crate::FINGERPRINT,
        }
    }

    fn one(
        &self,
        index: usize,
        text: String,
        finish_reason: Option<FinishReason>,
        logprobs: Option<LegacyLogprobs>,
    ) -> String {
        let c = self.completion(
            vec![CompletionChoice {
                index,
                text,
                finish_reason,
                logprobs,
            }],
            None,
        );
        serde_json::to_string(&c).unwrap_or_default()
    }
}

impl ChunkFormat for TextFormat {
    fn opening(&self, _index: usize) -> Option<String> {
        None
    }

    fn text(&self, index: usize, text: String) -> String {
        self.one(index, text, None, None)
    }

    fn finish(&self, index: usize, reason: FinishReason) -> String {
        self.one(index, String::new(), Some(reason), None)
    }

    fn logprobs(&self, index: usize, entries: Vec<TokenLogprob>) -> Option<String> {
        let start = {
            let mut offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
            let slot = offsets.get_mut(index)?;
            let start = *slot;
            *slot += entries
                .iter()
                .map(|e| e.token.chars().count())
                .sum::<usize>();
            start
        };
        let lp = LegacyLogprobs::from_entries(&entries, start);
        Some(self.one(index, String::new(), None, Some(lp)))
    }

    fn usage(&self, usage: Usage) -> Option<String> {
        self.include_usage.then(|| {
            serde_json::to_string(&self.completion(Vec::new(), Some(usage))).unwrap_or_default()
        })
    }
}
