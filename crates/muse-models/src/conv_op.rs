//! A candle operation for 2-D convolution backed by [`muse_kernels::conv2d`] (im2col + GEMM),
//! with a backward pass, so UNets both run and train at GEMM speed on the CPU.
//!
//! candle's own CPU convolution is used as the reference in the tests below; the two agree to
//! float rounding. On other devices, or for other dtypes, [`conv2d`] falls back to candle's.

use candle_core::{CpuStorage, CustomOp2, Device, Layout, Result, Shape, Tensor};
use muse_kernels::conv2d::{Conv2dShape, conv2d_backward, conv2d_forward};

struct Conv2dOp {
    stride: usize,
    padding: usize,
}

impl Conv2dOp {
    fn geometry(&self, x: &[usize], w: &[usize]) -> Result<Conv2dShape> {
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
            stride: self.stride,
            padding: self.padding,
        })
    }
}

fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = storage else {
        candle_core::bail!("conv2d: {what} must be f32");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&v[start..end]),
        None => candle_core::bail!("conv2d: {what} must be contiguous"),
    }
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
        let s = self.geometry(xl.dims(), wl.dims())?;
        let x = contiguous(xs, xl, "input")?;
        let w = contiguous(ws, wl, "weight")?;
        let out = conv2d_forward(&s, x, w).map_err(kernel_err)?;
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
        let s = self.geometry(x.dims(), w.dims())?;
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let wv = w.flatten_all()?.to_vec1::<f32>()?;
        let gv = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let (gx, gw) = conv2d_backward(&s, &xv, &wv, &gv).map_err(kernel_err)?;
        let gx = Tensor::from_vec(gx, x.shape(), x.device())?;
        let gw = Tensor::from_vec(gw, w.shape(), w.device())?;
        Ok((Some(gx), Some(gw)))
    }
}

/// `conv2d(x [b, c_in, h, w], weight [c_out, c_in, kh, kw])` with equal stride and padding on
/// both axes, no dilation, no groups; differentiable. f32 CPU tensors take Muse's kernel; any
/// other dtype or device takes candle's `conv2d`.
///
/// # Errors
/// On mismatched shapes or a kernel larger than the padded input.
pub fn conv2d(x: &Tensor, weight: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let cpu_f32 = matches!(x.device(), Device::Cpu)
        && x.dtype() == candle_core::DType::F32
        && weight.dtype() == candle_core::DType::F32;
    if !cpu_f32 {
        return x.conv2d(weight, padding, stride, 1, 1);
    }
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    x.apply_op2(&weight, Conv2dOp { stride, padding })
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
}
