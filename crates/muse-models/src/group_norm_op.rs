//! Group normalisation (Wu & He, "Group Normalization", ECCV 2018, eq. 1–3) as one candle
//! operation with a hand-derived backward pass.
//!
//! candle-nn's `GroupNorm` is composed of about ten tensor ops; training a UNet spends more time
//! in their backward passes (broadcast reductions over non-contiguous axes) than in the
//! convolutions. Here the forward is two passes over each group and the backward three:
//!
//! `x̂ = (x − μ)·σ⁻¹`, `y = γ_c·x̂ + β_c`;
//! `∂β_c = Σ dy`, `∂γ_c = Σ dy·x̂`, and with `g = dy·γ_c`,
//! `∂x = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂))`, the means taken over the group.

use candle_core::{CpuStorage, CustomOp3, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::bert_ops::contiguous_f32;

struct GroupNormOp {
    groups: usize,
    eps: f64,
    /// SiLU applied to the output in the same pass (`silu(GroupNorm(x))`, the pair every UNet
    /// residual block uses twice).
    silu: bool,
}

/// Geometry: batch, channels, spatial size per channel.
fn dims(layout_dims: &[usize], groups: usize) -> Result<(usize, usize, usize)> {
    let (&b, rest) = layout_dims
        .split_first()
        .ok_or_else(|| candle_core::Error::Msg("group_norm: scalar input".into()))?;
    let (&c, spatial) = rest
        .split_first()
        .ok_or_else(|| candle_core::Error::Msg("group_norm: input needs a channel axis".into()))?;
    if groups == 0 || !c.is_multiple_of(groups) {
        candle_core::bail!("group_norm: {c} channels are not divisible into {groups} groups");
    }
    Ok((b, c, spatial.iter().product()))
}

/// `Σ f(v)` over `xs` in 16 independent f64 lanes: a single running sum is one dependent add
/// per element (the compiler may not reassociate it), the lanes vectorize.
fn lane_sum(xs: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(f64::from(v));
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| f(f64::from(v))).sum();
    acc.iter().sum::<f64>() + tail
}

/// Mean and reciprocal standard deviation of one group (biased variance, as PyTorch; two
/// passes, so a large mean does not cancel the variance).
fn stats(xs: &[f32], eps: f64) -> (f32, f32) {
    let n = xs.len() as f64;
    let mean = lane_sum(xs, |v| v) / n;
    let var = lane_sum(xs, |v| (v - mean) * (v - mean)) / n;
    (mean as f32, (1.0 / (var + eps).sqrt()) as f32)
}

