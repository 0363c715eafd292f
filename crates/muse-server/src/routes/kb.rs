//! Muse's knowledge-base endpoints over the same stores as `muse kb`: `GET /v1/kb` (the
//! knowledge bases), `POST /v1/kb/search` and `POST /v1/kb/add` (documents uploaded as text).
//! Knowledge bases are named, never given as paths: a request cannot reach outside the Muse
//! home's `kb/` folder.

use super::run::wait_reply;
use crate::backend::{KbAddJob, KbDocument, KbMode, KbSearchJob};
use crate::dto::kb::{
    DEFAULT_KB, KbAddBody, KbAddResponse, KbList, KbSearchBody, KbSearchResponse,
};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;

/// Most results of one search.
pub const MAX_KB_RESULTS: u64 = 50;
/// Longest query, in characters.
pub const MAX_KB_QUERY_CHARS: usize = 2000;

/// A knowledge-base name: 1–64 of `A-Z a-z 0-9 _ - .`, not starting with a dot.
fn kb_name(given: Option<String>) -> Result<String, ApiError> {
    let name = given.unwrap_or_else(|| DEFAULT_KB.to_string());
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(ApiError::invalid(
            "kb",
            format!(
                "`kb` must be a name of 1-64 letters, digits, `_`, `-` or `.` (not starting with a dot), got `{name}`"
            ),
        ));
    }
    Ok(name)
}

pub async fn list(State(state): State<AppState>) -> Result<Json<KbList>, ApiError> {
    Ok(Json(KbList {
        object: "list",
        data: wait_reply(state.backend.kb_list()?).await?,
    }))
}

pub async fn search(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KbSearchBody>,
) -> Result<Json<KbSearchResponse>, ApiError> {
    let kb = kb_name(body.kb)?;
    if body.query.trim().is_empty() {
        return Err(ApiError::invalid("query", "`query` must not be empty"));
    }
    let chars = body.query.chars().count();
    if chars > MAX_KB_QUERY_CHARS {
        return Err(ApiError::invalid(
            "query",
            format!("`query` has {chars} characters; at most {MAX_KB_QUERY_CHARS} are accepted"),
        ));
    }
    let k = body.k.unwrap_or(5);
    if !(1..=MAX_KB_RESULTS).contains(&k) {
        return Err(ApiError::invalid(
            "k",
            format!("`k` must be in 1..={MAX_KB_RESULTS}, got {k}"),
        ));
    }
    let job = KbSearchJob {
        kb: kb.clone(),
        query: body.query,
        k: k as usize,
        mode: body.mode.unwrap_or(KbMode::Hybrid),
    };
    let data = wait_reply(state.backend.kb_search(job)?).await?;
    Ok(Json(KbSearchResponse {
        object: "list",
        kb,
        data,
    }))
}

pub async fn add(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KbAddBody>,
) -> Result<Json<KbAddResponse>, ApiError> {
    let kb = kb_name(body.kb)?;
    let max = state.config.max_inputs;
    if body.documents.is_empty() || body.documents.len() > max {
        return Err(ApiError::invalid(
            "documents",
            format!(
                "`documents` must hold 1..={max} documents, got {}",
                body.documents.len()
            ),
        ));
    }
    let mut documents = Vec::with_capacity(body.documents.len());
    for (i, d) in body.documents.into_iter().enumerate() {
        let name = d.name.as_str();
        if name.is_empty()
            || name.chars().count() > 255
            || name.starts_with('.')
            || name.contains(['/', '\\', '\0'])
        {
            return Err(ApiError::invalid(
                &format!("documents[{i}].name"),
                "a document name must be a file name of 1-255 characters without `/`, `\\` or a leading dot",
            ));
        }
        if d.text.trim().is_empty() {
            return Err(ApiError::invalid(
                &format!("documents[{i}].text"),
                "a document's `text` must not be empty",
            ));
        }
        documents.push(KbDocument {
            name: d.name,
            text: d.text,
        });
    }
    let data = wait_reply(state.backend.kb_add(KbAddJob {
        kb: kb.clone(),
        documents,
    })?)
    .await?;
    Ok(Json(KbAddResponse {
        object: "list",
        kb,
        data,
    }))
}
