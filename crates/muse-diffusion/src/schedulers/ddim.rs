//! DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12 and 16), following
//! diffusers 0.42.1 `DDIMScheduler` (src/diffusers/schedulers/scheduling_ddim.py).

use candle_core::Tensor;

use super::config::Common;
use super::ddpm::predict_x0;
use super::{
    NoiseSource, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing, check_steps, lin2,
};
use crate::error::{DiffusionError, Result};

/// The DDIM scheduler; `eta` = 0 is deterministic, 1 is DDPM-like.
#[derive(Debug, Clone)]
pub struct DdimScheduler {
    common: Common,
    final_alpha_cumprod: f64,
    clip_sample: Option<f64>,
    use_clipped_model_output: bool,
    eta: f64,
    num_inference_steps: usize,
    timesteps: Vec<f64>,
}

impl DdimScheduler {
    /// From a `scheduler_config.json` (defaults: linear β, ε-prediction, `clip_sample` true,
    /// `set_alpha_to_one` true, `leading` spacing) and the stochasticity `eta` ≥ 0.
    pub fn new(cfg: &SchedulerConfig, eta: f64) -> Result<Self> {
        let common = Common::new(cfg, TimestepSpacing::Leading)?;
        if !(eta >= 0.0 && eta.is_finite()) {
            return Err(DiffusionError::input(format!(
                "eta must be a finite number >= 0, got {eta}"
            )));
        }
        let final_alpha_cumprod = if cfg.set_alpha_to_one.unwrap_or(true) {
            1.0
        } else {
            common.alphas_cumprod[0]
        };
        let clip_sample = cfg
            .clip_sample
            .unwrap_or(true)
            .then(|| cfg.clip_sample_range.unwrap_or(1.0));
        let n = common.num_train_timesteps;
        Ok(Self {
            timesteps: (0..n).rev().map(|t| t as f64).collect(),
            num_inference_steps: n,
            common,
            final_alpha_cumprod,
            clip_sample,
            use_clipped_model_output: false,
            eta,
        })
    }

    /// After `clip_sample` clamps x̂₀, re-derive ε from the clamped x̂₀ (diffusers'
    /// `use_clipped_model_output`). Off by default, as in diffusers, where the update then mixes
    /// the clamped x̂₀ with the unclamped ε. When x̂₀ is clamped often, as in a pixel-space model
    /// under classifier-free guidance, that mismatch pushes every step further out and the
    /// samples saturate; measured on `muse-t2i-fashion` (docs/models.md: validation prompts,
    /// guidance 2 at t ≤ 500), re-deriving ε halves the Fréchet distance.
    pub fn with_clipped_model_output(mut self, on: bool) -> Self {
        self.use_clipped_model_output = on;
        self
    }

    /// Sets η (0 = deterministic DDIM).
    pub fn set_eta(&mut self, eta: f64) {
        self.eta = eta.max(0.0);
    }
}

impl Scheduler for DdimScheduler {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        check_steps(n, self.common.num_train_timesteps)?;
        self.num_inference_steps = n;
        self.timesteps = self.common.integer_timesteps(n);
        Ok(())
    }

    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    fn scale_model_input(&self, sample: &Tensor, _timestep: f64) -> Result<Tensor> {
        Ok(sample.clone())
    }

    fn step(
        &mut self,
        model_output: &Tensor,
        timestep: f64,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<Tensor> {
        // diffusers steps back by N / n whatever the spacing.
        let prev_t =
            timestep as i64 - (self.common.num_train_timesteps / self.num_inference_steps) as i64;
        let alpha_prod_t = self.common.alpha_cumprod_at(timestep)?;
        let alpha_prod_t_prev = self
            .common
            .alpha_cumprod(prev_t)
            .unwrap_or(self.final_alpha_cumprod);
        let beta_prod_t = 1.0 - alpha_prod_t;

        let mut x0 = predict_x0(
            self.common.prediction_type,
            model_output,
            sample,
            alpha_prod_t,
        )?;
        let mut eps = match self.common.prediction_type {
            PredictionType::Epsilon => model_output.clone(),
            PredictionType::VPrediction => lin2(
                model_output,
                alpha_prod_t.sqrt(),
                sample,
                beta_prod_t.sqrt(),
            )?,
            PredictionType::Sample => lin2(
                sample,
                1.0 / beta_prod_t.sqrt(),
                model_output,
                -alpha_prod_t.sqrt() / beta_prod_t.sqrt(),
            )?,
        };
        if let Some(r) = self.clip_sample {
            x0 = x0.clamp(-r, r)?;
        }
        if self.use_clipped_model_output {
            // x_t = √ᾱ x̂₀ + √(1-ᾱ) ε, solved for ε (as GLIDE always does).
            eps = lin2(
                sample,
                1.0 / beta_prod_t.sqrt(),
                &x0,
                -alpha_prod_t.sqrt() / beta_prod_t.sqrt(),
            )?;
        }
        // σ_t(η), Song et al. eq. 16.
        let beta_prod_t_prev = 1.0 - alpha_prod_t_prev;
        let variance = beta_prod_t_prev / beta_prod_t * (1.0 - alpha_prod_t / alpha_prod_t_prev);
        let std_dev_t = self.eta * variance.sqrt();
        let dir_coeff = (1.0 - alpha_prod_t_prev - std_dev_t * std_dev_t)
            .max(0.0)
            .sqrt();
        let mut prev = lin2(&x0, alpha_prod_t_prev.sqrt(), &eps, dir_coeff)?;
        if self.eta > 0.0 {
            let z = noise.randn(model_output.dims())?;
            prev = (prev + (z * std_dev_t)?)?;
        }
        Ok(prev)
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, timesteps: &[usize]) -> Result<Tensor> {
        self.common.add_noise(original, noise, timesteps)
    }

    fn num_train_timesteps(&self) -> usize {
        self.common.num_train_timesteps
    }
}
