//! Helpers shared by the test suites of Muse's crates.
//!
//! Tests that need the real packaged models (installed by `./setup.sh`) call [`packaged`]: when the
//! model is absent they print a visible `SKIPPED:` line and return `None`, and under CI (`CI` set)
//! they fail instead — there the setup script must have installed it, so absence is a bug.

#![allow(
    clippy::panic,
    reason = "a missing model under CI must fail the test run"
)]

use std::path::PathBuf;

/// File name of the packaged text model.
pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Folder name of the packaged sentence-embedding model.
pub const MINILM: &str = "all-MiniLM-L6-v2";
/// Folder name of the converted toxicity classifier.
pub const TOXICITY: &str = "toxic-comment-classifier";
/// File name of the open_nsfw image classifier.
pub const NSFW: &str = "open-nsfw.onnx";

/// The models directory: `$MUSE_HOME/models`, else the repository's `models/`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("MUSE_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h).join("models"),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

/// Path of a packaged model (file or folder), or `None` after printing a visible SKIP line.
/// Under CI a missing model panics.
pub fn packaged(name: &str) -> Option<PathBuf> {
    let p = models_dir().join(name);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing: ./setup.sh should have installed it",
            p.display()
        );
    }
    eprintln!("SKIPPED: {} not installed (run ./setup.sh)", p.display());
    None
}
