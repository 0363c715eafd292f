//! Request middleware: API-key authentication, the per-request timeout, and metrics.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// 401 unless `Authorization: Bearer KEY` names a configured key (no keys: everyone passes).
pub async fn require_key(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if s.config.api_keys.is_empty() {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(k) if s.config.api_keys.iter().any(|key| key == k) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "Incorrect API key provided")
            .with_code("invalid_api_key")
            .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Missing API key: send `Authorization: Bearer KEY`",
        )
        .with_code("invalid_api_key")
        .into_response(),
    }
}

/// 408 when the response has not started within the configured time — this covers a client
/// that sends its body a byte at a time. A stream that has started is not cut.
pub async fn timeout(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(s.config.request_timeout(), next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request did not complete within {} s",
                s.config.request_timeout_s
            ),
        )
        .into_response(),
    }
}

/// Counts each request by route and status, with its latency.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let t0 = Instant::now();
    let res = next.run(req).await;
    s.metrics
        .record_request(&route, res.status().as_u16(), t0.elapsed().as_secs_f64());
    res
}
