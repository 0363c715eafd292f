//! Where Muse keeps its models: `$MUSE_HOME/models` if `MUSE_HOME` is set, else the `models/`
//! directory of the repository this binary was built from (where `./setup.sh` installs them).

use anyhow::{Context, Result, bail};
use muse_models::catalog::{self, ModelInfo};
use std::path::{Path, PathBuf};

/// File stem of the default text model installed by the setup script.
pub const DEFAULT_TEXT_MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

pub fn models_dir() -> PathBuf {
    let dir = match std::env::var_os("MUSE_HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join("models"),
        None => repo_models_dir(),
    };
    // Shown to users in listings and errors: prefer the plain absolute form.
    dir.canonicalize().unwrap_or(dir)
}

/// Muse's home: `$MUSE_HOME` if set, else the directory holding the models directory (the
/// repository). Knowledge bases live in its `kb/`.
pub fn muse_home() -> PathBuf {
    let dir = match std::env::var_os("MUSE_HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home),
        None => repo_models_dir()
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    dir.canonicalize().unwrap_or(dir)
}

/// The repository's `models/`: where the build happened, or — if the tree was moved after the
/// build — beside `target/release/muse` of the running binary.
fn repo_models_dir() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    if built.is_dir() {
        return built;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.canonicalize().ok())
        .and_then(|exe| {
            exe.parent()?
                .parent()?
                .parent()
                .map(|root| root.join("models"))
        })
        .filter(|p| p.is_dir())
        .unwrap_or(built)
}

/// Whether a catalogued model is a text generator (GGUF, or an HF causal-LM folder).
fn is_text_model(m: &ModelInfo) -> bool {
    m.format.starts_with("gguf")
        || m.architecture.ends_with("ForCausalLM")
        || m.architecture == "GPT2LMHeadModel"
}

/// Resolve `--model PATH|NAME` (or the default text model) to a GGUF file or an HF model folder.
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
    let installed: Vec<ModelInfo> = installed.into_iter().filter(is_text_model).collect();
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

/// Folder name of the default sentence-embedding model installed by the setup script.
pub const DEFAULT_EMBEDDING_MODEL: &str = "all-MiniLM-L6-v2";

/// Folder name of the default image model: the text-to-image model Muse trained itself on
/// Fashion-MNIST (`trained/` in the repository; `./setup.sh` installs it into the models
/// directory).
pub const DEFAULT_IMAGE_MODEL: &str = "muse-t2i-fashion";

/// Resolve `--model PATH|NAME` (or the default image model) to a diffusers-style folder.
pub fn resolve_image_model(spec: Option<&str>) -> Result<PathBuf> {
    let want = spec.unwrap_or(DEFAULT_IMAGE_MODEL);
    let as_path = Path::new(want);
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    let installed = models_dir().join(want);
    if !want.contains('/') && installed.is_dir() {
        return Ok(installed);
    }
    if spec.is_none() {
        bail!(
            "the default image model {} is not installed: run ./setup.sh",
            installed.display()
        );
    }
    bail!(
        "image model {want} not found (neither a folder nor a model in {})",
        models_dir().display()
    )
}

/// Resolve `--model PATH|NAME` (or the default embedding model) to a model folder: an existing
/// path, else a folder of that name (any case) under the models directory.
pub fn resolve_embedding_model(spec: Option<&str>) -> Result<PathBuf> {
    let dir = models_dir();
    let want = spec.unwrap_or(DEFAULT_EMBEDDING_MODEL);
    let as_path = Path::new(want);
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    if as_path.exists() {
        bail!(
            "{want} is a file; an embedding model is a folder (config.json, tokenizer.json, model.safetensors)"
        );
    }
    if spec.is_some() && want.contains('/') {
        bail!("model folder {want} does not exist");
    }
    // Folders holding a config.json: the candidates for a sentence-transformers model.
    let folders: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("config.json").is_file())
        .collect();
    let lower = want.to_lowercase();
    if let Some(p) = folders.iter().find(|p| {
        p.file_name()
            .is_some_and(|f| f.to_string_lossy().to_lowercase() == lower)
    }) {
        return Ok(p.clone());
    }
    let mut names: Vec<String> = folders
        .iter()
        .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let hint = if names.is_empty() {
        format!(
            "no model folders are installed in {} — run ./setup.sh",
            dir.display()
        )
    } else {
        format!("installed in {}: {}", dir.display(), names.join(", "))
    };
    bail!("embedding model `{want}` not found ({hint})")
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
