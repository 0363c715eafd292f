//! The Jigsaw toxicity network of `toxic-comment-classifier==0.3.0`
//! (`toxic_classifier/model.py`), in plain f32 loops:
//!
//! `Embedding(20000, 50)` → `Bidirectional(LSTM(50, return_sequences=True))` (concat) →
//! `GlobalMaxPooling1D` → `Dense(50, relu)` → `Dense(6, sigmoid)`; dropout is inactive at
//! inference. The LSTM follows Keras 3 (`keras/src/layers/rnn/lstm.py`, `LSTMCell.call`):
//! `z = x·W + h·U + b` with the gates laid out `i, f, c, o` along the 200 columns,
//! recurrent activation sigmoid, activation tanh, `c = f·c + i·tanh(z_c)`, `h = o·tanh(c)`.
//! The backward direction reads the sequence reversed; its outputs are re-aligned in time,
//! which the max-pool over time makes immaterial. Padding id 0 has a real embedding row and
//! no mask (`mask_zero=False`), so — as in Keras — the pre-padding *is* run through the LSTM.

use std::path::Path;

use crate::SafetyError;
use crate::weights::TensorFile;

/// Embedding rows (`VOCAB_SIZE`).
const VOCAB: usize = 20_000;
/// Embedding width.
const EMBED: usize = 50;
/// LSTM units per direction.
const UNITS: usize = 50;
/// Width of the first dense layer.
const HIDDEN: usize = 50;
/// Number of labels.
pub const NUM_LABELS: usize = 6;

/// One LSTM direction: Keras' `kernel` [50, 200], `recurrent_kernel` [50, 200], `bias` [200].
struct Lstm {
    kernel: Vec<f32>,
    recurrent_kernel: Vec<f32>,
    bias: Vec<f32>,
}

/// A dense layer with Keras' `[in, out]` kernel.
struct Dense {
    kernel: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Dense {
    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = self.bias.clone();
        for (k, &xk) in x.iter().enumerate().take(self.inputs) {
            let row = &self.kernel[k * self.outputs..(k + 1) * self.outputs];
            for (yj, &w) in y.iter_mut().zip(row) {
                *yj += xk * w;
            }
        }
        y
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Lstm {
    /// Runs the cell over `xs` (each `EMBED` wide) in the given order and returns the hidden
    /// state after every step, in that order.
    fn run<'a>(&self, xs: impl Iterator<Item = &'a [f32]>) -> Vec<[f32; UNITS]> {
        let mut h = [0.0f32; UNITS];
        let mut c = [0.0f32; UNITS];
        let mut out = Vec::new();
        let mut z = [0.0f32; 4 * UNITS];
        for x in xs {
            z.copy_from_slice(&self.bias);
            for (k, &xk) in x.iter().enumerate() {
                let row = &self.kernel[k * 4 * UNITS..(k + 1) * 4 * UNITS];
                for (zj, &w) in z.iter_mut().zip(row) {
                    *zj += xk * w;
                }
            }
            for (k, &hk) in h.iter().enumerate() {
                let row = &self.recurrent_kernel[k * 4 * UNITS..(k + 1) * 4 * UNITS];
                for (zj, &w) in z.iter_mut().zip(row) {
                    *zj += hk * w;
                }
            }
            for j in 0..UNITS {
                let i = sigmoid(z[j]);
                let f = sigmoid(z[UNITS + j]);
                let g = z[2 * UNITS + j].tanh();
                let o = sigmoid(z[3 * UNITS + j]);
                c[j] = f * c[j] + i * g;
                h[j] = o * c[j].tanh();
            }
            out.push(h);
        }
        out
    }
}

/// The classifier's weights; [`ToxicityModel::forward`] maps padded word ids to six
/// probabilities.
pub struct ToxicityModel {
    embeddings: Vec<f32>,
    forward_lstm: Lstm,
    backward_lstm: Lstm,
    dense: Dense,
    dense_1: Dense,
}

impl ToxicityModel {
    /// Loads `model.safetensors` as the converter writes it (tensor names and shapes in
    /// `scripts/convert/toxicity_to_safetensors.py`).
    ///
    /// # Errors
    /// [`SafetyError::Io`] if the file cannot be read; [`SafetyError::Model`] naming the
    /// file for a truncated or corrupt file, a missing tensor, a wrong shape or dtype, or a
    /// non-finite weight.
    pub fn from_file(path: &Path) -> Result<Self, SafetyError> {
        let file = TensorFile::read(path)?;
        let t = file.tensors()?;
        let lstm = |prefix: &str| -> Result<Lstm, SafetyError> {
            Ok(Lstm {
                kernel: t.f32(&format!("{prefix}.kernel"), &[EMBED, 4 * UNITS])?,
                recurrent_kernel: t
                    .f32(&format!("{prefix}.recurrent_kernel"), &[UNITS, 4 * UNITS])?,
                bias: t.f32(&format!("{prefix}.bias"), &[4 * UNITS])?,
            })
        };
        let dense = |prefix: &str, inputs: usize, outputs: usize| -> Result<Dense, SafetyError> {
            Ok(Dense {
                kernel: t.f32(&format!("{prefix}.kernel"), &[inputs, outputs])?,
                bias: t.f32(&format!("{prefix}.bias"), &[outputs])?,
                inputs,
                outputs,
            })
        };
        Ok(Self {
            embeddings: t.f32("embedding.embeddings", &[VOCAB, EMBED])?,
            forward_lstm: lstm("lstm_forward")?,
            backward_lstm: lstm("lstm_backward")?,
            dense: dense("dense", 2 * UNITS, HIDDEN)?,
            dense_1: dense("dense_1", HIDDEN, NUM_LABELS)?,
        })
    }

