//! Shared test helpers: locating the packaged models installed by `./setup.sh`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use std::path::PathBuf;

/// The models directory: `$MUSE_HOME/models`, else the repository's `models/`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("MUSE_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h).join("models"),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

/// Path of a packaged model, or `None` after printing a visible SKIP line. Under CI (`CI` set) a
/// missing model is a failure: the setup script must have installed it.
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

pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
