//! What a model file or folder is, for `muse models` and for resolving `--model NAME`.

use crate::gguf::GgufFile;
use std::path::{Path, PathBuf};

/// A short description of an installed model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub architecture: String,
    pub format: String,
    pub quantization: String,
    pub size_bytes: u64,
    pub path: PathBuf,
}

/// Describe a GGUF file or a Hugging Face-style model folder (config.json + *.safetensors).
/// Returns `None` for anything that is neither.
pub fn describe(path: &Path) -> Option<ModelInfo> {
    let name = path.file_stem()?.to_string_lossy().into_owned();
    if path.is_dir() {
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.join("config.json")).ok()?).ok()?;
        let architecture = cfg
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str())
            .or_else(|| cfg.get("model_type").and_then(|m| m.as_str()))
            .unwrap_or("unknown")
            .to_string();
        let mut size = 0;
        let mut has_weights = false;
        for e in std::fs::read_dir(path).ok()?.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "safetensors") {
                has_weights = true;
            }
            size += e
                .metadata()
                .map(|m| if m.is_file() { m.len() } else { 0 })
                .unwrap_or(0);
        }
        if !has_weights {
            return None;
        }
        // transformers 5 writes `dtype`, earlier versions `torch_dtype`.
        let quantization = cfg
            .get("dtype")
            .or_else(|| cfg.get("torch_dtype"))
            .and_then(|d| d.as_str())
            .unwrap_or("float32")
            .to_string();
        return Some(ModelInfo {
            name: path.file_name()?.to_string_lossy().into_owned(),
            architecture,
            format: "safetensors".into(),
            quantization,
            size_bytes: size,
            path: path.to_path_buf(),
        });
    }
    if path.extension().is_some_and(|x| x == "gguf") {
        let g = GgufFile::open(path).ok()?;
        return Some(ModelInfo {
            name,
            architecture: g.architecture().unwrap_or("unknown").to_string(),
            format: format!("gguf v{}", g.version),
            quantization: g
                .dominant_type()
                .map(|t| t.name().to_string())
                .unwrap_or_default(),
            size_bytes: g.file_len() as u64,
            path: path.to_path_buf(),
        });
    }
    None
}

/// Every model directly inside `dir` (GGUF files and model folders), sorted by name.
pub fn list(dir: &Path) -> Vec<ModelInfo> {
    let mut out: Vec<ModelInfo> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| describe(&e.path()))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
