//! `POST /v1/completions` (one prompt per request).

use super::run::{ChunkFormat, new_id, now_s, submit};
use crate::backend::{FinishReason, GenRequest, ModelKind, Prompt};
use crate::dto::common::{OneOrMany, Usage};
use crate::dto::completions::{Completion, CompletionChoice, CompletionRequest};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::validate;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// OpenAI's default `max_tokens` for text completions.
const DEFAULT_MAX_TOKENS: usize = 16;

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
    if body.logprobs.is_some_and(|k| k > 0) {
        return Err(ApiError::invalid(
            "logprobs",
            "`logprobs` is not supported by this server yet",
        ));
    }
    let fields = body.sampling();
    let g = validate::generation(&fields, None, DEFAULT_MAX_TOKENS, &state.config)?;
    let req = GenRequest {
        model: body.model.clone(),
        prompt: Prompt::Text(prompt.clone()),
        max_tokens: g.max_tokens,
        sampling: g.sampling,
        stop: g.stop,
        n: g.n,
        logprobs: None,
    };
    let accepted = submit(&state, req).await?;
    let (id, created) = (new_id("cmpl"), now_s());
    let format = TextFormat {
        id,
        created,
        model: body.model,
        include_usage: fields.stream_options.is_some_and(|o| o.include_usage),
    };
    if fields.stream {
        return Ok(accepted.stream(format));
    }
    let prompt_tokens = accepted.prompt_tokens;
    let choices = accepted.collect().await?;
    let completion_tokens = choices.iter().map(|c| c.tokens).sum();
    let echo = body.echo;
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
            logprobs: None,
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

    fn one(&self, index: usize, text: String, finish_reason: Option<FinishReason>) -> String {
        let c = self.completion(
            vec![CompletionChoice {
                index,
                text,
                finish_reason,
                logprobs: None,
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
        self.one(index, text, None)
    }

    fn finish(&self, index: usize, reason: FinishReason) -> String {
        self.one(index, String::new(), Some(reason))
    }

    fn usage(&self, usage: Usage) -> Option<String> {
        self.include_usage.then(|| {
            serde_json::to_string(&self.completion(Vec::new(), Some(usage))).unwrap_or_default()
        })
    }
}