    /// Number of embedding rows: word ids must be below this.
    #[must_use]
    pub fn vocab_size(&self) -> usize {
        VOCAB
    }

    /// The six sigmoid outputs for one padded sequence (ids from
    /// [`KerasTokenizer::pad`](super::KerasTokenizer::pad)).
    ///
    /// # Errors
    /// [`SafetyError::InvalidInput`] for an empty sequence or an id outside the embedding.
    pub fn forward(&self, ids: &[u32]) -> Result<[f32; NUM_LABELS], SafetyError> {
        if ids.is_empty() {
            return Err(SafetyError::InvalidInput("empty token sequence".to_owned()));
        }
        let mut xs: Vec<&[f32]> = Vec::with_capacity(ids.len());
        for &id in ids {
            let i = id as usize;
            let row = self
                .embeddings
                .get(i * EMBED..(i + 1) * EMBED)
                .ok_or_else(|| {
                    SafetyError::InvalidInput(format!(
                        "token id {id} is outside the vocabulary of {VOCAB}"
                    ))
                })?;
            xs.push(row);
        }
        let fwd = self.forward_lstm.run(xs.iter().copied());
        let bwd = self.backward_lstm.run(xs.iter().rev().copied());
        // GlobalMaxPooling1D over time of concat(forward, backward).
        let mut pooled = [f32::NEG_INFINITY; 2 * UNITS];
        for h in &fwd {
            for (p, &v) in pooled[..UNITS].iter_mut().zip(h) {
                *p = p.max(v);
            }
        }
        for h in &bwd {
            for (p, &v) in pooled[UNITS..].iter_mut().zip(h) {
                *p = p.max(v);
            }
        }
        let mut hidden = self.dense.forward(&pooled);
        for v in &mut hidden {
            *v = v.max(0.0);
        }
        let logits = self.dense_1.forward(&hidden);
        let mut out = [0.0f32; NUM_LABELS];
        for (o, &l) in out.iter_mut().zip(&logits) {
            *o = sigmoid(l);
        }
        Ok(out)
    }
}
