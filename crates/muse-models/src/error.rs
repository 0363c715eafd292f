use muse_kernels::KernelError;
use std::path::PathBuf;

/// Everything that can go wrong loading or running a model. Messages name the file, key or tensor.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a GGUF file (magic bytes {magic:?}, expected \"GGUF\")")]
    NotGguf { path: PathBuf, magic: [u8; 4] },
    #[error("{path}: unsupported GGUF version {version} (supported: 2, 3)")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("{path} is truncated or corrupt: {what}")]
    Corrupt { path: PathBuf, what: String },
    #[error("metadata key `{key}` is missing")]
    MissingKey { key: String },
    #[error("metadata key `{key}` has the wrong type: expected {expected}")]
    WrongKeyType { key: String, expected: &'static str },
    #[error("tensor `{0}` is missing from the model file")]
    MissingTensor(String),
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("unsupported architecture `{arch}` (supported: {supported})")]
    UnsupportedArchitecture { arch: String, supported: String },
    #[error("tensor `{name}`: {source}")]
    Tensor { name: String, source: KernelError },
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("{tokens} tokens do not fit in the model's context of {context} tokens")]
    ContextOverflow { tokens: usize, context: usize },
    #[error("token id {id} is outside the vocabulary of {vocab} tokens")]
    TokenOutOfRange { id: u32, vocab: usize },
    #[error("invalid model config: {0}")]
    Config(String),
    #[error("{path} not found: {what}")]
    MissingFile { path: PathBuf, what: &'static str },
    #[error("{path}: unsupported pooling mode(s) {modes} (supported: mean tokens)")]
    UnsupportedPooling { path: PathBuf, modes: String },
    #[error("tensor computation failed: {0}")]
    Compute(String),
}

impl From<candle_core::Error> for ModelError {
    /// Loading weights through a candle `VarBuilder` reports a missing tensor or a wrong shape as
    /// candle errors (possibly wrapped in a backtrace or context); those two become the typed
    /// variants, anything else a [`ModelError::Compute`].
    fn from(e: candle_core::Error) -> Self {
        let mut inner = &e;
        while let candle_core::Error::WithBacktrace { inner: i, .. }
        | candle_core::Error::Context { inner: i, .. } = inner
        {
            inner = i;
        }
        match inner {
            candle_core::Error::CannotFindTensor { path } => Self::MissingTensor(path.clone()),
            candle_core::Error::UnexpectedShape { msg, expected, got } => {
                match msg.strip_prefix("shape mismatch for ") {
                    Some(name) => Self::TensorShape {
                        name: name.to_string(),
                        expected: expected.dims().to_vec(),
                        found: got.dims().to_vec(),
                    },
                    None => Self::Compute(one_line(&e)),
                }
            }
            _ => Self::Compute(one_line(&e)),
        }
    }
}

/// candle's context errors span several lines; Muse's CLI promises one-line errors.
fn one_line(e: &candle_core::Error) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
