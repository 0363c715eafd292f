use muse_models::ModelError;
use muse_sample::SampleError;

/// Errors of the engine; messages name the offending parameter or input.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Sampling(#[from] SampleError),
    #[error("chat template: {0}")]
    Template(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt has {tokens} tokens but the model's context is {context}; shorten it")]
    PromptTooLong { tokens: usize, context: usize },
    #[error("`{name}` {problem}")]
    InvalidParameter { name: &'static str, problem: String },
    #[error(transparent)]
    Quality(#[from] muse_quality::QualityError),
    #[error(transparent)]
    Understand(muse_understand::UnderstandError),
    #[error(transparent)]
    Safety(#[from] muse_safety::SafetyError),
    #[error("the safety filter refused the {stage} ({categories})")]
    Refused {
        stage: &'static str,
        categories: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("scoring needs at least 2 tokens, got {0}")]
    TooFewTokens(usize),
}
