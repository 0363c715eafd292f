//! Every failure of the HTTP layer as one type, [`ApiError`], rendered in OpenAI's error shape
//! `{"error": {"message", "type", "param", "code"}}` with the matching status; and the one
//! mapping from [`BackendError`] to HTTP status.

use crate::backend::BackendError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// OpenAI's `code`, e.g. `model_not_found`.
    pub code: Option<&'static str>,
    /// Seconds for the `Retry-After` header (429 / 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400: a field has a bad value; the message names it.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).with_param(param)
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 404 for a model the server does not serve.
    pub fn unknown_model(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!(
                "The model `{model}` does not exist or is not served here (see GET /v1/models)"
            ),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    /// 429 with `Retry-After`.
    pub fn overloaded(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            code: Some("rate_limit_exceeded"),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "The server's request queue is full; retry shortly",
            )
        }
    }

    /// 404 for an endpoint of the API that this server does not offer yet (a 404 rather than a
    /// 501: the server works as intended, the resource is absent).
    pub fn not_available(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("{what} is not available on this server"),
        )
        .with_code("not_available")
    }

    /// OpenAI's `type` for the status.
    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            408 | 504 => "timeout_error",
            429 => "rate_limit_error",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        }
    }

    /// The JSON body (also used inside a stream, where the status is already sent).
    pub fn body_json(&self) -> String {
        let body = Body {
            error: Inner {
                message: &self.message,
                kind: self.kind(),
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| String::from("{\"error\":{}}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body_json(),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Invalid { param, message } => Self::invalid(&param, message),
            BackendError::UnknownModel(m) => Self::unknown_model(&m),
            BackendError::NotFound { param, message } => Self::new(StatusCode::NOT_FOUND, message)
                .with_param(&param)
                .with_code("not_found"),
            BackendError::Overloaded { retry_after } => Self::overloaded(retry_after),
            BackendError::Unavailable(what) => {
                Self::new(StatusCode::NOT_FOUND, what).with_code("not_available")
            }
            BackendError::Internal(m) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}
