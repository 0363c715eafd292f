//! Bodies of `/v1/models`, `/v1/moderations` and Muse's `/v1/evaluate`.

use super::common::OneOrMany;
use crate::backend::Moderation;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelObject {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
    /// Muse's addition: `text` or `embedding`.
    pub kind: crate::backend::ModelKind,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModerationRequest {
    pub input: OneOrMany,
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModerationResponse {
    pub id: String,
    pub model: String,
    pub results: Vec<Moderation>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EvaluateRequest {
    /// What the text answers.
    pub prompt: String,
    /// The answer to score.
    pub text: String,
    /// Passages the answer should be grounded on.
    #[serde(default)]
    pub passages: Vec<String>,
}
