//! Reading named F32 tensors out of a safetensors file, with errors that name the file, the
//! tensor and what is wrong — a truncated or corrupt model is reported, never guessed around.

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::SafetyError;

/// The bytes of a safetensors file and its path (for error messages).
pub(crate) struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    /// Reads the whole file (the models here are a few MB).
    pub(crate) fn read(path: &Path) -> Result<Self, SafetyError> {
        let bytes = std::fs::read(path).map_err(|source| SafetyError::Io {
            what: "model file",
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            bytes,
        })
    }

    /// Parses the header; the error names the file.
    pub(crate) fn tensors(&self) -> Result<Tensors<'_>, SafetyError> {
        let st = SafeTensors::deserialize(&self.bytes).map_err(|e| {
            SafetyError::model(&self.path, format!("not a valid safetensors file: {e}"))
        })?;
        Ok(Tensors {
            path: &self.path,
            st,
        })
    }
}

/// A parsed safetensors file.
pub(crate) struct Tensors<'a> {
    path: &'a Path,
    st: SafeTensors<'a>,
}

impl Tensors<'_> {
    /// The F32 tensor `name`, which must have exactly `shape`, as a row-major `Vec<f32>`.
    pub(crate) fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, SafetyError> {
        let t = self
            .st
            .tensor(name)
            .map_err(|e| SafetyError::model(self.path, format!("tensor `{name}`: {e}")))?;
        if t.dtype() != Dtype::F32 {
            return Err(SafetyError::model(
                self.path,
                format!("tensor `{name}` is {:?}, expected F32", t.dtype()),
            ));
        }
        if t.shape() != shape {
            return Err(SafetyError::model(
                self.path,
                format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?}",
                    t.shape()
                ),
            ));
        }
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(SafetyError::model(
                self.path,
                format!("tensor `{name}` holds a non-finite value at index {i}"),
            ));
        }
        Ok(values)
    }
}
