//! A small convolutional classifier for 28×28 grayscale images — the *judge* of Muse's
//! text-to-image model: it is trained on the real training set, and the share of generated
//! images it assigns to the class that was asked for is the model's conditional accuracy;
//! its penultimate features feed the Fréchet distance.
//!
//! Architecture (LeCun et al. 1998 in spirit): conv 3×3 (1→32) · ReLU · max-pool 2 ·
//! conv 3×3 (32→64) · ReLU · max-pool 2 · dense 3136→128 · ReLU (the features) · dense 128→C.

use std::path::Path;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::data::ImageSet;
use crate::optim::{AdamW, AdamWConfig};
use crate::{Result, TrainError};
use muse_models::conv_op::conv2d;

/// Width of the feature vector used for the Fréchet distance.
pub const FEATURE_DIM: usize = 128;
const SIDE: usize = 28;

/// The classifier's weights and class names.
pub struct Classifier {
    conv1_w: Tensor,
    conv1_b: Tensor,
    conv2_w: Tensor,
    conv2_b: Tensor,
    fc1: Linear,
    fc2: Linear,
    pub classes: Vec<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ClassifierConfig {
    classes: Vec<String>,
    width: usize,
    height: usize,
    test_accuracy: Option<f64>,
}

impl Classifier {
    fn new(vb: &VarBuilder, classes: Vec<String>) -> Result<Self> {
        let kaiming = candle_nn::init::DEFAULT_KAIMING_NORMAL;
        let zero = candle_nn::Init::Const(0.0);
        Ok(Self {
            conv1_w: vb.get_with_hints((32, 1, 3, 3), "conv1.weight", kaiming)?,
            conv1_b: vb.get_with_hints(32, "conv1.bias", zero)?,
            conv2_w: vb.get_with_hints((64, 32, 3, 3), "conv2.weight", kaiming)?,
            conv2_b: vb.get_with_hints(64, "conv2.bias", zero)?,
            fc1: candle_nn::linear(64 * 7 * 7, FEATURE_DIM, vb.pp("fc1"))?,
            fc2: candle_nn::linear(FEATURE_DIM, classes.len(), vb.pp("fc2"))?,
            classes,
        })
    }

    /// Penultimate features `[B, 128]` of images `[B, 1, 28, 28]` in `[-1, 1]`.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let conv = |x: &Tensor, w: &Tensor, b: &Tensor| -> candle_core::Result<Tensor> {
            conv2d(x, w, 1, 1)?.broadcast_add(&b.reshape((1, (), 1, 1))?)
        };
        let x = conv(x, &self.conv1_w, &self.conv1_b)?
            .relu()?
            .max_pool2d(2)?;
        let x = conv(&x, &self.conv2_w, &self.conv2_b)?
            .relu()?
            .max_pool2d(2)?;
        Ok(self.fc1.forward(&x.flatten_from(1)?)?.relu()?)
    }

    /// Class logits `[B, C]`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.fc2.forward(&self.features(x)?)?)
    }

    /// Predicted classes and features of `images` (`[n, 1, 28, 28]` values in `[-1, 1]`).
    pub fn predict(&self, images: &[f32], n: usize) -> Result<(Vec<usize>, Vec<f32>)> {
        let mut labels = Vec::with_capacity(n);
        let mut feats = Vec::with_capacity(n * FEATURE_DIM);
        let per = SIDE * SIDE;
        for start in (0..n).step_by(500) {
            let b = 500.min(n - start);
            let x = Tensor::from_slice(
                &images[start * per..(start + b) * per],
                (b, 1, SIDE, SIDE),
                &Device::Cpu,
            )?;
            let f = self.features(&x)?;
            let logits = self.fc2.forward(&f)?;
            labels.extend(
                logits
                    .argmax(D::Minus1)?
                    .to_vec1::<u32>()?
                    .into_iter()
                    .map(|l| l as usize),
            );
            feats.extend(f.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok((labels, feats))
    }

    /// Accuracy and features on a labelled set.
    pub fn evaluate(&self, set: &ImageSet) -> Result<(f64, Vec<f32>)> {
        let all: Vec<usize> = (0..set.len()).collect();
        let (pred, feats) = self.predict(&set.batch_signed(&all), set.len())?;
        let right = pred.iter().zip(&set.labels).filter(|(p, l)| p == l).count();
        Ok((right as f64 / set.len().max(1) as f64, feats))
    }

    /// Loads a classifier written by [`train`].
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg_path = dir.join("classifier.json");
        let text = std::fs::read(&cfg_path).map_err(|e| TrainError::io(&cfg_path, e))?;
        let cfg: ClassifierConfig = serde_json::from_slice(&text)
            .map_err(|e| TrainError::malformed(&cfg_path, e.to_string()))?;
        let weights = dir.join("classifier.safetensors");
        // SAFETY: the file is memory-mapped read-only; Muse never writes it while loaded.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu)? };
        Self::new(&vb, cfg.classes)
    }
}

