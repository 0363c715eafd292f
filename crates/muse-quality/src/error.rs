use thiserror::Error;

/// What a model behind [`crate::TokenScorer`] or [`crate::Embedder`] reports when it fails.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of quality evaluation; messages name the parameter or the failing model.
#[derive(Debug, Error)]
pub enum QualityError {
    #[error("`{name}` {problem}")]
    InvalidParameter { name: &'static str, problem: String },
    #[error("{what} failed: {source}")]
    Backend {
        what: &'static str,
        #[source]
        source: BackendError,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("the embedding model returned {got} vectors for {want} texts")]
    EmbeddingCount { got: usize, want: usize },
}
