//! The one error type of muse-diffusion.

use std::path::PathBuf;

/// Errors from loading, configuring or running diffusion models and schedulers.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// A tensor operation failed (shape mismatch inside a model, missing weight, …).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON config could not be parsed.
    #[error("{path}: invalid JSON config: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A config names a block / scheduler / option Muse does not implement.
    #[error("unsupported {what} `{found}`; supported: {}", supported.join(", "))]
    Unsupported {
        /// Which setting (e.g. `down_block_types`).
        what: &'static str,
        /// The value found.
        found: String,
        /// The values Muse supports.
        supported: Vec<&'static str>,
    },
    /// A config value is out of range or inconsistent.
    #[error("invalid config: {0}")]
    Config(String),
    /// An input to a model, scheduler or pipeline is invalid (shape, range, …).
    #[error("invalid input: {0}")]
    Input(String),
    /// A component folder or file of a model directory is missing.
    #[error("missing {what}: {path} does not exist")]
    Missing {
        /// What was expected (e.g. `unet component`).
        what: String,
        /// Where it was looked for.
        path: PathBuf,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DiffusionError>;

impl DiffusionError {
    /// An [`DiffusionError::Input`] from anything printable.
    pub fn input(msg: impl Into<String>) -> Self {
        Self::Input(msg.into())
    }
    /// A [`DiffusionError::Config`] from anything printable.
    pub fn config(msg: impl Into<String>) -> Self {
        Self::Config(msg.into())
    }
}

/// Reads and parses a JSON file into `T`, with the path in any error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| DiffusionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| DiffusionError::Json {
        path: path.to_path_buf(),
        source,
    })
}
