//! `POST /v1/images/generations` bodies (OpenAI's shape, with Muse's optional `seed`, `steps`,
//! `guidance` and `negative_prompt`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageRequest {
    pub prompt: String,
    pub model: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub n: Option<u64>,
    /// `WxH`, e.g. `256x256`; absent: the model's own resolution.
    pub size: Option<String>,
    /// `b64_json` (default) or `url`.
    pub response_format: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub seed: Option<u64>,
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub steps: Option<u64>,
    pub guidance: Option<f64>,
    pub negative_prompt: Option<String>,
    /// Accepted for compatibility; every image is PNG.
    pub output_format: Option<String>,
    /// Accepted for compatibility and ignored (`quality`, `style`, `background`, `user`).
    pub quality: Option<String>,
    pub style: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageResponse {
    pub created: u64,
    pub data: Vec<ImageData>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