impl CustomOp3 for GroupNormOp {
    fn name(&self) -> &'static str {
        "muse-group-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, c, hw) = dims(l1.dims(), self.groups)?;
        let x = contiguous_f32(s1, l1, "group_norm input")?;
        let gamma = contiguous_f32(s2, l2, "group_norm weight")?;
        let beta = contiguous_f32(s3, l3, "group_norm bias")?;
        if gamma.len() != c || beta.len() != c {
            candle_core::bail!("group_norm: weight and bias need {c} values");
        }
        let cpg = c / self.groups;
        let group_len = cpg * hw;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(group_len)
            .zip(x.par_chunks(group_len))
            .enumerate()
            .for_each(|(i, (o, xs))| {
                let (mean, rstd) = stats(xs, self.eps);
                let g0 = (i % self.groups) * cpg;
                for (k, (oc, xc)) in o.chunks_mut(hw).zip(xs.chunks(hw)).enumerate() {
                    let scale = gamma[g0 + k] * rstd;
                    let shift = beta[g0 + k] - mean * scale;
                    muse_kernels::f32ops::affine_silu(xc, oc, scale, shift, self.silu);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (_, c, hw) = dims(x.dims(), self.groups)?;
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let mut gv = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let gamma_v = gamma.to_vec1::<f32>()?;
        if self.silu {
            // Through the activation first: with y = GroupNorm(x) (recomputed) and s = σ(y),
            // silu'(y) = s·(1 + y·(1 − s)).
            let y = GroupNormOp {
                silu: false,
                ..*self
            };
            let y = x
                .apply_op3(gamma, beta, y)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            for (g, &y) in gv.iter_mut().zip(&y) {
                let s = 1.0 / (1.0 + (-y).exp());
                *g *= s * (1.0 + y * (1.0 - s));
            }
        }
        let cpg = c / self.groups;
        let group_len = cpg * hw;
        let mut dx = vec![0f32; xv.len()];
        // Per group: this group's contributions to ∂γ and ∂β of its channels.
        let partial: Vec<(usize, Vec<f32>, Vec<f32>)> = dx
            .par_chunks_mut(group_len)
            .zip(xv.par_chunks(group_len))
            .zip(gv.par_chunks(group_len))
            .enumerate()
            .map(|(i, ((dxs, xs), dys))| {
                let (mean, rstd) = stats(xs, self.eps);
                let g0 = (i % self.groups) * cpg;
                let (mut dgamma, mut dbeta) = (vec![0f32; cpg], vec![0f32; cpg]);
                let (mut sum_g, mut sum_gx) = (0f64, 0f64);
                for k in 0..cpg {
                    let (xc, dyc) = (&xs[k * hw..(k + 1) * hw], &dys[k * hw..(k + 1) * hw]);
                    let (mut dg, mut db) = (0f64, 0f64);
                    for (&xv, &dy) in xc.iter().zip(dyc) {
                        let xhat = (xv - mean) * rstd;
                        dg += (dy * xhat) as f64;
                        db += dy as f64;
                    }
                    dgamma[k] = dg as f32;
                    dbeta[k] = db as f32;
                    let gk = gamma_v[g0 + k] as f64;
                    sum_g += db * gk;
                    sum_gx += dg * gk;
                }
                let n = group_len as f64;
                let (mean_g, mean_gx) = ((sum_g / n) as f32, (sum_gx / n) as f32);
                for k in 0..cpg {
                    let gk = gamma_v[g0 + k];
                    let range = k * hw..(k + 1) * hw;
                    for ((d, &xv), &dy) in dxs[range.clone()]
                        .iter_mut()
                        .zip(&xs[range.clone()])
                        .zip(&dys[range])
                    {
                        let xhat = (xv - mean) * rstd;
                        *d = rstd * (dy * gk - mean_g - xhat * mean_gx);
                    }
                }
                (g0, dgamma, dbeta)
            })
            .collect();
        let (mut dgamma, mut dbeta) = (vec![0f32; c], vec![0f32; c]);
        for (g0, dg, db) in partial {
            for k in 0..dg.len() {
                dgamma[g0 + k] += dg[k];
                dbeta[g0 + k] += db[k];
            }
        }
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dgamma, c, dev)?),
            Some(Tensor::from_vec(dbeta, c, dev)?),
        ))
    }
}

/// `GroupNorm(groups, eps)` of `x [B, C, ...]` with affine `weight`, `bias` `[C]`;
/// differentiable in all three. f32 CPU tensors take the fused op; others take candle-nn's
/// composed form.
///
/// # Errors
/// When `C` is not divisible by `groups` or the affine parameters do not have `C` values.
pub fn group_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    groups: usize,
    eps: f64,
) -> Result<Tensor> {
    apply(
        x,
        weight,
        bias,
        GroupNormOp {
            groups,
            eps,
            silu: false,
        },
    )
}

/// `silu(group_norm(x, …))` in one pass over the tensor (same arguments as [`group_norm`]);
/// differentiable in all three.
///
/// # Errors
/// As [`group_norm`].
pub fn group_norm_silu(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    groups: usize,
    eps: f64,
) -> Result<Tensor> {
    apply(
        x,
        weight,
        bias,
        GroupNormOp {
            groups,
            eps,
            silu: true,
        },
    )
}