/// Options of [`train`].
#[derive(Debug, Clone)]
pub struct ClassifierTraining {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for ClassifierTraining {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch: 128,
            lr: 2e-3,
            seed: 0,
        }
    }
}

/// Trains a classifier on `train`, reports progress as `(step, total, loss)`, writes it to
/// `out` (with `test_accuracy` measured on `test`) and returns it with that accuracy.
pub fn train(
    train: &ImageSet,
    test: &ImageSet,
    opts: &ClassifierTraining,
    out: &Path,
    mut progress: impl FnMut(usize, usize, f32),
) -> Result<(Classifier, f64)> {
    if train.width != SIDE || train.height != SIDE {
        return Err(TrainError::InvalidParameter {
            name: "--data",
            reason: format!(
                "the classifier takes 28x28 images, these are {}x{}",
                train.width, train.height
            ),
        });
    }
    if opts.batch == 0 || opts.epochs == 0 {
        return Err(TrainError::InvalidParameter {
            name: "--batch/--epochs",
            reason: "must be at least 1".into(),
        });
    }
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Classifier::new(&vb, train.classes.clone())?;
    let params = crate::optim::named_vars(&varmap)?;
    let mut opt = AdamW::new(
        params,
        AdamWConfig {
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let per_epoch = train.len().div_ceil(opts.batch);
    let total = per_epoch * opts.epochs;
    let mut step = 0;
    for _ in 0..opts.epochs {
        order.shuffle(&mut rng);
        for idx in order.chunks(opts.batch) {
            let x = Tensor::from_vec(
                train.batch_signed(idx),
                (idx.len(), 1, SIDE, SIDE),
                &Device::Cpu,
            )?;
            let y: Vec<u32> = idx.iter().map(|&i| train.labels[i] as u32).collect();
            let y = Tensor::new(y.as_slice(), &Device::Cpu)?;
            let loss = candle_nn::loss::cross_entropy(&model.logits(&x)?, &y)?;
            let lr = crate::optim::learning_rate(step, opts.lr, 100, total, 0.05);
            opt.step(&loss.backward()?, lr, Some(5.0))?;
            step += 1;
            progress(step, total, loss.to_scalar::<f32>()?);
        }
    }
    let (accuracy, _) = model.evaluate(test)?;
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    varmap.save(out.join("classifier.safetensors"))?;
    let cfg = ClassifierConfig {
        classes: train.classes.clone(),
        width: SIDE,
        height: SIDE,
        test_accuracy: Some(accuracy),
    };
    let json = serde_json::to_string_pretty(&cfg)
        .map_err(|e| TrainError::malformed(out, e.to_string()))?;
    let cfg_path = out.join("classifier.json");
    std::fs::write(&cfg_path, json).map_err(|e| TrainError::io(&cfg_path, e))?;
    Ok((model, accuracy))
}
