//! The crate's one error type.
//!
//! Every failure names what it is about (the config field, the filter, the byte offset), so
//! a refusal shown to a user or written to a log says *why*. A filter that returns an error
//! never lets text through: [`FilterChain`](crate::FilterChain) propagates it (fail closed).

use std::path::PathBuf;

/// Everything that can go wrong while configuring or running a content filter.
#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    /// A configuration value is invalid.
    ///
    /// Displays as e.g. "invalid safety config: `safety.thresholds.violence` must be in [0, 1], got 1.5".
    #[error("invalid safety config: `{field}` {reason}")]
    InvalidConfig {
        /// Dotted path of the offending field, e.g. `categories.weapons.rules[2].pattern`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A regular expression in the configuration does not compile.
    #[error("invalid safety config: `{field}` is not a valid regex: {source}")]
    InvalidPattern {
        /// Dotted path of the offending pattern.
        field: String,
        /// The compiler's message.
        #[source]
        source: Box<regex::Error>,
    },
    /// The configuration file could not be parsed as TOML.
    #[error("invalid safety config: {0}")]
    Toml(#[from] toml::de::Error),
    /// Input bytes are not UTF-8.
    #[error("text is not valid UTF-8 (invalid byte at offset {offset})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// Input is larger than the configured limit.
    #[error("text is {len} bytes, more than the limit of {max} bytes (`safety.max_text_bytes`)")]
    TextTooLong {
        /// Length of the text in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A filter could not run (missing model, no filters configured, ...). The request must
    /// be refused; the reason says why.
    #[error("content filter `{filter}` could not run: {reason}")]
    Unavailable {
        /// The filter's name.
        filter: String,
        /// Why it could not run.
        reason: String,
    },
    /// A filter inside a [`FilterChain`](crate::FilterChain) failed; the chain refuses.
    #[error("content filter `{filter}` failed, refusing the request: {source}")]
    FilterFailed {
        /// The failing filter's name.
        filter: String,
        /// Its error.
        #[source]
        source: Box<SafetyError>,
    },
    /// A file (config, policy, audit log) could not be read or written.
    #[error("{what} `{path}`: {source}")]
    Io {
        /// What the file is, e.g. "audit log".
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A model file (weights, tokenizer) is truncated, corrupt or inconsistent.
    #[error("model file `{path}` is unusable: {reason}")]
    Model {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Input a model cannot take (after the checks that give the typed errors above).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The bytes given as an image are not in a supported image format.
    #[error("not an image (supported: PNG, JPEG, GIF, BMP, WebP): {reason}")]
    NotAnImage {
        /// Why the format was not recognised.
        reason: String,
    },
    /// The image's header declares more pixels than allowed (checked before decoding).
    #[error(
        "image is {width}x{height} pixels, more than the limit of {max_pixels} pixels (`safety.image.max_pixels`)"
    )]
    ImageTooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The configured limit.
        max_pixels: u64,
    },
    /// The image file is larger than allowed.
    #[error(
        "image file is {len} bytes, more than the limit of {max} bytes (`safety.image.max_bytes`)"
    )]
    ImageFileTooLarge {
        /// Size of the file in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The image is in a known format but could not be decoded (truncated, corrupt).
    #[error("cannot decode image: {reason}")]
    ImageDecode {
        /// The decoder's message.
        reason: String,
    },
    /// An audit record could not be serialised.
    #[error("cannot serialise audit record: {0}")]
    Json(#[from] serde_json::Error),
}

impl SafetyError {
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn model(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Model {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn pattern(field: impl Into<String>, source: regex::Error) -> Self {
        Self::InvalidPattern {
            field: field.into(),
            source: Box::new(source),
        }
    }
}
