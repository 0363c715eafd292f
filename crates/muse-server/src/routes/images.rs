//! `POST /v1/images/generations` (OpenAI's request and response shape) and
//! `GET /images/{id}.png`, which serves the images of `response_format: "url"`.
//!
//! The image model samples at its own resolution; `size` resamples the result. OpenAI's own
//! model names (`dall-e-2`, `dall-e-3`, `gpt-image-1`) select the served image model, so clients
//! written for OpenAI work unchanged.

use super::run::{now_s, wait_reply};
use crate::backend::{ImageJob, ModelKind};
use crate::base64::base64;
use crate::dto::images::{ImageData, ImageRequest, ImageResponse};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Longest prompt accepted, in characters.
pub const MAX_IMAGE_PROMPT_CHARS: usize = 4000;
/// Smallest and largest side of `size`.
pub const IMAGE_SIDES: std::ops::RangeInclusive<u32> = 16..=1024;

/// `WxH` → (width, height); `auto` → the model's own size.
fn parse_size(s: &str) -> Result<Option<(u32, u32)>, ApiError> {
    if s == "auto" {
        return Ok(None);
    }
    let bad = || {
        ApiError::invalid(
            "size",
            format!(
                "`size` must be `WxH` with sides in {}..={} (e.g. `256x256`) or `auto`, got `{s}`",
                IMAGE_SIDES.start(),
                IMAGE_SIDES.end()
            ),
        )
    };
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let w: u32 = w.parse().map_err(|_| bad())?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    if !IMAGE_SIDES.contains(&w) || !IMAGE_SIDES.contains(&h) {
        return Err(bad());
    }
    Ok(Some((w, h)))
}

fn validate(state: &AppState, body: &ImageRequest) -> Result<ImageJob, ApiError> {
    let Some(card) = state
        .backend
        .models()
        .into_iter()
        .find(|m| m.kind == ModelKind::Image)
    else {
        return Err(crate::backend::images_unavailable().into());
    };
    if let Some(m) = &body.model
        && *m != card.id
        && !m.starts_with("dall-e")
        && !m.starts_with("gpt-image")
    {
        return Err(ApiError::unknown_model(m));
    }
    if body.prompt.trim().is_empty() {
        return Err(ApiError::invalid("prompt", "`prompt` must not be empty"));
    }
    let chars = body.prompt.chars().count();
    if chars > MAX_IMAGE_PROMPT_CHARS {
        return Err(ApiError::invalid(
            "prompt",
            format!(
                "`prompt` has {chars} characters; at most {MAX_IMAGE_PROMPT_CHARS} are accepted"
            ),
        ));
    }
    let max = state.config.max_images as u64;
    let n = body.n.unwrap_or(1);
    if !(1..=max).contains(&n) {
        return Err(ApiError::invalid(
            "n",
            format!("`n` must be in 1..={max}, got {n}"),
        ));
    }
    let size = match &body.size {
        Some(s) => parse_size(s)?,
        None => None,
    };
    if let Some(f) = body.response_format.as_deref()
        && f != "url"
        && f != "b64_json"
    {
        return Err(ApiError::invalid(
            "response_format",
            format!("`response_format` must be `url` or `b64_json`, got `{f}`"),
        ));
    }
    if let Some(f) = body.output_format.as_deref()
        && f != "png"
    {
        return Err(ApiError::invalid(
            "output_format",
            format!("`output_format` must be `png` (Muse writes PNG), got `{f}`"),
        ));
    }
    let max_steps = state.config.max_image_steps as u64;
    if let Some(s) = body.steps
        && !(1..=max_steps).contains(&s)
    {
        return Err(ApiError::invalid(
            "steps",
            format!("`steps` must be in 1..={max_steps}, got {s}"),
        ));
    }
    if let Some(g) = body.guidance
        && !(g.is_finite() && (0.0..=30.0).contains(&g))
    {
        return Err(ApiError::invalid(
            "guidance",
            format!("`guidance` must be in [0, 30], got {g}"),
        ));
    }
    Ok(ImageJob {
        prompt: body.prompt.clone(),
        negative_prompt: body.negative_prompt.clone(),
        n: n as usize,
        size,
        seed: body.seed.unwrap_or_else(crate::image_store::random_u64),
        steps: body.steps.map(|s| s as usize),
        guidance: body.guidance,
    })
}

pub async fn generate(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ImageRequest>,
) -> Result<Json<ImageResponse>, ApiError> {
    let job = validate(&state, &body)?;
    let as_url = body.response_format.as_deref() != Some("b64_json");
    let images = wait_reply(state.backend.images(job)?).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(
            || format!("{}:{}", state.config.host, state.config.port),
            str::to_string,
        );
    let data = images
        .into_iter()
        .map(|img| {
            if as_url {
                let id = state.images.put(img.png);
                ImageData {
                    b64_json: None,
                    url: Some(format!("http://{host}/images/{id}.png")),
                }
            } else {
                ImageData {
                    b64_json: Some(base64(&img.png)),
                    url: None,
                }
            }
        })
        .collect();
    Ok(Json(ImageResponse {
        created: now_s(),
        data,
    }))
}

/// `GET /images/{id}.png`.
pub async fn file(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let found = name
        .strip_suffix(".png")
        .and_then(|id| state.images.get(id));
    match found {
        Some(png) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            png.to_vec(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "No such image (images are kept for a while, the oldest dropped first)",
        )
        .into_response(),
    }
}
