//! [`ApiJson`]: axum's JSON extractor with its rejections in OpenAI's error shape — malformed
//! JSON 400, a field of the wrong type 422 (naming the field), a body over the limit 413, a
//! missing `Content-Type: application/json` 415.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON request body.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(rejection(&r)),
        }
    }
}

fn rejection(r: &JsonRejection) -> ApiError {
    let text = r.body_text();
    match r {
        JsonRejection::JsonDataError(_) => {
            // axum reports "Failed to deserialize the JSON body into the target type: PATH: MSG".
            let detail = text
                .split_once("target type: ")
                .map_or(text.as_str(), |(_, d)| d);
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid request body: {detail}"),
            );
            if let Some((path, _)) = detail.split_once(": ")
                && !path.contains(' ')
            {
                e = e.with_param(path);
            }
            e
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {text}"))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected `Content-Type: application/json`",
        ),
        _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than the server's limit",
        ),
        _ => ApiError::new(r.status(), text),
    }
}
