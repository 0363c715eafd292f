//! AdamW with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
//! Regularization", ICLR 2019, Algorithm 2), global-norm gradient clipping (Pascanu et al. 2013),
//! and a linear warm-up + cosine learning-rate schedule (Goyal et al. 2017; Loshchilov & Hutter,
//! "SGDR", 2017).
//!
//! Written here rather than taken from `candle_nn::AdamW` because a checkpoint must hold the
//! moment estimates: candle's optimiser keeps them private, so a resumed run would restart
//! Adam from zero and lose more than the work since the last checkpoint.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::{Result, TrainError};

/// AdamW hyper-parameters other than the learning rate.
#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// AdamW over named variables, with first and second moments per variable.
pub struct AdamW {
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    steps: usize,
    cfg: AdamWConfig,
}

impl AdamW {
    /// `params` sorted by name, so checkpoints are stable.
    pub fn new(mut params: Vec<(String, Var)>, cfg: AdamWConfig) -> Result<Self> {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let m = params
            .iter()
            .map(|(_, p)| p.zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = params
            .iter()
            .map(|(_, p)| p.zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            params,
            m,
            v,
            steps: 0,
            cfg,
        })
    }

    /// Optimiser steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The variables this optimiser updates, sorted by name.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// The L2 norm of all gradients together.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sum = 0f64;
        for (_, p) in &self.params {
            if let Some(g) = grads.get(p) {
                sum += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        Ok(sum.sqrt())
    }

    /// One update at learning rate `lr`, gradients first scaled so their global norm is at most
    /// `max_grad_norm`. Returns the norm before clipping.
    pub fn step(&mut self, grads: &GradStore, lr: f64, max_grad_norm: Option<f64>) -> Result<f64> {
        let norm = self.grad_norm(grads)?;
        let scale = match max_grad_norm {
            Some(max) if norm > max => max / (norm + 1e-6),
            _ => 1.0,
        };
        self.steps += 1;
        let c = self.cfg;
        let t = self.steps as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        for (i, (_, p)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p) else { continue };
            // Detached: the gradient (and through it the step's whole graph) must not stay
            // reachable from the moments, or every step's graph would be kept alive.
            let g = (g * scale)?.detach();
            let m = ((&self.m[i] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let update = ((&m / bias1)? / ((&v / bias2)?.sqrt()? + c.eps)?)?;
            let decayed = (p.as_tensor() * (1.0 - lr * c.weight_decay))?;
            p.set(&(decayed - (update * lr)?)?.detach())?;
            self.m[i] = m.detach();
            self.v[i] = v.detach();
        }
        Ok(norm)
    }

    /// Writes the moments and step count (safetensors + a JSON side file).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map = HashMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            map.insert(format!("m.{name}"), self.m[i].clone());
            map.insert(format!("v.{name}"), self.v[i].clone());
        }
        map.insert(
            "steps".into(),
            Tensor::new(&[self.steps as u32], &candle_core::Device::Cpu)?,
        );
        candle_core::safetensors::save(&map, path)?;
        Ok(())
    }

    /// Restores what [`save`](Self::save) wrote; every variable must be present with its shape.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let map = candle_core::safetensors::load(path, &candle_core::Device::Cpu).map_err(|e| {
            TrainError::IncompatibleCheckpoint {
                path: path.into(),
                reason: e.to_string(),
            }
        })?;
        let incompatible = |reason: String| TrainError::IncompatibleCheckpoint {
            path: path.into(),
            reason,
        };
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{name}");
                let t = map
                    .get(&key)
                    .ok_or_else(|| incompatible(format!("no optimiser state for {name}")))?;
                if t.dims() != p.dims() {
                    return Err(incompatible(format!(
                        "{key} has shape {:?}, the model {:?}",
                        t.dims(),
                        p.dims()
                    )));
                }
                *slot = t.clone();
            }
        }
        let steps = map
            .get("steps")
            .ok_or_else(|| incompatible("no step count".into()))?;
        self.steps = steps.to_vec1::<u32>()?.first().copied().unwrap_or(0) as usize;
        Ok(())
    }
}

/// Learning rate at `step` (0-based): linear warm-up over `warmup` steps to `peak`, then cosine
/// decay to `peak · floor` at `total`.
pub fn learning_rate(step: usize, peak: f64, warmup: usize, total: usize, floor: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    peak * (floor + (1.0 - floor) * cosine)
}

