//! Reading diffusers model folders: `config.json` + `diffusion_pytorch_model.safetensors`.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{DiffusionError, Result, read_json};
use crate::resnet::TimeScaleShift;

/// A config value given once for all blocks or once per block (diffusers accepts both).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PerBlock<T> {
    /// The same value for every block.
    One(T),
    /// One value per block.
    Many(Vec<T>),
}

impl<T: Copy> PerBlock<T> {
    /// The value of block `i` (callers check lengths first with [`Self::check_len`]).
    pub fn get(&self, i: usize) -> T {
        match self {
            Self::One(v) => *v,
            Self::Many(v) => v[i.min(v.len().saturating_sub(1))],
        }
    }

    /// Errors unless a per-block list has exactly `n` entries.
    pub fn check_len(&self, what: &str, n: usize) -> Result<()> {
        match self {
            Self::Many(v) if v.len() != n => Err(DiffusionError::config(format!(
                "{what} has {} entries for {n} blocks",
                v.len()
            ))),
            _ => Ok(()),
        }
    }
}

/// `resnet_time_scale_shift` -> [`TimeScaleShift`].
pub fn resolve_time_scale_shift(s: &str) -> Result<TimeScaleShift> {
    match s {
        "default" => Ok(TimeScaleShift::Default),
        "scale_shift" => Ok(TimeScaleShift::ScaleShift),
        other => Err(DiffusionError::Unsupported {
            what: "resnet_time_scale_shift",
            found: other.into(),
            supported: vec!["default", "scale_shift"],
        }),
    }
}

/// Weight file names tried in order inside a model folder.
pub const WEIGHT_FILES: [&str; 2] = [
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
];

fn require(path: PathBuf, what: &str) -> Result<PathBuf> {
    if path.exists() {
        Ok(path)
    } else {
        Err(DiffusionError::Missing {
            what: what.into(),
            path,
        })
    }
}

/// Parses `dir/config.json` and maps the folder's safetensors weights.
pub fn load_model_folder<C: DeserializeOwned>(
    dir: &Path,
    dtype: DType,
    device: &Device,
) -> Result<(C, VarBuilder<'static>)> {
    let cfg = read_model_config(dir)?;
    Ok((cfg, model_weights(dir, dtype, device)?))
}

/// Parses `dir/config.json` (so a config can be validated before the weights are looked for).
pub fn read_model_config<C: DeserializeOwned>(dir: &Path) -> Result<C> {
    let dir = require(dir.to_path_buf(), "model folder")?;
    read_json(&require(dir.join("config.json"), "model config")?)
}

/// Maps the safetensors weights of a diffusers model folder.
pub fn model_weights(dir: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let weights = WEIGHT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .ok_or_else(|| DiffusionError::Missing {
            what: format!("weights ({})", WEIGHT_FILES.join(" or ")),
            path: dir.join(WEIGHT_FILES[0]),
        })?;
    // SAFETY: the file is mapped read-only; like every mmap user we assume nobody truncates it
    // while the model is alive (candle's documented contract for this constructor).
    Ok(unsafe { VarBuilder::from_mmaped_safetensors(&[weights], dtype, device)? })
}
