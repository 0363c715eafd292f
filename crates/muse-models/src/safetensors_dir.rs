//! Weights of a Hugging Face model folder: `model.safetensors`, or the sharded layout described by
//! `model.safetensors.index.json` (`{"weight_map": {tensor name: shard file}}`), memory-mapped and
//! handed to candle as a [`VarBuilder`].
//!
//! Format: <https://huggingface.co/docs/safetensors> (8-byte little-endian header length, a JSON
//! header of names, dtypes, shapes and byte ranges, then the data). Every file's header is parsed and
//! checked against the file length when it is opened, so a truncated or corrupt file is a
//! [`ModelError::Corrupt`] naming it, before any tensor is read.

use crate::ModelError;
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Single-file weights.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Index of sharded weights.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

#[derive(serde::Deserialize)]
struct Index {
    weight_map: BTreeMap<String, String>,
}

/// The memory-mapped weights of one model folder.
pub struct SafetensorsDir {
    files: Vec<PathBuf>,
    tensors: MmapedSafetensors,
    names: BTreeSet<String>,
}

impl SafetensorsDir {
    /// Open `dir/model.safetensors`, else the shards listed in `dir/model.safetensors.index.json`.
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let files = weight_files(dir)?;
        let mut names = BTreeSet::new();
        for f in &files {
            // Open each file on its own first so that a bad header names its file.
            // SAFETY: the map is read-only; like every memory-mapped model loader we assume the
            // file is not truncated or rewritten by another process while it is mapped.
            let st = unsafe { MmapedSafetensors::new(f) }.map_err(|e| ModelError::Corrupt {
                path: f.clone(),
                what: format!("bad safetensors header or data ({e})").replace('\n', "; "),
            })?;
            names.extend(st.tensors().into_iter().map(|(n, _)| n));
        }
        // SAFETY: as above; every file was just validated.
        let tensors =
            unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| ModelError::Corrupt {
                path: dir.to_path_buf(),
                what: e.to_string().replace('\n', "; "),
            })?;
        Ok(Self {
            files,
            tensors,
            names,
        })
    }

    /// The files the weights come from.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Whether a tensor of this exact name is stored.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// A `VarBuilder` over these weights that converts every tensor to `dtype` on `device`.
    pub fn into_var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.tensors), dtype, device.clone())
    }
}

/// The safetensors files of a model folder, validated to exist.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index_path = dir.join(INDEX_FILE);
    if !index_path.is_file() {
        return Err(ModelError::MissingFile {
            path: single,
            what: "the model weights (model.safetensors or model.safetensors.index.json)",
        });
    }
    let bytes = std::fs::read(&index_path).map_err(|source| ModelError::Io {
        path: index_path.clone(),
        source,
    })?;
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| ModelError::Corrupt {
        path: index_path.clone(),
        what: e.to_string(),
    })?;
    let shards: BTreeSet<&String> = index.weight_map.values().collect();
    if shards.is_empty() {
        return Err(ModelError::Corrupt {
            path: index_path,
            what: "`weight_map` lists no files".into(),
        });
    }
    let mut files = Vec::with_capacity(shards.len());
    for s in shards {
        // Shard names are plain file names inside the folder; refuse anything that climbs out.
        if Path::new(s).components().count() != 1 {
            return Err(ModelError::Corrupt {
                path: index_path,
                what: format!("shard name `{s}` is not a file name"),
            });
        }
        let p = dir.join(s);
        if !p.is_file() {
            return Err(ModelError::MissingFile {
                path: p,
                what: "a weight shard listed in model.safetensors.index.json",
            });
        }
        files.push(p);
    }
    Ok(files)
}

/// Check an HF `config.json`'s `architectures` and `model_type` against what a module implements;
/// the error lists the supported values.
pub(crate) fn check_hf_identity(
    architectures: Option<&[String]>,
    model_type: Option<&str>,
    supported: &[&str],
    expected_type: &str,
) -> Result<(), ModelError> {
    if let Some(bad) =
        architectures.and_then(|a| a.iter().find(|a| !supported.contains(&a.as_str())))
    {
        return Err(ModelError::UnsupportedArchitecture {
            arch: bad.clone(),
            supported: supported.join(", "),
        });
    }
    if let Some(t) = model_type
        && t != expected_type
    {
        return Err(ModelError::UnsupportedArchitecture {
            arch: format!("model_type {t}"),
            supported: format!("model_type {expected_type}"),
        });
    }
    Ok(())
}

/// `dir/config.json` parsed as JSON, with its path (for errors that name it).
pub fn read_config_json(dir: &Path) -> Result<(PathBuf, serde_json::Value), ModelError> {
    let path = dir.join("config.json");
    if !path.is_file() {
        return Err(ModelError::MissingFile {
            path,
            what: "the model config (config.json)",
        });
    }
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    let value = serde_json::from_slice(&bytes).map_err(|e| ModelError::Corrupt {
        path: path.clone(),
        what: format!("invalid JSON ({e})"),
    })?;
    Ok((path, value))
}
