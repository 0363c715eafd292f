//! `POST /v1/moderations` (the safety filter chain, OpenAI's response shape plus Muse's
//! `action`), Muse's `POST /v1/evaluate` (quality scores of an answer) and `POST /v1/create`
//! (the whole content pipeline, answered with the JSON of `muse create --json`).

use super::run::{new_id, wait_reply};
use crate::backend::{CreateJob, EvalRequest, EvalScores};
use crate::dto::misc::{CreateBody, EvaluateRequest, ModerationRequest, ModerationResponse};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;

/// The model name moderations report.
pub const MODERATION_MODEL: &str = "muse-safety-rules";

pub async fn moderations(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ModerationRequest>,
) -> Result<Json<ModerationResponse>, ApiError> {
    if let Some(m) = &body.model
        && m != MODERATION_MODEL
        && !m.starts_with("omni-moderation")
        && !m.starts_with("text-moderation")
    {
        return Err(ApiError::unknown_model(m));
    }
    let texts = body.input.into_vec();
    if texts.is_empty() {
        return Err(ApiError::invalid("input", "`input` must not be empty"));
    }
    if texts.len() > state.config.max_inputs {
        return Err(ApiError::invalid(
            "input",
            format!(
                "`input` may hold at most {} texts, got {}",
                state.config.max_inputs,
                texts.len()
            ),
        ));
    }
    let results = wait_reply(state.backend.moderate(texts)?).await?;
    Ok(Json(ModerationResponse {
        id: new_id("modr"),
        model: MODERATION_MODEL.to_string(),
        results,
    }))
}

pub async fn evaluate(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EvaluateRequest>,
) -> Result<Json<EvalScores>, ApiError> {
    if body.prompt.trim().is_empty() {
        return Err(ApiError::invalid("prompt", "`prompt` must not be empty"));
    }
    if body.text.trim().is_empty() {
        return Err(ApiError::invalid("text", "`text` must not be empty"));
    }
    let req = EvalRequest {
        prompt: body.prompt,
        text: body.text,
        passages: body.passages,
    };
    Ok(Json(wait_reply(state.backend.evaluate(req)?).await?))
}

/// Most candidates per round `POST /v1/create` accepts (the CLI's `--best-of` limit is higher;
/// a server request holds the model worker for its whole duration).
pub const MAX_CREATE_BEST_OF: u64 = 8;
/// Most refinement rounds `POST /v1/create` accepts.
pub const MAX_CREATE_ROUNDS: u64 = 4;

pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if body.prompt.trim().is_empty() {
        return Err(ApiError::invalid(
            "prompt",
            "`prompt` must not be empty: say what to create",
        ));
    }
    let ranged = |name: &str, v: Option<u64>, default: u64, max: u64| -> Result<usize, ApiError> {
        match v.unwrap_or(default) {
            n if (1..=max).contains(&n) => Ok(n as usize),
            n => Err(ApiError::invalid(
                name,
                format!("`{name}` must be in 1..={max}, got {n}"),
            )),
        }
    };
    let best_of = ranged("best_of", body.best_of, 2, MAX_CREATE_BEST_OF)?;
    let max_rounds = ranged("max_rounds", body.max_rounds, 2, MAX_CREATE_ROUNDS)?;
    if let Some(m) = body.min_score
        && !(0.0..=1.0).contains(&m)
    {
        return Err(ApiError::invalid(
            "min_score",
            format!("`min_score` must be in [0, 1], got {m}"),
        ));
    }
    let mut sampling = muse_sample::SamplingParams {
        repeat_penalty: 1.1,
        ..Default::default()
    };
    if let Some(t) = body.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(ApiError::invalid(
                "temperature",
                format!("`temperature` must be in [0, 2], got {t}"),
            ));
        }
        sampling.temperature = t as f32;
    }
    if let Some(seed) = body.seed {
        sampling.seed = seed;
    }
    let job = CreateJob {
        prompt: body.prompt,
        best_of,
        max_rounds,
        min_score: body.min_score,
        sampling,
        plan_only: body.plan_only.unwrap_or(false),
    };
    Ok(Json(wait_reply(state.backend.create(job)?).await?))
}
