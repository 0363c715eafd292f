//! Sinusoidal timestep embeddings and the timestep MLP, as diffusers'
//! `get_timestep_embedding` / `Timesteps` / `TimestepEmbedding`
//! (diffusers 0.42.1, src/diffusers/models/embeddings.py; DDPM, Ho et al. 2020, after the
//! Transformer's positional encoding).

use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

use crate::nn::{linear, silu};

/// `Timesteps`: [B] float timesteps -> [B, dim] sinusoidal features.
#[derive(Debug, Clone, Copy)]
pub struct Timesteps {
    /// Output width.
    pub dim: usize,
    /// Emit `[cos, sin]` instead of `[sin, cos]`.
    pub flip_sin_to_cos: bool,
    /// `downscale_freq_shift`: frequencies are `exp(-ln(10000) * i / (half - shift))`.
    pub freq_shift: f64,
}

impl Timesteps {
    /// Embeds `t` [B] (any float dtype; computed in f32).
    pub fn forward(&self, t: &Tensor) -> Result<Tensor> {
        let half = self.dim / 2;
        // Computed in f32 the way torch does (f32 arange times an f32-rounded constant), because
        // the arguments reach ~1000 and an f64 frequency table shifts sin/cos by ~1e-4.
        let c = -(10000f64.ln()) as f32;
        let denom = (half as f64 - self.freq_shift) as f32;
        let freqs: Vec<f32> = (0..half).map(|i| (c * i as f32 / denom).exp()).collect();
        let freqs = Tensor::from_vec(freqs, (1, half), t.device())?;
        let t = t.to_dtype(candle_core::DType::F32)?.unsqueeze(1)?;
        let args = t.broadcast_mul(&freqs)?;
        let (sin, cos) = (args.sin()?, args.cos()?);
        let emb = if self.flip_sin_to_cos {
            Tensor::cat(&[cos, sin], 1)?
        } else {
            Tensor::cat(&[sin, cos], 1)?
        };
        if self.dim % 2 == 1 {
            emb.pad_with_zeros(1, 0, 1)
        } else {
            Ok(emb)
        }
    }
}

/// `TimestepEmbedding`: `linear_1` -> SiLU -> `linear_2`.
#[derive(Debug, Clone)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepEmbedding {
    /// Loads `linear_1` [in -> dim] and `linear_2` [dim -> dim].
    pub fn new(in_dim: usize, dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear_1: linear(in_dim, dim, true, vb.pp("linear_1"))?,
            linear_2: linear(dim, dim, true, vb.pp("linear_2"))?,
        })
    }

    /// `x` [B, in] -> [B, dim].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.linear_2.forward(&silu(&self.linear_1.forward(x)?)?)
    }
}
