//! Where stochastic schedulers and pipelines get their Gaussian noise: a seeded generator, or a
//! fixed sequence of tensors (to replay another implementation's noise exactly).

use std::collections::VecDeque;

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{DiffusionError, Result};

/// A source of standard-normal tensors.
pub trait NoiseSource {
    /// A tensor of the given shape with i.i.d. N(0, 1) entries.
    fn randn(&mut self, shape: &[usize]) -> Result<Tensor>;
}

/// Seeded N(0, 1) noise (ChaCha8 + Box–Muller): the same seed gives the same images on every
/// platform.
#[derive(Debug, Clone)]
pub struct SeededNoise {
    rng: ChaCha8Rng,
    device: Device,
}

impl SeededNoise {
    /// A generator seeded with `seed`, producing tensors on `device`.
    pub fn new(seed: u64, device: Device) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            device,
        }
    }
}

impl NoiseSource for SeededNoise {
    fn randn(&mut self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let mut v = Vec::with_capacity(n + 1);
        while v.len() < n {
            // Box–Muller on (0, 1]: u1 never 0, so ln is finite.
            let u1: f64 = 1.0 - self.rng.random::<f64>();
            let u2: f64 = self.rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let th = std::f64::consts::TAU * u2;
            v.push((r * th.cos()) as f32);
            v.push((r * th.sin()) as f32);
        }
        v.truncate(n);
        Ok(Tensor::from_vec(v, shape, &self.device)?)
    }
}

/// Hands out the given tensors in order (parity tests replay diffusers' noise this way).
#[derive(Debug, Clone, Default)]
pub struct FixedNoise {
    queue: VecDeque<Tensor>,
}

impl FixedNoise {
    /// A source that returns `tensors` in order.
    pub fn new(tensors: Vec<Tensor>) -> Self {
        Self {
            queue: tensors.into(),
        }
    }

    /// Tensors not yet handed out.
    pub fn remaining(&self) -> usize {
        self.queue.len()
    }
}

impl NoiseSource for FixedNoise {
    fn randn(&mut self, shape: &[usize]) -> Result<Tensor> {
        let t = self
            .queue
            .pop_front()
            .ok_or_else(|| DiffusionError::input("fixed noise source is exhausted"))?;
        if t.dims() != shape {
            return Err(DiffusionError::input(format!(
                "fixed noise has shape {:?}, expected {shape:?}",
                t.dims()
            )));
        }
        Ok(t)
    }
}
