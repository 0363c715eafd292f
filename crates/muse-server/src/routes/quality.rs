//! `POST /v1/moderations` (the safety filter chain, OpenAI's response shape plus Muse's
//! `action`) and Muse's `POST /v1/evaluate` (quality scores of an answer).

use super::run::{new_id, wait_reply};
use crate::backend::{EvalRequest, EvalScores};
use crate::dto::misc::{EvaluateRequest, ModerationRequest, ModerationResponse};
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
