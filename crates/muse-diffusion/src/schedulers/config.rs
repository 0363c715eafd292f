//! `scheduler_config.json` and the pieces every scheduler shares: β schedules and ᾱ_t.

use serde::Deserialize;

use crate::error::{DiffusionError, Result, read_json};

/// `scheduler_config.json` as diffusers writes it (field names kept). Every field is optional:
/// each scheduler fills in its own diffusers default for a missing one, so a config written for
/// one scheduler (e.g. Stable Diffusion's PNDM) configures another, as `from_config` does.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SchedulerConfig {
    /// Scheduler class that wrote the file (`DDIMScheduler`, …).
    #[serde(rename = "_class_name", default)]
    pub class_name: Option<String>,
    /// Training timesteps (1000).
    pub num_train_timesteps: Option<usize>,
    /// First β (1e-4).
    pub beta_start: Option<f64>,
    /// Last β (0.02).
    pub beta_end: Option<f64>,
    /// `linear`, `scaled_linear`, `squaredcos_cap_v2`.
    pub beta_schedule: Option<String>,
    /// Explicit β values (overrides the schedule).
    pub trained_betas: Option<Vec<f64>>,
    /// `epsilon`, `v_prediction`, `sample`.
    pub prediction_type: Option<String>,
    /// DDPM: `fixed_small`, `fixed_small_log`, `fixed_large`, `fixed_large_log`.
    pub variance_type: Option<String>,
    /// DDPM/DDIM: clamp the predicted x_0.
    pub clip_sample: Option<bool>,
    /// DDPM/DDIM: clamp range (1.0).
    pub clip_sample_range: Option<f64>,
    /// DDIM: ᾱ before the first step is 1 (else ᾱ_0).
    pub set_alpha_to_one: Option<bool>,
    /// Added to `leading` timesteps.
    pub steps_offset: Option<usize>,
    /// `leading`, `trailing`, `linspace`.
    pub timestep_spacing: Option<String>,
    /// Dynamic thresholding (unsupported; must be false).
    pub thresholding: Option<bool>,
    /// Zero-terminal-SNR rescaling (unsupported; must be false).
    pub rescale_betas_zero_snr: Option<bool>,
    /// DPM-Solver: Karras et al. σ spacing.
    pub use_karras_sigmas: Option<bool>,
    /// DPM-Solver: order (only 2 — "2M" — and 1 are supported).
    pub solver_order: Option<usize>,
    /// DPM-Solver: only `dpmsolver++`.
    pub algorithm_type: Option<String>,
    /// DPM-Solver: `midpoint` or `heun`.
    pub solver_type: Option<String>,
    /// DPM-Solver: first-order final steps for short schedules.
    pub lower_order_final: Option<bool>,
    /// DPM-Solver: Euler at the final step.
    pub euler_at_final: Option<bool>,
    /// DPM-Solver: `zero` or `sigma_min`.
    pub final_sigmas_type: Option<String>,
}

impl SchedulerConfig {
    /// Reads a `scheduler_config.json`.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        read_json(path)
    }
}

/// How β_t grows over the training timesteps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BetaSchedule {
    /// Evenly spaced β (DDPM).
    Linear,
    /// Evenly spaced √β, squared (Stable Diffusion).
    ScaledLinear,
    /// Nichol & Dhariwal's cosine ᾱ, βs capped at 0.999.
    SquaredCosCapV2,
}

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionType {
    /// The added noise ε.
    Epsilon,
    /// v = √ᾱ ε − √(1−ᾱ) x_0 (Salimans & Ho 2022).
    VPrediction,
    /// x_0 itself.
    Sample,
}

/// How the inference timesteps are laid over the training grid (Lin et al. 2023, table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestepSpacing {
    /// `arange(0, n) * (N / n)` reversed, plus `steps_offset`.
    Leading,
    /// `round(arange(N, 0, -N / n)) - 1`.
    Trailing,
    /// `round(linspace(0, N - 1, n))` reversed.
    Linspace,
}

/// Shared, validated settings of every scheduler.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub num_train_timesteps: usize,
    /// ᾱ_t, as the f32 values diffusers computes.
    pub alphas_cumprod: Vec<f64>,
    pub prediction_type: PredictionType,
    pub spacing: TimestepSpacing,
    pub steps_offset: usize,
}

fn unsupported(what: &'static str, found: &str, supported: &[&'static str]) -> DiffusionError {
    DiffusionError::Unsupported {
        what,
        found: found.into(),
        supported: supported.to_vec(),
    }
}

fn f32r(x: f64) -> f64 {
    x as f32 as f64
}

