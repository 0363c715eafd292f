//! DPM-Solver++ multistep, second order ("2M") (Lu et al. 2022, "DPM-Solver++: Fast Solver for
//! Guided Sampling of Diffusion Probabilistic Models", algorithm 2), with optional Karras σs,
//! following diffusers 0.42.1 `DPMSolverMultistepScheduler`
//! (src/diffusers/schedulers/scheduling_dpmsolver_multistep.py) with
//! `algorithm_type="dpmsolver++"`.

use candle_core::Tensor;

use super::config::{Common, arange_down, linspace, round_half_even};
use super::euler_ancestral::interp;
use super::{
    NoiseSource, PredictionType, Scheduler, SchedulerConfig, TimestepSpacing, check_steps,
    index_of, lin2,
};
use crate::error::{DiffusionError, Result};

/// The DPM-Solver++ (1S/2M) scheduler.
#[derive(Debug, Clone)]
pub struct DpmSolverMultistepScheduler {
    common: Common,
    train_sigmas: Vec<f64>,
    solver_order: usize,
    midpoint: bool,
    lower_order_final: bool,
    euler_at_final: bool,
    final_sigma_zero: bool,
    use_karras_sigmas: bool,
    timesteps: Vec<f64>,
    sigmas: Vec<f64>,
    /// x̂_0 of the previous step (for the second-order update).
    prev_x0: Option<Tensor>,
    lower_order_nums: usize,
}

fn f32r(x: f64) -> f64 {
    x as f32 as f64
}

fn unsupported(what: &'static str, found: String, supported: &[&'static str]) -> DiffusionError {
    DiffusionError::Unsupported {
        what,
        found,
        supported: supported.to_vec(),
    }
}

/// (α_t, σ_t) of the VP process for a σ in "k-diffusion" units.
fn alpha_sigma(sigma: f64) -> (f64, f64) {
    let a = 1.0 / (sigma * sigma + 1.0).sqrt();
    (a, sigma * a)
}

impl DpmSolverMultistepScheduler {
    /// From a `scheduler_config.json` (defaults: order 2, `dpmsolver++`, `midpoint`,
    /// `lower_order_final`, final σ zero, `linspace` spacing).
    pub fn new(cfg: &SchedulerConfig) -> Result<Self> {
        let common = Common::new(cfg, TimestepSpacing::Linspace)?;
        let solver_order = cfg.solver_order.unwrap_or(2);
        if !(1..=2).contains(&solver_order) {
            return Err(unsupported(
                "solver_order",
                solver_order.to_string(),
                &["1", "2"],
            ));
        }
        let algo = cfg.algorithm_type.as_deref().unwrap_or("dpmsolver++");
        if algo != "dpmsolver++" {
            return Err(unsupported("algorithm_type", algo.into(), &["dpmsolver++"]));
        }
        let midpoint = match cfg.solver_type.as_deref().unwrap_or("midpoint") {
            "midpoint" => true,
            "heun" => false,
            other => {
                return Err(unsupported(
                    "solver_type",
                    other.into(),
                    &["midpoint", "heun"],
                ));
            }
        };
        let final_sigma_zero = match cfg.final_sigmas_type.as_deref().unwrap_or("zero") {
            "zero" => true,
            "sigma_min" => false,
            other => {
                return Err(unsupported(
                    "final_sigmas_type",
                    other.into(),
                    &["zero", "sigma_min"],
                ));
            }
        };
        let train_sigmas = common
            .alphas_cumprod
            .iter()
            .map(|&a| f32r(f32r(f32r(1.0 - a) / a).sqrt()))
            .collect();
        let mut s = Self {
            common,
            train_sigmas,
            solver_order,
            midpoint,
            lower_order_final: cfg.lower_order_final.unwrap_or(true),
            euler_at_final: cfg.euler_at_final.unwrap_or(false),
            final_sigma_zero,
            use_karras_sigmas: cfg.use_karras_sigmas.unwrap_or(false),
            timesteps: Vec::new(),
            sigmas: Vec::new(),
            prev_x0: None,
            lower_order_nums: 0,
        };
        s.set_timesteps(25.min(s.common.num_train_timesteps))?;
        Ok(s)
    }

    /// `_sigma_to_t`: fractional training timestep of σ by interpolating log σ.
    fn sigma_to_t(&self, sigma: f64) -> f64 {
        let log_sigmas: Vec<f64> = self.train_sigmas.iter().map(|s| f32r(s.ln())).collect();
        let ls = sigma.max(1e-10).ln();
        let n = log_sigmas.len();
        // Last index whose log σ is <= log σ(sigma) (log σ grows with t).
        let low = log_sigmas
            .iter()
            .rposition(|&l| ls - l >= 0.0)
            .unwrap_or(0)
            .min(n - 2);
        let (lo, hi) = (log_sigmas[low], log_sigmas[low + 1]);
        let w = ((lo - ls) / (lo - hi)).clamp(0.0, 1.0);
        (1.0 - w) * low as f64 + w * (low + 1) as f64
    }
}

