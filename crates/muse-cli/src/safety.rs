//! The `[safety]` configuration the commands share: read from `--config`, else `./muse.toml`,
//! else the defaults — with the learned classifiers pointed at the installed models when the
//! config does not name them (`<models>/toxic-comment-classifier`, `<models>/open-nsfw.onnx`).
//!
//! Policy: the toxicity filter is enabled by default and used whenever `./setup.sh` has
//! installed it; a model that is installed but cannot be loaded (truncated, corrupt) refuses
//! every request with the reason (fail closed). Set `safety.toxicity.required = true` to also
//! refuse when it is *missing*, or remove `"toxicity"` from `safety.enabled` to turn it off.

use crate::home::models_dir;
use anyhow::{Context, Result};
use muse_safety::{NSFW_MODEL_FILE, SafetyConfig, TOXICITY_MODEL_DIR};
use std::path::Path;

/// Reads the config (see the module docs) and fills in the default model paths.
pub fn load(path: Option<&Path>) -> Result<SafetyConfig> {
    let default = Path::new("muse.toml");
    let mut cfg = match path {
        Some(p) => {
            SafetyConfig::from_file(p).with_context(|| format!("reading {}", p.display()))?
        }
        None if default.is_file() => {
            SafetyConfig::from_file(default).context("reading ./muse.toml")?
        }
        None => SafetyConfig::default(),
    };
    let models = models_dir();
    cfg.toxicity
        .model
        .get_or_insert_with(|| models.join(TOXICITY_MODEL_DIR));
    cfg.image
        .model
        .get_or_insert_with(|| models.join(NSFW_MODEL_FILE));
    Ok(cfg)
}
