//! Safetensors weights read as raw bytes, for the models that compute with Muse's own kernels
//! (the Llama family) rather than through candle: each file is memory-mapped, its header parsed
//! and checked against the file length, and a tensor is a byte range plus a dtype and shape.
//!
//! Format: <https://huggingface.co/docs/safetensors>.

use crate::error::ModelError;
use crate::safetensors_dir::weight_files;
use memmap2::Mmap;
use muse_kernels::GgmlType;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Where one tensor lies.
#[derive(Debug, Clone)]
pub struct RawTensor {
    /// Index into [`RawSafetensors::files`].
    pub file: usize,
    /// Absolute byte range in that file.
    pub start: usize,
    pub len: usize,
    pub ty: GgmlType,
    /// Row-major shape, slowest dimension first (PyTorch order).
    pub shape: Vec<usize>,
}

/// The memory-mapped safetensors files of one model folder.
pub struct RawSafetensors {
    files: Vec<PathBuf>,
    maps: Vec<Mmap>,
    tensors: HashMap<String, RawTensor>,
}

fn ggml_type(d: Dtype) -> Option<GgmlType> {
    match d {
        Dtype::F32 => Some(GgmlType::F32),
        Dtype::F16 => Some(GgmlType::F16),
        Dtype::BF16 => Some(GgmlType::BF16),
        _ => None,
    }
}

impl RawSafetensors {
    /// Open `dir/model.safetensors` or the shards of `dir/model.safetensors.index.json`.
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let files = weight_files(dir)?;
        let mut maps = Vec::with_capacity(files.len());
        let mut tensors = HashMap::new();
        for (fi, path) in files.iter().enumerate() {
            let file = File::open(path).map_err(|source| ModelError::Io {
                path: path.clone(),
                source,
            })?;
            // SAFETY: read-only map; like every memory-mapped loader we assume the file is not
            // truncated or rewritten by another process while mapped.
            let map = unsafe { Mmap::map(&file) }.map_err(|source| ModelError::Io {
                path: path.clone(),
                source,
            })?;
            let corrupt = |what: String| ModelError::Corrupt {
                path: path.clone(),
                what,
            };
            let (header, meta) = SafeTensors::read_metadata(&map)
                .map_err(|e| corrupt(format!("bad safetensors header ({e})")))?;
            let data_start = 8 + header;
            for (name, info) in meta.tensors() {
                let (a, b) = info.data_offsets;
                let (start, end) = (data_start + a, data_start + b);
                if a > b || end > map.len() {
                    return Err(corrupt(format!("tensor `{name}` lies outside the file")));
                }
                let ty = ggml_type(info.dtype).ok_or_else(|| {
                    corrupt(format!(
                        "tensor `{name}` has dtype {:?} (supported: F32, F16, BF16)",
                        info.dtype
                    ))
                })?;
                let elements: usize = info.shape.iter().product();
                if ty.row_bytes(elements).ok() != Some(b - a) {
                    return Err(corrupt(format!(
                        "tensor `{name}` of shape {:?} has {} bytes",
                        info.shape,
                        b - a
                    )));
                }
                tensors.insert(
                    name,
                    RawTensor {
                        file: fi,
                        start,
                        len: end - start,
                        ty,
                        shape: info.shape.clone(),
                    },
                );
            }
            maps.push(map);
        }
        Ok(Self {
            files,
            maps,
            tensors,
        })
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn get(&self, name: &str) -> Option<&RawTensor> {
        self.tensors.get(name)
    }

    /// The bytes of `t` (a tensor of this set).
    pub fn bytes(&self, t: &RawTensor) -> &[u8] {
        self.file_bytes(t.file)
            .get(t.start..t.start + t.len)
            .unwrap_or(&[])
    }

    /// The whole mapped file `i`.
    pub(crate) fn file_bytes(&self, i: usize) -> &[u8] {
        self.maps.get(i).map_or(&[], |m| &m[..])
    }
}
