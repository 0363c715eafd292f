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
}
