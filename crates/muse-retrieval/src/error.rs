//! The one error type of the crate: every failure names the path or parameter involved.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("knowledge base at {path}: storage error: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "knowledge base at {path} was written by format v{found}, this Muse reads v{supported}"
    )]
    IncompatibleFormat {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "knowledge base at {path} was built with embedding model `{stored}` ({stored_dim}-d), not `{given}` ({given_dim}-d); re-create it with that model or drop it"
    )]
    ModelMismatch {
        path: PathBuf,
        stored: String,
        stored_dim: usize,
        given: String,
        given_dim: usize,
    },
    #[error("{}", missing_message(name, path, existing))]
    MissingKnowledgeBase {
        name: String,
        path: PathBuf,
        existing: Vec<String>,
    },
    #[error("embedding failed: {0}")]
    Embedder(String),
    #[error(
        "embedder returned {got} vectors of dimension {dim} for {expected} texts of dimension {want}"
    )]
    EmbedderShape {
        expected: usize,
        got: usize,
        want: usize,
        dim: usize,
    },
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter { name: &'static str, message: String },
    #[error("{path} is not in the knowledge base")]
    NotInKnowledgeBase { path: PathBuf },
}

fn missing_message(name: &str, path: &std::path::Path, existing: &[String]) -> String {
    let list = if existing.is_empty() {
        "there are none yet; create one with `muse kb add PATH --kb NAME`".to_string()
    } else {
        format!("existing: {}", existing.join(", "))
    };
    format!(
        "knowledge base `{name}` does not exist (looked in {}); {list}",
        path.display()
    )
}

pub type Result<T, E = RetrievalError> = std::result::Result<T, E>;
