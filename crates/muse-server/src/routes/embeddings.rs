//! `POST /v1/embeddings`.

use super::run::wait_reply;
use crate::backend::ModelKind;
use crate::dto::embeddings::{
    EmbeddingItem, EmbeddingList, EmbeddingRequest, EmbeddingUsage, EmbeddingValue,
};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::validate;
use axum::Json;
use axum::extract::State;

pub async fn handler(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmbeddingRequest>,
) -> Result<Json<EmbeddingList>, ApiError> {
    validate::model(&state, &body.model, ModelKind::Embedding)?;
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "encoding_format",
                format!("`encoding_format` must be `float` or `base64`, got `{other}`"),
            ));
        }
    };
    if body.dimensions.is_some() {
        return Err(ApiError::invalid(
            "dimensions",
            "`dimensions` is not supported: the model's vectors have a fixed size",
        ));
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
    if let Some(i) = texts.iter().position(|t| t.is_empty()) {
        return Err(ApiError::invalid("input", format!("`input[{i}]` is empty")));
    }
    let e = wait_reply(state.backend.embed(&body.model, texts)?).await?;
    let data = e
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| EmbeddingItem {
            object: "embedding",
            index,
            embedding: if base64 {
                EmbeddingValue::Base64(crate::base64::base64_f32(&v))
            } else {
                EmbeddingValue::Float(v)
            },
        })
        .collect();
    Ok(Json(EmbeddingList {
        object: "list",
        data,
        model: body.model,
        usage: EmbeddingUsage {
            prompt_tokens: e.prompt_tokens,
            total_tokens: e.prompt_tokens,
        },
    }))
}
