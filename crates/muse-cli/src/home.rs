//! Where Muse keeps its models: `$MUSE_HOME/models` if `MUSE_HOME` is set, else the `models/`
//! directory of the repository this binary was built from (where `./setup.sh` installs them).

use anyhow::{Context, Result, bail};
use muse_models::catalog::{self, ModelInfo};
use std::path::{Path, PathBuf};

/// File stem of the default text model installed by the setup script.
pub const DEFAULT_TEXT_MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

pub fn models_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("MUSE_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home).join("models");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// Resolve `--model PATH|NAME` (or the default text model) to a GGUF file.
pub fn resolve_text_model(spec: Option<&str>) -> Result<PathBuf> {
    let dir = models_dir();
    let want = spec.unwrap_or(DEFAULT_TEXT_MODEL);
    let as_path = Path::new(want);
    if as_path.exists() {
        return Ok(as_path.to_path_buf());
    }
    if spec.is_some() && (want.contains('/') || want.ends_with(".gguf")) {
        bail!("model file {want} does not exist");
    }
    let installed = catalog::list(&dir);
    let lower = want.to_lowercase();
    let found = installed.iter().find(|m| {
        m.name.to_lowercase() == lower
            || m.path
                .file_name()
                .is_some_and(|f| f.to_string_lossy().to_lowercase() == lower)
    });
    match found {
        Some(m) => Ok(m.path.clone()),
        None => {
            let names: Vec<&str> = installed
                .iter()
                .map(|m: &ModelInfo| m.name.as_str())
                .collect();
            let hint = if names.is_empty() {
                format!(
                    "no models are installed in {} — run ./setup.sh",
                    dir.display()
                )
            } else {
                format!("installed in {}: {}", dir.display(), names.join(", "))
            };
            bail!("model `{want}` not found ({hint})")
        }
    }
}

/// Read a text file that must be UTF-8.
pub fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid UTF-8 (first bad byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}
