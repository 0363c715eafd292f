//! The small routes: the model list, health, metrics, the OpenAPI document and the playground.

use super::run::now_s;
use crate::dto::misc::{ModelList, ModelObject};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub async fn models(State(state): State<AppState>) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: state
            .backend
            .models()
            .into_iter()
            .map(|m| model_object(m.id, m.kind))
            .collect(),
    })
}

fn model_object(id: String, kind: crate::backend::ModelKind) -> ModelObject {
    ModelObject {
        id,
        object: "model",
        created: now_s(),
        owned_by: "muse",
        kind,
    }
}

pub async fn model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ModelObject>, ApiError> {
    state
        .backend
        .models()
        .into_iter()
        .find(|m| m.id == id)
        .map(|m| Json(model_object(m.id, m.kind)))
        .ok_or_else(|| ApiError::unknown_model(&id))
}

pub async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "models": state.backend.models().len(),
        "queue_depth": state.backend.queue_depth(),
    }))
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(state.backend.queue_depth()),
    )
        .into_response()
}

pub async fn openapi(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.to_string(),
    )
        .into_response()
}

pub async fn playground() -> Html<&'static str> {
    Html(crate::PLAYGROUND_HTML)
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "Unknown route; see GET /openapi.json",
    )
    .with_code("unknown_url")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed on this route",
    )
}
