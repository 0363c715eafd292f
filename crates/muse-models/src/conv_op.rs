//! A candle operation for 2-D convolution backed by [`muse_kernels::conv2d`] (im2col + GEMM, or
//! Winograd F(2×2, 3×3) where it applies), with a backward pass, so UNets both run and train at
//! GEMM speed on the CPU.
//!
//! candle's own CPU convolution is used as the reference in the tests below; the two agree to
//! float rounding. On other devices, or for other dtypes, [`conv2d`] falls back to candle's.

use crate::bert_ops::contiguous_f32;
use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, Device, Layout, Result, Shape, Tensor, TensorId,
};
use muse_kernels::conv2d::{
    Conv2dShape, WinogradWeights, conv2d_backward, conv2d_forward_with, winograd_applies,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The most bytes all [`WinogradCache`]s of a process hold together: 1 GiB.
pub const WINOGRAD_CACHE_BUDGET: usize = 1 << 30;

/// Bytes held by all live [`WinogradCache`]s.
static WINOGRAD_CACHED: AtomicUsize = AtomicUsize::new(0);

/// A share of [`WINOGRAD_CACHE_BUDGET`], given back when dropped.
struct Reserved(usize);

impl Reserved {
    fn take(bytes: usize) -> Option<Self> {
        if bytes > WINOGRAD_CACHE_BUDGET {
            return None;
        }
        // Add first, then check: two threads cannot both pass on the same remainder.
        let before = WINOGRAD_CACHED.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > WINOGRAD_CACHE_BUDGET {
            WINOGRAD_CACHED.fetch_sub(bytes, Ordering::Relaxed);
            return None;
        }
        Some(Self(bytes))
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        WINOGRAD_CACHED.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// Filled contents of a [`WinogradCache`]: the transforms, the weight they were computed from,
/// and their share of the budget (held as long as any op still uses them).
struct Held {
    weights: WinogradWeights,
    weight: TensorId,
    _reserved: Reserved,
}

struct Conv2dOp {
    stride: usize,
    padding: usize,
    /// The weight's Winograd filter transforms, when cached ([`WinogradCache`]).
    winograd: Option<Arc<Held>>,
}

/// The kernel's geometry for input dims `x` and weight dims `w`.
fn geometry(x: &[usize], w: &[usize], stride: usize, padding: usize) -> Result<Conv2dShape> {
    let (&[batch, c_in, h, wd], &[c_out, w_in, kh, kw]) = (x, w) else {
        candle_core::bail!("conv2d: expected 4-d input and weight, got {x:?} and {w:?}");
    };
    if c_in != w_in {
        candle_core::bail!("conv2d: input has {c_in} channels, weight expects {w_in}");
    }
    Ok(Conv2dShape {
        batch,
        c_in,
        h,
        w: wd,
        c_out,
        kh,
        kw,
        stride,
        padding,
    })
}

fn kernel_err(e: muse_kernels::KernelError) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "muse-conv2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let s = geometry(xl.dims(), wl.dims(), self.stride, self.padding)?;
        let x = contiguous_f32(xs, xl, "conv2d input")?;
        let w = contiguous_f32(ws, wl, "conv2d weight")?;
        let pre = self.winograd.as_deref().map(|h| &h.weights);
        let out = conv2d_forward_with(&s, x, w, pre).map_err(kernel_err)?;
        Ok((
            CpuStorage::F32(out),
            Shape::from((s.batch, s.c_out, s.out_h(), s.out_w())),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let s = geometry(x.dims(), w.dims(), self.stride, self.padding)?;
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let wv = w.flatten_all()?.to_vec1::<f32>()?;
        let gv = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let (gx, gw) = conv2d_backward(&s, &xv, &wv, &gv).map_err(kernel_err)?;
        let gx = Tensor::from_vec(gx, x.shape(), x.device())?;
        let gw = Tensor::from_vec(gw, w.shape(), w.device())?;
        Ok((Some(gx), Some(gw)))
    }
}

/// The same convolution with a per-channel bias added in the same pass (saves the broadcast add
/// and, in the backward pass, candle's strided reduction for the bias gradient).
impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "muse-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (storage, shape) = CustomOp2::cpu_fwd(self, xs, xl, ws, wl)?;
        let bias = contiguous_f32(bs, bl, "conv2d bias")?;
        let CpuStorage::F32(mut out) = storage else {
            candle_core::bail!("conv2d: f32 output expected");
        };
        let (c_out, plane) = match shape.dims() {
            &[_, c, h, w] => (c, h * w),
            d => candle_core::bail!("conv2d: unexpected output shape {d:?}"),
        };
        if bias.len() != c_out {
            candle_core::bail!(
                "conv2d: bias has {} values for {c_out} channels",
                bias.len()
            );
        }
        for (i, chunk) in out.chunks_mut(plane).enumerate() {
            let b = bias[i % c_out];
            chunk.iter_mut().for_each(|v| *v += b);
        }
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (gx, gw) = CustomOp2::bwd(self, x, w, res, grad_res)?;
        let (_, c_out, h, wd) = grad_res.dims4()?;
        let g = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut gb = vec![0f32; c_out];
        for (i, chunk) in g.chunks(h * wd).enumerate() {
            gb[i % c_out] += chunk.iter().sum::<f32>();
        }
        Ok((gx, gw, Some(Tensor::from_vec(gb, c_out, x.device())?)))
    }
}

/// The Winograd filter transforms of one layer's weight, computed on the first call that takes
/// the Winograd path and reused after: 16/9 of the weight's size in memory, for layers whose
/// output is at least 16×16. Weights that take part in autograd (a `Var`, or anything computed
/// from one: training) change between calls and are never cached. A cache belongs to one weight
/// tensor: called with another, it runs uncached. All caches of a process together hold at most [`WINOGRAD_CACHE_BUDGET`] bytes
/// (the ddpm-cifar10-32 UNet needs ≈ 73 MB, counted from its layer shapes; a Stable Diffusion
/// UNet in f32 would want several GB, by its size): layers past the budget run uncached —
/// im2col at batches below 4. A dropped model gives its share back.
#[derive(Clone, Default)]
pub struct WinogradCache(Arc<OnceLock<Arc<Held>>>);

impl std::fmt::Debug for WinogradCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WinogradCache({:?})", self.0.get().map(|h| &h.weights))
    }
}