impl Common {
    /// Resolves the shared fields with the given defaults for `timestep_spacing`.
    pub fn new(cfg: &SchedulerConfig, default_spacing: TimestepSpacing) -> Result<Self> {
        if cfg.thresholding == Some(true) {
            return Err(unsupported("thresholding", "true", &["false"]));
        }
        if cfg.rescale_betas_zero_snr == Some(true) {
            return Err(unsupported("rescale_betas_zero_snr", "true", &["false"]));
        }
        let n = cfg.num_train_timesteps.unwrap_or(1000);
        if n < 2 {
            return Err(DiffusionError::config(format!(
                "num_train_timesteps must be at least 2, got {n}"
            )));
        }
        let betas = match &cfg.trained_betas {
            Some(b) if b.len() == n => b.iter().map(|&v| f32r(v)).collect(),
            Some(b) => {
                return Err(DiffusionError::config(format!(
                    "trained_betas has {} values for num_train_timesteps {n}",
                    b.len()
                )));
            }
            None => {
                let schedule = match cfg.beta_schedule.as_deref().unwrap_or("linear") {
                    "linear" => BetaSchedule::Linear,
                    "scaled_linear" => BetaSchedule::ScaledLinear,
                    "squaredcos_cap_v2" => BetaSchedule::SquaredCosCapV2,
                    other => {
                        return Err(unsupported(
                            "beta_schedule",
                            other,
                            &["linear", "scaled_linear", "squaredcos_cap_v2"],
                        ));
                    }
                };
                betas(
                    schedule,
                    cfg.beta_start.unwrap_or(1e-4),
                    cfg.beta_end.unwrap_or(0.02),
                    n,
                )
            }
        };
        // torch.cumprod on the CPU accumulates f32 in double and stores f32.
        let mut acc = 1.0f64;
        let alphas_cumprod = betas
            .iter()
            .map(|b| {
                acc *= f32r(1.0 - b);
                f32r(acc)
            })
            .collect();
        let prediction_type = match cfg.prediction_type.as_deref().unwrap_or("epsilon") {
            "epsilon" => PredictionType::Epsilon,
            "v_prediction" => PredictionType::VPrediction,
            "sample" => PredictionType::Sample,
            other => {
                return Err(unsupported(
                    "prediction_type",
                    other,
                    &["epsilon", "v_prediction", "sample"],
                ));
            }
        };
        let spacing = match cfg.timestep_spacing.as_deref() {
            None => default_spacing,
            Some("leading") => TimestepSpacing::Leading,
            Some("trailing") => TimestepSpacing::Trailing,
            Some("linspace") => TimestepSpacing::Linspace,
            Some(other) => {
                return Err(unsupported(
                    "timestep_spacing",
                    other,
                    &["leading", "trailing", "linspace"],
                ));
            }
        };
        Ok(Self {
            num_train_timesteps: n,
            alphas_cumprod,
            prediction_type,
            spacing,
            steps_offset: cfg.steps_offset.unwrap_or(0),
        })
    }

    /// The integer timestep grid of DDPM/DDIM (`set_timesteps` in scheduling_ddim.py).
    pub fn integer_timesteps(&self, n: usize) -> Vec<f64> {
        let train = self.num_train_timesteps;
        match self.spacing {
            TimestepSpacing::Leading => {
                let ratio = train / n;
                (0..n)
                    .rev()
                    .map(|i| (i * ratio + self.steps_offset) as f64)
                    .collect()
            }
            TimestepSpacing::Trailing => {
                let ratio = train as f64 / n as f64;
                arange_down(train as f64, ratio)
                    .into_iter()
                    .map(|v| round_half_even(v) - 1.0)
                    .collect()
            }
            TimestepSpacing::Linspace => linspace(0.0, (train - 1) as f64, n)
                .into_iter()
                .rev()
                .map(round_half_even)
                .collect(),
        }
    }

    /// ᾱ at an integer timestep (None below 0).
    pub fn alpha_cumprod(&self, t: i64) -> Option<f64> {
        usize::try_from(t)
            .ok()
            .and_then(|i| self.alphas_cumprod.get(i).copied())
    }

    /// `ᾱ` at `t`, or an input error naming the timestep.
    pub fn alpha_cumprod_at(&self, t: f64) -> Result<f64> {
        self.alpha_cumprod(t as i64).ok_or_else(|| {
            DiffusionError::input(format!(
                "timestep {t} is outside the training grid 0..{}",
                self.num_train_timesteps
            ))
        })
    }

    /// q(x_t | x_0) with ᾱ_t per batch item.
    pub fn add_noise(
        &self,
        original: &candle_core::Tensor,
        noise: &candle_core::Tensor,
        timesteps: &[usize],
    ) -> Result<candle_core::Tensor> {
        let b = original.dim(0)?;
        if timesteps.len() != b {
            return Err(DiffusionError::input(format!(
                "add_noise: {} timesteps for a batch of {b}",
                timesteps.len()
            )));
        }
        let mut items = Vec::with_capacity(b);
        for (i, &t) in timesteps.iter().enumerate() {
            let a = self.alpha_cumprod_at(t as f64)?;
            items.push(super::lin2(
                &original.get(i)?,
                a.sqrt(),
                &noise.get(i)?,
                (1.0 - a).sqrt(),
            )?);
        }
        Ok(candle_core::Tensor::stack(&items, 0)?)
    }
}

/// β_1..β_N as f32 values (diffusers builds them in torch float32).
pub fn betas(schedule: BetaSchedule, start: f64, end: f64, n: usize) -> Vec<f64> {
    match schedule {
        BetaSchedule::Linear => linspace(start, end, n).into_iter().map(f32r).collect(),
        BetaSchedule::ScaledLinear => linspace(start.sqrt(), end.sqrt(), n)
            .into_iter()
            .map(|v| {
                let v = f32r(v);
                f32r(v * v)
            })
            .collect(),
        // Nichol & Dhariwal 2021, eq. 17; `betas_for_alpha_bar` in scheduling_ddpm.py.
        BetaSchedule::SquaredCosCapV2 => {
            let alpha_bar = |t: f64| {
                ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                    .cos()
                    .powi(2)
            };
            (0..n)
                .map(|i| {
                    let (t1, t2) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
                    f32r((1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999))
                })
                .collect()
        }
    }
}

/// `np.linspace(start, end, n)`.
pub(crate) fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f64;
    (0..n)
        .map(|i| {
            if i == n - 1 {
                end
            } else {
                start + step * i as f64
            }
        })
        .collect()
}

/// `np.arange(start, 0, -step)` for positive `start` and `step`.
pub(crate) fn arange_down(start: f64, step: f64) -> Vec<f64> {
    let n = (start / step).ceil() as usize;
    (0..n).map(|i| start - step * i as f64).collect()
}

/// numpy's `round` (half to even).
pub(crate) fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}
