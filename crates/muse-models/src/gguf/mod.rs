//! The GGUF container, version 2 and 3 (llama.cpp `docs/gguf.md` / ggml `gguf.cpp`).
//!
//! Layout: magic `GGUF`, version (u32), tensor count and metadata count (u64), the metadata
//! key/value pairs, the tensor descriptors (name, dims with the fastest-varying first, ggml type,
//! offset), then — aligned to `general.alignment` (default 32) — the tensor data.
//!
//! The file is memory-mapped; tensors are borrowed slices of the map and never copied or
//! dequantized as a whole. Every length and offset read from the file is checked against the file
//! size before use, so a truncated or hostile file gives [`ModelError::Corrupt`], not a panic or a
//! giant allocation.

mod reader;
mod value;

pub use value::Value;

use crate::error::ModelError;
use memmap2::Mmap;
use muse_kernels::{GgmlType, QWeight};
use reader::Reader;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// One tensor's descriptor.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions, fastest-varying first (`dims[0]` is the row length).
    pub dims: Vec<usize>,
    pub ty: GgmlType,
    /// Absolute byte range in the file.
    pub start: usize,
    pub len: usize,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }
    /// Row length (`dims[0]`) and number of rows (product of the other dims).
    pub fn rows_cols(&self) -> (usize, usize) {
        let cols = self.dims.first().copied().unwrap_or(1);
        (self.dims.iter().skip(1).product(), cols)
    }
}

