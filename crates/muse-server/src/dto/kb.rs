//! Bodies of Muse's knowledge-base endpoints: `GET /v1/kb`, `POST /v1/kb/search`,
//! `POST /v1/kb/add`.

use crate::backend::{KbAdded, KbHit, KbInfo, KbMode};
use serde::{Deserialize, Serialize};

/// The knowledge base a request names when it names none (as `muse kb --kb`).
pub const DEFAULT_KB: &str = "default";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbSearchBody {
    pub query: String,
    pub kb: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::common::opt_uint")]
    pub k: Option<u64>,
    pub mode: Option<KbMode>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbDocumentBody {
    /// File name; its extension picks the reader (`.txt` when there is none).
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbAddBody {
    pub kb: Option<String>,
    pub documents: Vec<KbDocumentBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KbSearchResponse {
    pub object: &'static str,
    pub kb: String,
    pub data: Vec<KbHit>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KbAddResponse {
    pub object: &'static str,
    pub kb: String,
    pub data: Vec<KbAdded>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KbList {
    pub object: &'static str,
    pub data: Vec<KbInfo>,
}