impl WinogradCache {
    /// The transforms of `weight` (the caller's tensor, before any copy: its id and autograd
    /// state decide), filled on first use; `None` to run uncached.
    fn get(
        &self,
        x: &Tensor,
        weight: &Tensor,
        stride: usize,
        padding: usize,
    ) -> Result<Option<Arc<Held>>> {
        if weight.track_op() {
            return Ok(None);
        }
        if let Some(held) = self.0.get() {
            return Ok((held.weight == weight.id()).then(|| held.clone()));
        }
        let s = geometry(x.dims(), weight.dims(), stride, padding)?;
        if !winograd_applies(&s) {
            return Ok(None);
        }
        let Some(reserved) = WinogradWeights::bytes_for(s.c_out, s.c_in).and_then(Reserved::take)
        else {
            return Ok(None);
        };
        let values = weight.flatten_all()?.to_vec1::<f32>()?;
        let held = Arc::new(Held {
            weights: WinogradWeights::new(s.c_out, s.c_in, &values).map_err(kernel_err)?,
            weight: weight.id(),
            _reserved: reserved,
        });
        // When another thread filled the cache first, `held` is dropped here and its share of
        // the budget given back.
        let kept = self.0.get_or_init(|| held);
        Ok((kept.weight == weight.id()).then(|| kept.clone()))
    }
}

/// `conv2d(x [b, c_in, h, w], weight [c_out, c_in, kh, kw])` with equal stride and padding on
/// both axes, no dilation, no groups; differentiable. f32 CPU tensors take Muse's kernel; any
/// other dtype or device takes candle's `conv2d`.
///
/// # Errors
/// On mismatched shapes or a kernel larger than the padded input.
pub fn conv2d(x: &Tensor, weight: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    conv2d_bias(x, weight, None, stride, padding, None)
}