/// An opened GGUF file.
pub struct GgufFile {
    path: PathBuf,
    mmap: Mmap,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    by_name: BTreeMap<String, usize>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Open and validate `path`: header, metadata, tensor descriptors and that every tensor's data
    /// lies inside the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| ModelError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(ModelError::Io {
                path: path.clone(),
                source: std::io::Error::other("is a directory"),
            });
        }
        // SAFETY: the map is read-only; like every mmap-based loader we rely on the file not being
        // truncated by another process while it is open.
        let mmap = unsafe { Mmap::map(&file) }.map_err(io)?;
        Self::parse(path, mmap)
    }

    fn parse(path: PathBuf, mmap: Mmap) -> Result<Self, ModelError> {
        let mut r = Reader::new(&mmap, &path);
        let magic = r
            .bytes(4)
            .map(|b| [b[0], b[1], b[2], b[3]])
            .unwrap_or([0; 4]);
        if &magic != b"GGUF" {
            return Err(ModelError::NotGguf { path, magic });
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(ModelError::UnsupportedVersion { path, version });
        }
        let n_tensors = r.count("tensor count")?;
        let n_kv = r.count("metadata count")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string()?;
            let value = r.value()?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(r.corrupt(format!("metadata key `{key}` appears twice")));
            }
        }
        let mut raw = Vec::with_capacity(n_tensors.min(1 << 16));
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()? as usize;
            if n_dims > 4 {
                return Err(r.corrupt(format!(
                    "tensor `{name}` has {n_dims} dimensions (at most 4)"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims);
            for _ in 0..n_dims {
                let d = r.u64()?;
                let d = usize::try_from(d)
                    .map_err(|_| r.corrupt(format!("tensor `{name}` dimension {d} overflows")))?;
                dims.push(d);
            }
            let type_id = r.u32()?;
            let offset = r.u64()?;
            raw.push((name, dims, type_id, offset));
        }
        let alignment =
            match metadata.get("general.alignment") {
                Some(v) => v.as_u64().filter(|a| a.is_power_of_two()).ok_or_else(|| {
                    ModelError::Corrupt {
                        path: path.clone(),
                        what: "general.alignment is not a power of two".into(),
                    }
                })? as usize,
                None => 32,
            };
        let data_start = r.pos().div_ceil(alignment) * alignment;
        let file_len = mmap.len();
        let mut tensors = Vec::with_capacity(raw.len());
        let mut by_name = BTreeMap::new();
        for (name, dims, type_id, offset) in raw {
            let ty = GgmlType::from_id(type_id).map_err(|source| ModelError::Tensor {
                name: name.clone(),
                source,
            })?;
            let elements = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let cols = dims.first().copied().unwrap_or(1);
            let len = elements
                .and_then(|e| {
                    ty.row_bytes(cols)
                        .ok()
                        .map(|rb| (e / cols.max(1)).checked_mul(rb))
                })
                .flatten()
                .ok_or_else(|| ModelError::Corrupt {
                    path: path.clone(),
                    what: format!("tensor `{name}` of {ty} has impossible dims {dims:?}"),
                })?;
            let start = usize::try_from(offset)
                .ok()
                .and_then(|o| o.checked_add(data_start));
            let end = start.and_then(|s| s.checked_add(len));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(ModelError::Corrupt {
                    path,
                    what: format!("tensor `{name}` offset overflows"),
                });
            };
            if end > file_len {
                return Err(ModelError::Corrupt {
                    path,
                    what: format!(
                        "tensor `{name}` needs bytes {start}..{end} but the file has {file_len}"
                    ),
                });
            }
            if start % alignment != 0 {
                return Err(ModelError::Corrupt {
                    path,
                    what: format!("tensor `{name}` is not aligned to {alignment} bytes"),
                });
            }
            if by_name.insert(name.clone(), tensors.len()).is_some() {
                return Err(ModelError::Corrupt {
                    path,
                    what: format!("tensor `{name}` appears twice"),
                });
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                start,
                len,
            });
        }
        Ok(Self {
            path,
            mmap,
            version,
            metadata,
            tensors,
            by_name,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The whole mapped file.
    pub(crate) fn mapped(&self) -> &[u8] {
        &self.mmap
    }

    /// The raw bytes of a tensor.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        // Ranges were checked against the file length in `parse`.
        self.mmap
            .get(info.start..info.start + info.len)
            .unwrap_or(&[])
    }

    /// A tensor as a matrix of `rows × cols` (any number of dims collapse into rows).
    pub fn matrix(&self, name: &str) -> Result<QWeight<'_>, ModelError> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
        let (rows, cols) = info.rows_cols();
        QWeight::new(info.ty, self.tensor_bytes(info), rows, cols).map_err(|source| {
            ModelError::Tensor {
                name: name.into(),
                source,
            }
        })
    }

    /// A whole tensor dequantized to f32 (for small tensors such as norms).
    pub fn f32_vec(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
        let mut out = vec![0.0; info.elements()];
        muse_kernels::dequant::dequantize_row(info.ty, self.tensor_bytes(info), &mut out).map_err(
            |source| ModelError::Tensor {
                name: name.into(),
                source,
            },
        )?;
        Ok(out)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn get_u64(&self, key: &str) -> Result<u64, ModelError> {
        let v = self
            .get(key)
            .ok_or_else(|| ModelError::MissingKey { key: key.into() })?;
        v.as_u64().ok_or_else(|| ModelError::WrongKeyType {
            key: key.into(),
            expected: "an integer",
        })
    }

    pub fn get_f64(&self, key: &str) -> Result<f64, ModelError> {
        let v = self
            .get(key)
            .ok_or_else(|| ModelError::MissingKey { key: key.into() })?;
        v.as_f64().ok_or_else(|| ModelError::WrongKeyType {
            key: key.into(),
            expected: "a number",
        })
    }

    pub fn get_str(&self, key: &str) -> Result<&str, ModelError> {
        let v = self
            .get(key)
            .ok_or_else(|| ModelError::MissingKey { key: key.into() })?;
        v.as_str().ok_or_else(|| ModelError::WrongKeyType {
            key: key.into(),
            expected: "a string",
        })
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, ModelError> {
        self.get_str("general.architecture")
    }

    /// Total size of the file in bytes.
    pub fn file_len(&self) -> usize {
        self.mmap.len()
    }

    /// The most common quantization among 2-D tensors (e.g. "Q4_1"), for listings.
    pub fn dominant_type(&self) -> Option<GgmlType> {
        let mut counts: BTreeMap<u32, (usize, GgmlType)> = BTreeMap::new();
        for t in self.tensors.iter().filter(|t| t.dims.len() >= 2) {
            counts.entry(t.ty.id()).or_insert((0, t.ty)).0 += t.len;
        }
        counts.values().max_by_key(|(n, _)| *n).map(|(_, t)| *t)
    }
}