/// Runs `op` on f32 CPU tensors; any other dtype or device takes candle-nn's composed GroupNorm
/// (and candle's SiLU when `op.silu`).
fn apply(x: &Tensor, weight: &Tensor, bias: &Tensor, op: GroupNormOp) -> Result<Tensor> {
    let fused = matches!(x.device(), Device::Cpu)
        && [x, weight, bias]
            .iter()
            .all(|t| t.dtype() == candle_core::DType::F32);
    if !fused {
        let c = x.dim(1)?;
        let gn = candle_nn::GroupNorm::new(weight.clone(), bias.clone(), c, op.groups, op.eps)?;
        let y = candle_core::Module::forward(&gn, x)?;
        return if op.silu {
            candle_nn::ops::silu(&y)
        } else {
            Ok(y)
        };
    }
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Module, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        a.sub(b)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .unwrap_or(f32::INFINITY)
    }

    #[test]
    fn matches_candle_nn_forward_and_backward() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 2.0, (3, 8, 5, 4), &dev)? + 0.7)?)?;
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 8, &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, 8, &dev)?)?;
        let ours = group_norm(&x, &w, &b, 4, 1e-5)?;
        let gn =
            candle_nn::GroupNorm::new(w.as_tensor().clone(), b.as_tensor().clone(), 8, 4, 1e-5)?;
        let theirs = gn.forward(&x)?;
        assert!(max_diff(&ours, &theirs) < 1e-5);
        let probe = Tensor::randn(0f32, 1.0, ours.shape(), &dev)?;
        let g1 = ours.mul(&probe)?.sum_all()?.backward()?;
        let g2 = theirs.mul(&probe)?.sum_all()?.backward()?;
        for (v, name) in [(&x, "input"), (&w, "weight"), (&b, "bias")] {
            let (Some(a), Some(c)) = (g1.get(v), g2.get(v)) else {
                candle_core::bail!("missing {name} gradient");
            };
            assert!(max_diff(a, c) < 1e-4, "{name}: {}", max_diff(a, c));
        }
        Ok(())
    }

    #[test]
    fn fused_silu_matches_group_norm_then_silu() -> Result<()> {
        let dev = Device::Cpu;
        // A large common offset: the two-pass variance must not lose it.
        let x = Var::from_tensor(&(Tensor::randn(0f32, 2.0, (2, 8, 5, 7), &dev)? + 30.0)?)?;
        let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, 8, &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, 8, &dev)?)?;
        let fused = group_norm_silu(&x, &w, &b, 2, 1e-6)?;
        let gn =
            candle_nn::GroupNorm::new(w.as_tensor().clone(), b.as_tensor().clone(), 8, 2, 1e-6)?;
        let plain = candle_nn::ops::silu(&gn.forward(&x)?)?;
        assert!(
            max_diff(&fused, &plain) < 1e-5,
            "{}",
            max_diff(&fused, &plain)
        );
        let probe = Tensor::randn(0f32, 1.0, fused.shape(), &dev)?;
        let g1 = fused.mul(&probe)?.sum_all()?.backward()?;
        let g2 = plain.mul(&probe)?.sum_all()?.backward()?;
        for (v, name) in [(&x, "input"), (&w, "weight"), (&b, "bias")] {
            let (Some(a), Some(c)) = (g1.get(v), g2.get(v)) else {
                candle_core::bail!("missing {name} gradient");
            };
            assert!(max_diff(a, c) < 1e-4, "{name}: {}", max_diff(a, c));
        }
        Ok(())
    }

    #[test]
    fn indivisible_groups_are_an_error() -> Result<()> {
        let x = Tensor::zeros((1, 6, 2, 2), candle_core::DType::F32, &Device::Cpu)?;
        let w = Tensor::ones(6, candle_core::DType::F32, &Device::Cpu)?;
        assert!(group_norm(&x, &w, &w, 4, 1e-5).is_err());
        Ok(())
    }
}
