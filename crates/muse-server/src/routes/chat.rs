//! `POST /v1/chat/completions`.

use super::run::{ChunkFormat, new_id, now_s, submit};
use crate::backend::{FinishReason, GenRequest, ModelKind, Prompt, TokenLogprob};
use crate::dto::chat::{
    AssistantMessage, ChatChoice, ChatChunk, ChatCompletion, ChatCompletionRequest, ChoiceLogprobs,
    ChunkChoice, Delta,
};
use crate::dto::common::Usage;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::validate;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

pub async fn handler(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    validate::model(&state, &body.model, ModelKind::Text)?;
    let messages = validate::messages(&body.messages)?;
    let logprobs = validate::logprobs(body.logprobs.unwrap_or(false), body.top_logprobs)?;
    let fields = body.sampling();
    let g = validate::generation(
        &fields,
        body.max_completion_tokens,
        state.config.default_max_tokens,
        &state.config,
    )?;
    let req = GenRequest {
        model: body.model.clone(),
        prompt: Prompt::Chat(messages),
        max_tokens: g.max_tokens,
        sampling: g.sampling,
        stop: g.stop,
        n: g.n,
        logprobs,
    };
    let accepted = submit(&state, req).await?;
    let (id, created) = (new_id("chatcmpl"), now_s());
    if fields.stream {
        let include_usage = fields.stream_options.is_some_and(|o| o.include_usage);
        return Ok(accepted.stream(ChatFormat {
            id,
            created,
            model: body.model,
            include_usage,
        }));
    }
    let prompt_tokens = accepted.prompt_tokens;
    let choices = accepted.collect().await?;
    let completion_tokens = choices.iter().map(|c| c.tokens).sum();
    Ok(Json(ChatCompletion {
        id,
        object: "chat.completion",
        created,
        model: body.model,
        choices: choices
            .into_iter()
            .enumerate()
            .map(|(index, c)| ChatChoice {
                index,
                message: AssistantMessage {
                    role: "assistant",
                    content: c.text,
                },
                finish_reason: Some(c.reason),
                logprobs: logprobs.map(|_| ChoiceLogprobs {
                    content: c.logprobs,
                }),
            })
            .collect(),
        usage: Usage::new(prompt_tokens, completion_tokens),
        system_fingerprint: crate::FINGERPRINT,
    })
    .into_response())
}

struct ChatFormat {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl ChatFormat {
    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> String {
        let c = ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
            system_fingerprint: crate::FINGERPRINT,
        };
        serde_json::to_string(&c).unwrap_or_default()
    }

    fn one(&self, index: usize, delta: Delta, finish_reason: Option<FinishReason>) -> String {
        self.chunk(
            vec![ChunkChoice {
                index,
                delta,
                finish_reason,
                logprobs: None,
            }],
            None,
        )
    }
}

impl ChunkFormat for ChatFormat {
    fn opening(&self, index: usize) -> Option<String> {
        let delta = Delta {
            role: Some("assistant"),
            content: Some(String::new()),
        };
        Some(self.one(index, delta, None))
    }

    fn text(&self, index: usize, text: String) -> String {
        let delta = Delta {
            role: None,
            content: Some(text),
        };
        self.one(index, delta, None)
    }

    fn finish(&self, index: usize, reason: FinishReason) -> String {
        self.one(index, Delta::default(), Some(reason))
    }

    fn usage(&self, usage: Usage) -> Option<String> {
        self.include_usage
            .then(|| self.chunk(Vec::new(), Some(usage)))
    }

    fn logprobs(&self, index: usize, entries: Vec<TokenLogprob>) -> Option<String> {
        let choice = ChunkChoice {
            index,
            delta: Delta::default(),
            finish_reason: None,
            logprobs: Some(ChoiceLogprobs { content: entries }),
        };
        Some(self.chunk(vec![choice], None))
    }
}
