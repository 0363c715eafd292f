//! Euler ancestral sampling in σ-space (Karras et al. 2022, "Elucidating the Design Space of
//! Diffusion-Based Generative Models", algorithm 2 with ancestral noise as in k-diffusion),
//! following diffusers 0.42.1 `EulerAncestralDiscreteScheduler`
//! (src/diffusers/schedulers/scheduling_euler_ancestral_discrete.py).

use candle_core::Tensor;

use super::config::{Common, arange_down, linspace, round_half_even};
use super::{
    NoiseSource, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing, check_steps,
    index_of, lin2,
};
use crate::error::{DiffusionError, Result};

/// The Euler ancestral scheduler.
#[derive(Debug, Clone)]
pub struct EulerAncestralScheduler {
    common: Common,
    /// σ of every training timestep, σ_t = √((1−ᾱ_t)/ᾱ_t) (f32 values, as diffusers).
    train_sigmas: Vec<f64>,
    timesteps: Vec<f64>,
    /// σ at each inference timestep, then 0.
    sigmas: Vec<f64>,
}

fn f32r(x: f64) -> f64 {
    x as f32 as f64
}

/// `np.interp(x, arange(len(ys)), ys)`.
pub(crate) fn interp(x: f64, ys: &[f64]) -> f64 {
    if x <= 0.0 {
        return ys[0];
    }
    let last = ys.len() - 1;
    if x >= last as f64 {
        return ys[last];
    }
    let i = x.floor() as usize;
    let w = x - i as f64;
    ys[i] + (ys[i + 1] - ys[i]) * w
}

impl EulerAncestralScheduler {
    /// From a `scheduler_config.json` (default spacing `linspace`).
    pub fn new(cfg: &SchedulerConfig) -> Result<Self> {
        let common = Common::new(cfg, TimestepSpacing::Linspace)?;
        if common.prediction_type == PredictionType::Sample {
            return Err(DiffusionError::Unsupported {
                what: "prediction_type for euler-a",
                found: "sample".into(),
                supported: vec!["epsilon", "v_prediction"],
            });
        }
        let train_sigmas = common
            .alphas_cumprod
            .iter()
            .map(|&a| f32r(f32r(f32r(1.0 - a) / a).sqrt()))
            .collect();
        let mut s = Self {
            common,
            train_sigmas,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
        };
        let n = s.common.num_train_timesteps;
        s.set_timesteps(n)?;
        Ok(s)
    }

    fn sigma_index(&self, timestep: f64) -> Result<usize> {
        index_of(&self.timesteps, timestep)
    }
}

impl Scheduler for EulerAncestralScheduler {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let train = self.common.num_train_timesteps;
        check_steps(n, train)?;
        let ts: Vec<f64> = match self.common.spacing {
            TimestepSpacing::Linspace => linspace(0.0, (train - 1) as f64, n)
                .into_iter()
                .rev()
                .map(f32r)
                .collect(),
            TimestepSpacing::Leading => {
                let ratio = train / n;
                (0..n)
                    .rev()
                    .map(|i| (i * ratio + self.common.steps_offset) as f64)
                    .collect()
            }
            TimestepSpacing::Trailing => arange_down(train as f64, train as f64 / n as f64)
                .into_iter()
                .map(|v| round_half_even(v) - 1.0)
                .collect(),
        };
        let mut sigmas: Vec<f64> = ts
            .iter()
            .map(|&t| f32r(interp(t, &self.train_sigmas)))
            .collect();
        sigmas.push(0.0);
        self.timesteps = ts;
        self.sigmas = sigmas;
        Ok(())
    }

    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    fn init_noise_sigma(&self) -> f64 {
        let max = self.sigmas.iter().copied().fold(0.0, f64::max);
        match self.common.spacing {
            TimestepSpacing::Linspace | TimestepSpacing::Trailing => max,
            TimestepSpacing::Leading => (max * max + 1.0).sqrt(),
        }
    }

    fn scale_model_input(&self, sample: &Tensor, timestep: f64) -> Result<Tensor> {
        let sigma = self.sigmas[self.sigma_index(timestep)?];
        Ok((sample / (sigma * sigma + 1.0).sqrt())?)
    }

    fn step(
        &mut self,
        model_output: &Tensor,
        timestep: f64,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<Tensor> {
        let i = self.sigma_index(timestep)?;
        let (sigma, sigma_to) = (self.sigmas[i], self.sigmas[i + 1]);
        let x0 = match self.common.prediction_type {
            PredictionType::VPrediction => lin2(
                model_output,
                -sigma / (sigma * sigma + 1.0).sqrt(),
                sample,
                1.0 / (sigma * sigma + 1.0),
            )?,
            _ => lin2(sample, 1.0, model_output, -sigma)?,
        };
        let sigma_up =
            (sigma_to * sigma_to * (sigma * sigma - sigma_to * sigma_to) / (sigma * sigma)).sqrt();
        let sigma_down = (sigma_to * sigma_to - sigma_up * sigma_up).max(0.0).sqrt();
        // d = (x − x̂_0)/σ; x ← x + d (σ_down − σ).
        let derivative = ((sample - &x0)? / sigma)?;
        let prev = lin2(sample, 1.0, &derivative, sigma_down - sigma)?;
        let z = noise.randn(model_output.dims())?;
        Ok((prev + (z * sigma_up)?)?)
    }

    /// x_t = x_0 + σ_t ε (σ-space, as diffusers' Euler schedulers noise).
    fn add_noise(&self, original: &Tensor, noise: &Tensor, timesteps: &[usize]) -> Result<Tensor> {
        let b = original.dim(0)?;
        if timesteps.len() != b {
            return Err(DiffusionError::input(format!(
                "add_noise: {} timesteps for a batch of {b}",
                timesteps.len()
            )));
        }
        let mut items = Vec::with_capacity(b);
        for (i, &t) in timesteps.iter().enumerate() {
            let sigma = *self.train_sigmas.get(t).ok_or_else(|| {
                DiffusionError::input(format!("timestep {t} is outside the training grid"))
            })?;
            items.push(lin2(&original.get(i)?, 1.0, &noise.get(i)?, sigma)?);
        }
        Ok(Tensor::stack(&items, 0)?)
    }

    fn num_train_timesteps(&self) -> usize {
        self.common.num_train_timesteps
    }
}
