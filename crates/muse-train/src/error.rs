//! The one error type of `muse-train`.

use std::path::PathBuf;

/// Everything that can go wrong while loading data, training or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A dataset file is not where it should be; the message says which setup step installs it.
    #[error("{what} not found at {path}: {hint}")]
    MissingData {
        what: String,
        path: PathBuf,
        hint: String,
    },
    /// A dataset or checkpoint file exists but cannot be parsed.
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    /// A command-line or configuration value out of range.
    #[error("invalid {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "training diverged at step {step}: the loss is {loss} (the last good checkpoint, step {last_checkpoint}, is kept)"
    )]
    Diverged {
        step: usize,
        loss: f32,
        last_checkpoint: usize,
    },
    /// `--resume` from a checkpoint whose model does not match the requested one.
    #[error("cannot resume from {path}: {reason}")]
    IncompatibleCheckpoint { path: PathBuf, reason: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] muse_models::ModelError),
    #[error(transparent)]
    Diffusion(#[from] muse_diffusion::DiffusionError),
    #[error("image error: {0}")]
    Image(String),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;