/// An exponential moving average of the weights (Polyak & Juditsky 1992), the weights a
/// diffusion model is sampled with. The decay warms up as `min(max, (1 + n) / (10 + n))` so early
/// averages are not dominated by the random initialisation.
pub struct Ema {
    shadow: Vec<(String, Tensor)>,
    max_decay: f64,
}

impl Ema {
    pub fn new(params: &[(String, Var)], max_decay: f64) -> Result<Self> {
        let shadow = params
            .iter()
            .map(|(n, p)| Ok((n.clone(), p.as_tensor().copy()?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { shadow, max_decay })
    }

    /// Folds the current weights in, after optimiser step `step` (1-based).
    pub fn update(&mut self, params: &[(String, Var)], step: usize) -> Result<()> {
        let decay = self
            .max_decay
            .min((1.0 + step as f64) / (10.0 + step as f64));
        for ((_, s), (_, p)) in self.shadow.iter_mut().zip(params) {
            // Detached, or each average would hold the op graph back to the first step.
            *s = ((&*s * decay)? + (p.as_tensor() * (1.0 - decay))?)?.detach();
        }
        Ok(())
    }

    /// The averaged weights by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.shadow.iter().cloned().collect()
    }

    /// Replaces the averages with saved ones (on `--resume`).
    pub fn restore(&mut self, saved: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        for (name, s) in &mut self.shadow {
            let t = saved
                .get(name)
                .ok_or_else(|| TrainError::IncompatibleCheckpoint {
                    path: path.into(),
                    reason: format!("the EMA weights have no {name}"),
                })?;
            if t.dims() != s.dims() {
                return Err(TrainError::IncompatibleCheckpoint {
                    path: path.into(),
                    reason: format!("{name} has shape {:?}, the model {:?}", t.dims(), s.dims()),
                });
            }
            *s = t.to_dtype(s.dtype())?;
        }
        Ok(())
    }
}

/// The variables of a `VarMap` with their names (what [`AdamW::new`] and [`Ema::new`] take).
pub fn named_vars(varmap: &candle_nn::VarMap) -> Result<Vec<(String, Var)>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::InvalidParameter {
            name: "model",
            reason: "the variable map's lock is poisoned".into(),
        })?;
    Ok(data.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        assert!((learning_rate(0, 1.0, 10, 110, 0.1) - 0.1).abs() < 1e-12);
        assert!((learning_rate(9, 1.0, 10, 110, 0.1) - 1.0).abs() < 1e-12);
        assert!((learning_rate(60, 1.0, 10, 110, 0.1) - 0.55).abs() < 1e-12);
        assert!((learning_rate(110, 1.0, 10, 110, 0.1) - 0.1).abs() < 1e-12);
        assert!((learning_rate(500, 1.0, 10, 110, 0.1) - 0.1).abs() < 1e-12);
    }

    /// On f(w) = ½‖w − 3‖² AdamW converges to 3 (weight decay off), clipping bounds the first
    /// step, and save/load round-trips the moments.
    #[test]
    fn adamw_minimises_a_quadratic_and_checkpoints() -> Result<()> {
        let w = Var::from_tensor(&Tensor::new(&[0f32, 10.0], &Device::Cpu)?)?;
        let mut opt = AdamW::new(
            vec![("w".into(), w.clone())],
            AdamWConfig {
                weight_decay: 0.0,
                ..Default::default()
            },
        )?;
        for _ in 0..400 {
            let loss = ((w.as_tensor() - 3.0)?.sqr()?.sum_all()? * 0.5)?;
            opt.step(&loss.backward()?, 0.05, Some(1.0))?;
        }
        let got = w.as_tensor().to_vec1::<f32>()?;
        assert!(got.iter().all(|v| (v - 3.0).abs() < 0.05), "{got:?}");
        let dir = tempfile::tempdir().map_err(|e| TrainError::io("tmp", e))?;
        let path = dir.path().join("opt.safetensors");
        opt.save(&path)?;
        let mut fresh = AdamW::new(vec![("w".into(), w.clone())], AdamWConfig::default())?;
        fresh.load(&path)?;
        assert_eq!(fresh.steps(), 400);
        let other = Var::from_tensor(&Tensor::new(&[0f32, 1.0, 2.0], &Device::Cpu)?)?;
        let mut wrong = AdamW::new(vec![("w".into(), other)], AdamWConfig::default())?;
        assert!(matches!(
            wrong.load(&path),
            Err(TrainError::IncompatibleCheckpoint { .. })
        ));
        Ok(())
    }
}
