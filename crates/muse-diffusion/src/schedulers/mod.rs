//! Noise schedulers, one file each behind the [`Scheduler`] trait, configured from diffusers'
//! `scheduler_config.json` ([`SchedulerConfig`]). Schedulers never import models.
//!
//! A sampling loop, as diffusers' pipelines run it:
//!
//! ```no_run
//! # use muse_diffusion::schedulers::{Scheduler, SchedulerConfig, SchedulerKind, SeededNoise, NoiseSource};
//! # fn unet(x: &candle_core::Tensor, t: f64) -> candle_core::Tensor { x.clone() }
//! # fn main() -> muse_diffusion::Result<()> {
//! let mut s = SchedulerKind::Ddim.build(&SchedulerConfig::default())?;
//! s.set_timesteps(50)?;
//! let mut noise = SeededNoise::new(0, candle_core::Device::Cpu);
//! let mut x = (noise.randn(&[1, 3, 32, 32])? * s.init_noise_sigma())?;
//! for t in s.timesteps().to_vec() {
//!     let eps = unet(&s.scale_model_input(&x, t)?, t);
//!     x = s.step(&eps, t, &x, &mut noise)?;
//! }
//! # Ok(()) }
//! ```

mod config;
pub mod ddim;
pub mod ddpm;
pub mod dpm_solver_multistep;
pub mod euler_ancestral;
mod noise;

pub use config::{BetaSchedule, PredictionType, SchedulerConfig, TimestepSpacing};
pub use noise::{FixedNoise, NoiseSource, SeededNoise};

use candle_core::Tensor;

use crate::error::{DiffusionError, Result};

/// A noise scheduler: the timestep grid and the update from x_t to x_{t-1}.
pub trait Scheduler: Send {
    /// Sets the inference grid of `num_inference_steps` steps (1..=num_train_timesteps).
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()>;
    /// The timesteps of the grid, in sampling order (largest first).
    fn timesteps(&self) -> &[f64];
    /// Standard deviation of the initial noise (1 for DDPM/DDIM, σ_max-based for Euler).
    fn init_noise_sigma(&self) -> f64;
    /// Scales the model input at `timestep` (identity except for sigma-space schedulers).
    fn scale_model_input(&self, sample: &Tensor, timestep: f64) -> Result<Tensor>;
    /// One denoising step from `sample` at `timestep` given the model's output; stochastic
    /// schedulers draw their noise from `noise`.
    fn step(
        &mut self,
        model_output: &Tensor,
        timestep: f64,
        sample: &Tensor,
        noise: &mut dyn NoiseSource,
    ) -> Result<Tensor>;
    /// Forward diffusion q(x_t | x_0): noises `original` [B, …] to the per-item `timesteps` [B]
    /// (integer training timesteps).
    fn add_noise(&self, original: &Tensor, noise: &Tensor, timesteps: &[usize]) -> Result<Tensor>;
    /// Number of training timesteps.
    fn num_train_timesteps(&self) -> usize;
}

/// The schedulers Muse implements, by their CLI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerKind {
    /// DDPM ancestral sampling (`ddpm`).
    Ddpm,
    /// DDIM (`ddim`).
    Ddim,
    /// Euler ancestral (`euler-a`).
    EulerAncestral,
    /// DPM-Solver++ 2M (`dpmpp-2m`).
    DpmSolverPp2M,
}

impl SchedulerKind {
    /// CLI names, in the order listed in errors.
    pub const NAMES: [&'static str; 4] = ["ddpm", "ddim", "euler-a", "dpmpp-2m"];

    /// Parses a CLI name (`ddpm`, `ddim`, `euler-a`, `dpmpp-2m`).
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "ddpm" => Ok(Self::Ddpm),
            "ddim" => Ok(Self::Ddim),
            "euler-a" | "euler_a" | "euler-ancestral" => Ok(Self::EulerAncestral),
            "dpmpp-2m" | "dpm++2m" | "dpmpp_2m" => Ok(Self::DpmSolverPp2M),
            other => Err(DiffusionError::Unsupported {
                what: "scheduler",
                found: other.into(),
                supported: Self::NAMES.to_vec(),
            }),
        }
    }

    /// The kind a diffusers `_class_name` denotes, if Muse implements it.
    pub fn from_class_name(class: &str) -> Option<Self> {
        match class {
            "DDPMScheduler" => Some(Self::Ddpm),
            "DDIMScheduler" => Some(Self::Ddim),
            "EulerAncestralDiscreteScheduler" => Some(Self::EulerAncestral),
            "DPMSolverMultistepScheduler" => Some(Self::DpmSolverPp2M),
            _ => None,
        }
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ddpm => "ddpm",
            Self::Ddim => "ddim",
            Self::EulerAncestral => "euler-a",
            Self::DpmSolverPp2M => "dpmpp-2m",
        }
    }

    /// Builds this scheduler from a (possibly other scheduler's) config, as diffusers'
    /// `from_config` does: shared fields carry over, the rest take this scheduler's defaults.
    pub fn build(self, cfg: &SchedulerConfig) -> Result<Box<dyn Scheduler>> {
        Ok(match self {
            Self::Ddpm => Box::new(ddpm::DdpmScheduler::new(cfg)?),
            Self::Ddim => Box::new(ddim::DdimScheduler::new(cfg, 0.0)?),
            Self::EulerAncestral => Box::new(euler_ancestral::EulerAncestralScheduler::new(cfg)?),
            Self::DpmSolverPp2M => {
                Box::new(dpm_solver_multistep::DpmSolverMultistepScheduler::new(cfg)?)
            }
        })
    }
}

/// `x * a + y * b` on tensors of one shape.
pub(crate) fn lin2(x: &Tensor, a: f64, y: &Tensor, b: f64) -> Result<Tensor> {
    Ok(((x * a)? + (y * b)?)?)
}

/// Checks `n` against the training grid (diffusers raises the same error).
pub(crate) fn check_steps(n: usize, train: usize) -> Result<()> {
    if n == 0 || n > train {
        return Err(DiffusionError::input(format!(
            "steps must be between 1 and num_train_timesteps ({train}), got {n}"
        )));
    }
    Ok(())
}

/// Index of `t` in `timesteps` (exact match: the grid is what the caller iterates over).
pub(crate) fn index_of(timesteps: &[f64], t: f64) -> Result<usize> {
    timesteps.iter().position(|&x| x == t).ok_or_else(|| {
        DiffusionError::input(format!("timestep {t} is not on the scheduler's grid"))
    })
}
