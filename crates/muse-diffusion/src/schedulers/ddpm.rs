//! DDPM ancestral sampling (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", eq. 6–7),
//! following diffusers 0.42.1 `DDPMScheduler` (src/diffusers/schedulers/scheduling_ddpm.py).

use candle_core::Tensor;

use super::config::Common;
use super::{
    NoiseSource, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing, check_steps,
    index_of, lin2,
};
use crate::error::{DiffusionError, Result};

/// Variance of the reverse step (`variance_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarianceType {
    /// β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t) β_t (the posterior variance).
    FixedSmall,
    /// The same, through a log (numerically identical here).
    FixedSmallLog,
    /// β_t.
    FixedLarge,
    /// β_t, through a log.
    FixedLargeLog,
}

/// The DDPM scheduler.
#[derive(Debug, Clone)]
pub struct DdpmScheduler {
    common: Common,
    variance_type: VarianceType,
    clip_sample: Option<f64>,
    timesteps: Vec<f64>,
}

impl DdpmScheduler {
    /// From a `scheduler_config.json` (defaults: linear β 1e-4..0.02, ε-prediction,
    /// `fixed_small`, `clip_sample` true, `leading` spacing).
    pub fn new(cfg: &SchedulerConfig) -> Result<Self> {
        let common = Common::new(cfg, TimestepSpacing::Leading)?;
        let variance_type = match cfg.variance_type.as_deref().unwrap_or("fixed_small") {
            "fixed_small" => VarianceType::FixedSmall,
            "fixed_small_log" => VarianceType::FixedSmallLog,
            "fixed_large" => VarianceType::FixedLarge,
            "fixed_large_log" => VarianceType::FixedLargeLog,
            other => {
                return Err(DiffusionError::Unsupported {
                    what: "variance_type",
                    found: other.into(),
                    supported: vec![
                        "fixed_small",
                        "fixed_small_log",
                        "fixed_large",
                        "fixed_large_log",
                    ],
                });
            }
        };
        let clip_sample = cfg
            .clip_sample
            .unwrap_or(true)
            .then(|| cfg.clip_sample_range.unwrap_or(1.0));
        let timesteps = (0..common.num_train_timesteps)
            .rev()
            .map(|t| t as f64)
            .collect();
        Ok(Self {
            common,
            variance_type,
            clip_sample,
            timesteps,
        })
    }

    fn prev_timestep(&self, t: f64) -> Result<i64> {
        let i = index_of(&self.timesteps, t)?;
        Ok(self.timesteps.get(i + 1).map_or(-1, |&p| p as i64))
    }
}

/// x̂_0 from the model output (shared with DDIM).
pub(crate) fn predict_x0(
    pred: PredictionType,
    model_output: &Tensor,
    sample: &Tensor,
    alpha_prod_t: f64,
) -> Result<Tensor> {
    let beta_prod_t = 1.0 - alpha_prod_t;
    match pred {
        PredictionType::Epsilon => {
            let a = alpha_prod_t.sqrt();
            lin2(sample, 1.0 / a, model_output, -beta_prod_t.sqrt() / a)
        }
        PredictionType::VPrediction => lin2(
            sample,
            alpha_prod_t.sqrt(),
            model_output,
            -beta_prod_t.sqrt(),
        ),
        PredictionType::Sample => Ok(model_output.clone()),
    }
}

impl Scheduler for DdpmScheduler {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        check_steps(n, self.common.num_train_timesteps)?;
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
        let prev_t = self.prev_timestep(timestep)?;
        let alpha_prod_t = self.common.alpha_cumprod_at(timestep)?;
        let alpha_prod_t_prev = self.common.alpha_cumprod(prev_t).unwrap_or(1.0);
        let beta_prod_t = 1.0 - alpha_prod_t;
        let beta_prod_t_prev = 1.0 - alpha_prod_t_prev;
        let current_alpha_t = alpha_prod_t / alpha_prod_t_prev;
        let current_beta_t = 1.0 - current_alpha_t;

        let mut x0 = predict_x0(
            self.common.prediction_type,
            model_output,
            sample,
            alpha_prod_t,
        )?;
        if let Some(r) = self.clip_sample {
            x0 = x0.clamp(-r, r)?;
        }
        // Posterior mean μ̃_t(x_t, x̂_0), Ho et al. eq. 7.
        let x0_coeff = alpha_prod_t_prev.sqrt() * current_beta_t / beta_prod_t;
        let xt_coeff = current_alpha_t.sqrt() * beta_prod_t_prev / beta_prod_t;
        let mut prev = lin2(&x0, x0_coeff, sample, xt_coeff)?;
        if timestep > 0.0 {
            let variance = (beta_prod_t_prev / beta_prod_t * current_beta_t).max(1e-20);
            let std = match self.variance_type {
                VarianceType::FixedSmall => variance.sqrt(),
                VarianceType::FixedSmallLog => (0.5 * variance.ln()).exp(),
                VarianceType::FixedLarge => current_beta_t.sqrt(),
                VarianceType::FixedLargeLog => (0.5 * current_beta_t.ln()).exp(),
            };
            let z = noise.randn(model_output.dims())?;
            prev = (prev + (z * std)?)?;
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
