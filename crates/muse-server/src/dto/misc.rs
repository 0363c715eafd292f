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

/// Body of Muse's `POST /v1/create`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// What to make, in plain words.
    pub prompt: String,
    /// Candidates per round (default 2).
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub best_of: Option<u64>,
    /// Refinement rounds at most (default 2).
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub max_rounds: Option<u64>,
    /// Another round runs while the best candidate scores below this (0..1).
    pub min_score: Option<f64>,
    pub temperature: Option<f64>,
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub seed: Option<u64>,
    /// Stop after understanding and planning.
    pub plan_only: Option<bool>,
}