/// [`conv2d`] plus an optional per-output-channel `bias [c_out]`, fused, and optionally a
/// [`WinogradCache`] for the weight's filter transforms.
///
/// # Errors
/// As [`conv2d`], or a bias of the wrong length.
pub fn conv2d_bias(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    cache: Option<&WinogradCache>,
) -> Result<Tensor> {
    let cpu_f32 = matches!(x.device(), Device::Cpu)
        && x.dtype() == candle_core::DType::F32
        && weight.dtype() == candle_core::DType::F32
        && bias.is_none_or(|b| b.dtype() == candle_core::DType::F32);
    if !cpu_f32 {
        let y = x.conv2d(weight, padding, stride, 1, 1)?;
        return match bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
            None => Ok(y),
        };
    }
    let winograd = match cache {
        Some(c) => c.get(x, weight, stride, padding)?,
        None => None,
    };
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    let op = Conv2dOp {
        stride,
        padding,
        winograd,
    };
    match bias {
        Some(b) => x.apply_op3(&weight, &b.contiguous()?, op),
        None => x.apply_op2(&weight, op),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        a.sub(b)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .unwrap_or(f32::INFINITY)
    }

    #[test]
    fn forward_and_gradients_match_candle() -> Result<()> {
        let dev = Device::Cpu;
        for &(stride, padding, k) in &[(1, 1, 3), (2, 1, 3), (1, 0, 1), (2, 0, 2)] {
            // Square input: candle 0.11's own conv backward derives the output padding
            // from the height alone, so a non-square stride-2 case would fail on its side.
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 4, 9, 9), &dev)?)?;
            let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (6, 4, k, k), &dev)?)?;
            let ours = conv2d(x.as_tensor(), w.as_tensor(), stride, padding)?;
            let theirs = x.as_tensor().conv2d(w.as_tensor(), padding, stride, 1, 1)?;
            assert!(
                max_diff(&ours, &theirs) < 1e-4,
                "forward s{stride} p{padding} k{k}"
            );
            // Weighted sum so every output position gets a different gradient.
            let probe = Tensor::randn(0f32, 1.0, ours.shape(), &dev)?;
            let g_ours = ours.mul(&probe)?.sum_all()?.backward()?;
            let g_theirs = theirs.mul(&probe)?.sum_all()?.backward()?;
            for (v, name) in [(&x, "input"), (&w, "weight")] {
                let (Some(a), Some(b)) = (g_ours.get(v), g_theirs.get(v)) else {
                    candle_core::bail!("missing {name} gradient");
                };
                assert!(
                    max_diff(a, b) < 1e-3,
                    "{name} grad s{stride} p{padding} k{k}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn fused_bias_matches_a_broadcast_add() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 6, 6), &dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 3, 3, 3), &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 4, &dev)?)?;
        let fused = conv2d_bias(&x, &w, Some(&b), 1, 1, None)?;
        let plain = conv2d(&x, &w, 1, 1)?.broadcast_add(&b.as_tensor().reshape((1, 4, 1, 1))?)?;
        assert!(max_diff(&fused, &plain) < 1e-5);
        let probe = Tensor::randn(0f32, 1.0, fused.shape(), &dev)?;
        let g1 = fused.mul(&probe)?.sum_all()?.backward()?;
        let g2 = plain.mul(&probe)?.sum_all()?.backward()?;
        for v in [&x, &w, &b] {
            let (Some(a), Some(c)) = (g1.get(v), g2.get(v)) else {
                candle_core::bail!("missing gradient");
            };
            assert!(max_diff(a, c) < 1e-4);
        }
        Ok(())
    }

    #[test]
    fn winograd_cache_fills_for_fixed_weights_only_and_changes_nothing() -> Result<()> {
        let dev = Device::Cpu;
        // 16 channels at 16×16: the Winograd path.
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (1, 16, 16, 16), &dev)?)?;
        let w = Tensor::randn(0f32, 0.2, (16, 16, 3, 3), &dev)?;
        let b = Tensor::randn(0f32, 1.0, 16, &dev)?;
        let reference = x
            .as_tensor()
            .conv2d(&w, 1, 1, 1, 1)?
            .broadcast_add(&b.reshape((1, 16, 1, 1))?)?;
        let cache = WinogradCache::default();
        for _ in 0..2 {
            let y = conv2d_bias(&x, &w, Some(&b), 1, 1, Some(&cache))?;
            assert!(max_diff(&y, &reference) < 1e-4);
            assert!(cache.0.get().is_some(), "fixed weights are cached");
        }
        // The input gradient still flows through the cached path.
        let probe = Tensor::randn(0f32, 1.0, reference.shape(), &dev)?;
        let y = conv2d_bias(&x, &w, Some(&b), 1, 1, Some(&cache))?;
        let g = y.mul(&probe)?.sum_all()?.backward()?;
        let g_ref = reference.mul(&probe)?.sum_all()?.backward()?;
        let (Some(a), Some(c)) = (g.get(&x), g_ref.get(&x)) else {
            candle_core::bail!("missing input gradient");
        };
        assert!(max_diff(a, c) < 1e-3);
        // A Var weight changes between steps: never cached.
        let var = Var::from_tensor(&w)?;
        let fresh = WinogradCache::default();
        conv2d_bias(&x, &var, Some(&b), 1, 1, Some(&fresh))?;
        assert!(fresh.0.get().is_none());
        // Nor is a weight computed from a Var (it is re-made every step).
        conv2d_bias(&x, &(var.as_tensor() * 1.0)?, Some(&b), 1, 1, Some(&fresh))?;
        assert!(fresh.0.get().is_none());
        // A cache filled for `w` and handed another weight runs uncached, with that weight.
        let other = Tensor::randn(0f32, 0.2, (16, 16, 3, 3), &dev)?;
        let want = x
            .as_tensor()
            .conv2d(&other, 1, 1, 1, 1)?
            .broadcast_add(&b.reshape((1, 16, 1, 1))?)?;
        let y = conv2d_bias(&x, &other, Some(&b), 1, 1, Some(&cache))?;
        assert!(max_diff(&y, &want) < 1e-4);
        Ok(())
    }
}