impl Scheduler for DpmSolverMultistepScheduler {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let train = self.common.num_train_timesteps;
        check_steps(n, train)?;
        let mut ts: Vec<f64> = match self.common.spacing {
            TimestepSpacing::Linspace => {
                let mut v: Vec<f64> = linspace(0.0, (train - 1) as f64, n + 1)
                    .into_iter()
                    .map(round_half_even)
                    .rev()
                    .collect();
                v.pop();
                v
            }
            TimestepSpacing::Leading => {
                let ratio = train / (n + 1);
                (1..=n)
                    .rev()
                    .map(|i| (i * ratio + self.common.steps_offset) as f64)
                    .collect()
            }
            TimestepSpacing::Trailing => arange_down(train as f64, train as f64 / n as f64)
                .into_iter()
                .map(|v| round_half_even(v) - 1.0)
                .collect(),
        };
        let mut sigmas: Vec<f64> = if self.use_karras_sigmas {
            // Karras et al. 2022, eq. 5, ρ = 7, between the training σ_min and σ_max.
            let (smin, smax) = (self.train_sigmas[0], self.train_sigmas[train - 1]);
            let rho = 7.0;
            let (lo, hi) = (smin.powf(1.0 / rho), smax.powf(1.0 / rho));
            let sig: Vec<f64> = linspace(0.0, 1.0, n)
                .into_iter()
                .map(|r| (hi + r * (lo - hi)).powf(rho))
                .collect();
            ts = sig
                .iter()
                .map(|&s| round_half_even(self.sigma_to_t(s)))
                .collect();
            sig.into_iter().map(f32r).collect()
        } else {
            ts.iter()
                .map(|&t| f32r(interp(t, &self.train_sigmas)))
                .collect()
        };
        sigmas.push(if self.final_sigma_zero {
            0.0
        } else {
            self.train_sigmas[0]
        });
        self.timesteps = ts;
        self.sigmas = sigmas;
        self.prev_x0 = None;
        self.lower_order_nums = 0;
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
        _noise: &mut dyn NoiseSource,
    ) -> Result<Tensor> {
        let i = index_of(&self.timesteps, timestep)?;
        let n = self.timesteps.len();
        let lower_order_final = i == n - 1
            && (self.euler_at_final || (self.lower_order_final && n < 15) || self.final_sigma_zero);

        // convert_model_output: the data prediction x̂_0.
        let (alpha_s0, sigma_s0) = alpha_sigma(self.sigmas[i]);
        let x0 = match self.common.prediction_type {
            PredictionType::Epsilon => {
                lin2(sample, 1.0 / alpha_s0, model_output, -sigma_s0 / alpha_s0)?
            }
            PredictionType::VPrediction => lin2(sample, alpha_s0, model_output, -sigma_s0)?,
            PredictionType::Sample => model_output.clone(),
        };

        let (alpha_t, sigma_t) = alpha_sigma(self.sigmas[i + 1]);
        let lambda_t = alpha_t.ln() - sigma_t.ln();
        let lambda_s0 = alpha_s0.ln() - sigma_s0.ln();
        let h = lambda_t - lambda_s0;
        // With σ_t = 0, h = ∞ and the update is x̂_0 (exp(−h) = 0, σ_t/σ_s = 0).
        let em1 = (-h).exp() - 1.0;
        let ratio = sigma_t / sigma_s0;

        let prev = match (&self.prev_x0, i) {
            (Some(m1), i)
                if self.solver_order == 2
                    && self.lower_order_nums >= 1
                    && !lower_order_final
                    && i >= 1 =>
            {
                let (alpha_s1, sigma_s1) = alpha_sigma(self.sigmas[i - 1]);
                let lambda_s1 = alpha_s1.ln() - sigma_s1.ln();
                let r0 = (lambda_s0 - lambda_s1) / h;
                // D1 = (m0 − m1) / r0.
                let d1 = ((&x0 - m1)? * (1.0 / r0))?;
                let base = lin2(sample, ratio, &x0, -alpha_t * em1)?;
                let c1 = if self.midpoint {
                    -0.5 * alpha_t * em1
                } else {
                    alpha_t * (em1 / h + 1.0)
                };
                (base + (d1 * c1)?)?
            }
            _ => lin2(sample, ratio, &x0, -alpha_t * em1)?,
        };
        if self.lower_order_nums < self.solver_order {
            self.lower_order_nums += 1;
        }
        self.prev_x0 = Some(x0);
        Ok(prev)
    }

    fn add_noise(&self, original: &Tensor, noise: &Tensor, timesteps: &[usize]) -> Result<Tensor> {
        self.common.add_noise(original, noise, timesteps)
    }

    fn num_train_timesteps(&self) -> usize {
        self.common.num_train_timesteps
    }
}
