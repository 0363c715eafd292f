//! 2-D convolution (NCHW, OIHW weights) as im2col + GEMM, forward and backward; stride-1 3×3
//! forwards on large enough maps take Winograd's F(2×2, 3×3) instead ([`winograd_applies`],
//! `conv2d/winograd.rs`), which needs 2.25× fewer multiplies.
//!
//! The lowering is the classic one of Chellapilla, Puri & Simard, "High Performance
//! Convolutional Neural Networks for Document Processing" (2006): each output position's
//! receptive field becomes one column of a `K × N` matrix (`K = c_in·kh·kw`, `N = h_out·w_out`),
//! so the convolution of one image is the product `W (c_out × K) · cols (K × N)`.
//! The backward pass is two more products on the same matrices:
//! `dW += dY · colsᵀ` and `dcols = Wᵀ · dY`, folded back onto the image by col2im.
//!
//! Why hand-written: candle 0.11's CPU backend computes the input gradient of a convolution
//! with a direct six-deep loop (`conv_transpose2d`), two orders of magnitude slower than its
//! GEMM-based forward, which makes training a UNet on a CPU impractical; and its forward packs
//! the whole batch into one im2col buffer. Here each rayon task owns whole images — its own
//! im2col scratch and, in the backward pass, its own weight-gradient accumulator — and calls the
//! single-threaded `gemm` kernel, so two cores never contend for one product. A batch of one
//! (inference) hands the parallelism to `gemm` instead.

use rayon::prelude::*;
use std::cell::RefCell;

mod winograd;

pub use winograd::WinogradWeights;

/// Whether [`conv2d_forward`] takes the Winograd F(2×2, 3×3) path for `s` (3×3, stride 1, at
/// least 16 channels in and out, outputs of at least 16×16; `MUSE_NO_WINOGRAD` turns it off).
pub fn winograd_applies(s: &Conv2dShape) -> bool {
    winograd::applies(s)
}

use crate::KernelError;

/// The geometry of one convolution: input `[batch, c_in, h, w]`, weight `[c_out, c_in, kh, kw]`,
/// symmetric zero `padding`, equal `stride` on both axes, no dilation, no groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dShape {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Conv2dShape {
    /// Output height: `(h + 2·padding − kh) / stride + 1`.
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.padding - self.kh) / self.stride + 1
    }

    /// Output width: `(w + 2·padding − kw) / stride + 1`.
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.padding - self.kw) / self.stride + 1
    }

    /// Rows of the im2col matrix: one per weight tap of one output channel.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Columns of the im2col matrix: one per output position.
    pub fn n(&self) -> usize {
        self.out_h() * self.out_w()
    }

    fn input_len(&self) -> usize {
        self.batch * self.c_in * self.h * self.w
    }

    fn weight_len(&self) -> usize {
        self.c_out * self.k()
    }

    fn output_len(&self) -> usize {
        self.batch * self.c_out * self.n()
    }

    /// A 1×1, stride-1, unpadded convolution: the image already *is* its im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.padding == 0
    }

    /// Checks the geometry and the slice lengths against it.
    fn check(&self, input: usize, weight: usize, output: Option<usize>) -> Result<(), KernelError> {
        let bad = |what: String| Err(KernelError::Shape(format!("conv2d: {what}")));
        if self.stride == 0 {
            return bad("stride must be at least 1".into());
        }
        if self.kh == 0 || self.kw == 0 || self.c_in == 0 || self.c_out == 0 {
            return bad(format!("empty kernel or channel count in {self:?}"));
        }
        if self.h + 2 * self.padding < self.kh || self.w + 2 * self.padding < self.kw {
            return bad(format!(
                "kernel {}x{} larger than the padded input {}x{}",
                self.kh,
                self.kw,
                self.h + 2 * self.padding,
                self.w + 2 * self.padding
            ));
        }
        if input != self.input_len() {
            return bad(format!(
                "input has {input} values, expected {}",
                self.input_len()
            ));
        }
        if weight != self.weight_len() {
            return bad(format!(
                "weight has {weight} values, expected {}",
                self.weight_len()
            ));
        }
        if let Some(out) = output
            && out != self.output_len()
        {
            return bad(format!(
                "output gradient has {out} values, expected {}",
                self.output_len()
            ));
        }
        Ok(())
    }
}

thread_local! {
    /// This thread's im2col buffers, kept between calls. A fresh multi-megabyte buffer per
    /// convolution page-faulted on every call (perf of a UNet forward: ≈ 17% of the time in the
    /// kernel's `clear_page`). Every element is written before it is read (im2col fills the
    /// padding with zeros, the GEMM overwrites), so a reused buffer needs no clearing. The
    /// buffers keep the size of the largest convolution run on the thread.
    static SCRATCH: RefCell<[Vec<f32>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
}

/// Runs `f` with two buffers of `len_a` and `len_b` values whose contents are unspecified: this
/// thread's scratch, or fresh ones when a call further up this thread's stack holds it (rayon
/// may run another task while a thread waits).
fn with_scratch<R>(len_a: usize, len_b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let [a, b] = &mut *bufs;
            for (v, len) in [(&mut *a, len_a), (&mut *b, len_b)] {
                if v.len() < len {
                    v.resize(len, 0.0);
                }
            }
            f(&mut a[..len_a], &mut b[..len_b])
        }
        Err(_) => f(&mut vec![0f32; len_a], &mut vec![0f32; len_b]),
    })
}

/// Unfolds one image `[c_in, h, w]` into `cols [K, N]` (row `(ci·kh + ky)·kw + kx`, column
/// `oy·w_out + ox`), zero where the receptive field leaves the image.
fn im2col(s: &Conv2dShape, img: &[f32], cols: &mut [f32]) {
    let (ho, wo) = (s.out_h(), s.out_w());
    let n = ho * wo;
    let pad = s.padding as isize;
    for ci in 0..s.c_in {
        let plane = &img[ci * s.h * s.w..(ci + 1) * s.h * s.w];
        for ky in 0..s.kh {
            for kx in 0..s.kw {
                let row = (ci * s.kh + ky) * s.kw + kx;
                let dst = &mut cols[row * n..(row + 1) * n];
                for oy in 0..ho {
                    let iy = (oy * s.stride + ky) as isize - pad;
                    let out_row = &mut dst[oy * wo..(oy + 1) * wo];
                    if iy < 0 || iy >= s.h as isize {
                        out_row.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * s.w..(iy as usize + 1) * s.w];
                    if s.stride == 1 {
                        // Output column ox reads input column ox + kx − pad: one contiguous
                        // run, zero-filled where it falls in the padding.
                        let shift = kx as isize - pad;
                        let lo = (-shift).clamp(0, wo as isize) as usize;
                        let hi = (s.w as isize - shift).clamp(lo as isize, wo as isize) as usize;
                        out_row[..lo].fill(0.0);
                        let start = (lo as isize + shift) as usize;
                        out_row[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
                        out_row[hi..].fill(0.0);
                        continue;
                    }
                    for (ox, o) in out_row.iter_mut().enumerate() {
                        let ix = (ox * s.stride + kx) as isize - pad;
                        *o = if ix < 0 || ix >= s.w as isize {
                            0.0
                        } else {
                            src[ix as usize]
                        };
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the input position it was read
/// from (positions in the padding are dropped).
fn col2im_add(s: &Conv2dShape, cols: &[f32], img: &mut [f32]) {
    let (ho, wo) = (s.out_h(), s.out_w());
    let n = ho * wo;
    let pad = s.padding as isize;
    for ci in 0..s.c_in {
        let plane = &mut img[ci * s.h * s.w..(ci + 1) * s.h * s.w];
        for ky in 0..s.kh {
            for kx in 0..s.kw {
                let row = (ci * s.kh + ky) * s.kw + kx;
                let src = &cols[row * n..(row + 1) * n];
                for oy in 0..ho {
                    let iy = (oy * s.stride + ky) as isize - pad;
                    if iy < 0 || iy >= s.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * s.w..(iy as usize + 1) * s.w];
                    for (ox, &v) in src[oy * wo..(oy + 1) * wo].iter().enumerate() {
                        let ix = (ox * s.stride + kx) as isize - pad;
                        if ix >= 0 && ix < s.w as isize {
                            dst[ix as usize] += v;
                        }
                    }
                }
            }
        }
    }
}

/// Row-major matrix view for [`gemm_into`]: `rows × cols` with the given strides.
#[derive(Clone, Copy)]
struct MatRef {
    ptr: *const f32,
    row_stride: isize,
    col_stride: isize,
}

/// `dst (m × n, row-major) = [dst +] a (m × k) · b (k × n)`.
///
/// # Safety
/// `a`, `b` must address `m × k` and `k × n` valid elements with their strides, and `dst` an
/// `m × n` row-major buffer that nothing else touches during the call.
#[expect(
    clippy::too_many_arguments,
    reason = "a thin wrapper over gemm's own signature"
)]
unsafe fn gemm_into(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    accumulate: bool,
    a: MatRef,
    b: MatRef,
    threads: usize,
) {
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            a.ptr,
            a.col_stride,
            a.row_stride,
            b.ptr,
            b.col_stride,
            b.row_stride,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Images per parallel task and the threads each task hands to gemm: whole images per task when
/// the batch can keep every thread busy, else one task with a multi-threaded gemm.
fn split(batch: usize) -> (usize, usize) {
    let threads = rayon::current_num_threads().max(1);
    if batch >= threads {
        (batch.div_ceil(threads), 1)
    } else {
        (batch.max(1), threads)
    }
}

/// Forward convolution: `x [batch, c_in, h, w]`, `weight [c_out, c_in, kh, kw]` →
/// `[batch, c_out, h_out, w_out]` (no bias: add it with a broadcast).
///
/// # Errors
/// [`KernelError::Shape`] when the slices do not match `s` or the geometry is empty.
pub fn conv2d_forward(s: &Conv2dShape, x: &[f32], weight: &[f32]) -> Result<Vec<f32>, KernelError> {
    conv2d_forward_with(s, x, weight, None)
}

/// [`conv2d_forward`] with the Winograd filter transforms of `weight` computed beforehand
/// ([`WinogradWeights`]), used when the Winograd path applies and they match the shape.
///
/// # Errors
/// As [`conv2d_forward`].
pub fn conv2d_forward_with(
    s: &Conv2dShape,
    x: &[f32],
    weight: &[f32],
    pre: Option<&WinogradWeights>,
) -> Result<Vec<f32>, KernelError> {
    s.check(x.len(), weight.len(), None)?;
    // Without transforms kept from an earlier call, a batch below 4 spends more on transforming
    // the weights than the Winograd products save (docs/benchmarks.md): im2col instead.
    let fits = pre.is_some_and(|w| w.fits(s));
    if winograd::applies(s) && (fits || s.batch >= 4) {
        return Ok(winograd::forward(s, x, weight, pre));
    }
    let (k, n) = (s.k(), s.n());
    let img_len = s.c_in * s.h * s.w;
    let out_len = s.c_out * n;
    let mut out = vec![0f32; s.output_len()];
    let (per_task, gemm_threads) = split(s.batch);
    out.par_chunks_mut(per_task * out_len)
        .zip(x.par_chunks(per_task * img_len))
        .for_each(|(outs, imgs)| {
            let w = MatRef {
                ptr: weight.as_ptr(),
                row_stride: k as isize,
                col_stride: 1,
            };
            let cols_len = if s.is_pointwise() { 0 } else { k * n };
            with_scratch(cols_len, 0, |cols, _| {
                for (o, img) in outs
                    .chunks_exact_mut(out_len)
                    .zip(imgs.chunks_exact(img_len))
                {
                    let src: &[f32] = if s.is_pointwise() {
                        img
                    } else {
                        im2col(s, img, cols);
                        cols
                    };
                    let b = MatRef {
                        ptr: src.as_ptr(),
                        row_stride: n as isize,
                        col_stride: 1,
                    };
                    // SAFETY: w is c_out × k, src is k × n, o is c_out × n — lengths checked above.
                    unsafe { gemm_into(s.c_out, n, k, o.as_mut_ptr(), false, w, b, gemm_threads) };
                }
            });
        });
    Ok(out)
}

/// Gradients of [`conv2d_forward`]: given `grad_out [batch, c_out, h_out, w_out]`, returns
/// `(grad_x [batch, c_in, h, w], grad_weight [c_out, c_in, kh, kw])`.
///
/// # Errors
/// [`KernelError::Shape`] when the slices do not match `s`.
pub fn conv2d_backward(
    s: &Conv2dShape,
    x: &[f32],
    weight: &[f32],
    grad_out: &[f32],
) -> Result<(Vec<f32>, Vec<f32>), KernelError> {
    s.check(x.len(), weight.len(), Some(grad_out.len()))?;
    let (k, n) = (s.k(), s.n());
    let img_len = s.c_in * s.h * s.w;
    let out_len = s.c_out * n;
    let mut grad_x = vec![0f32; x.len()];
    let (per_task, gemm_threads) = split(s.batch);
    let partials: Vec<Vec<f32>> = grad_x
        .par_chunks_mut(per_task * img_len)
        .zip(x.par_chunks(per_task * img_len))
        .zip(grad_out.par_chunks(per_task * out_len))
        .map(|((gxs, imgs), gys)| {
            // Wᵀ as a k × c_out view of the c_out × k weight.
            let wt = MatRef {
                ptr: weight.as_ptr(),
                row_stride: 1,
                col_stride: k as isize,
            };
            let mut grad_w = vec![0f32; s.weight_len()];
            let cols_len = if s.is_pointwise() { 0 } else { k * n };
            with_scratch(cols_len, cols_len, |cols, grad_cols| {
                for ((gx, img), gy) in gxs
                    .chunks_exact_mut(img_len)
                    .zip(imgs.chunks_exact(img_len))
                    .zip(gys.chunks_exact(out_len))
                {
                    let src: &[f32] = if s.is_pointwise() {
                        img
                    } else {
                        im2col(s, img, cols);
                        cols
                    };
                    let dy = MatRef {
                        ptr: gy.as_ptr(),
                        row_stride: n as isize,
                        col_stride: 1,
                    };
                    // colsᵀ as an n × k view of the k × n matrix.
                    let cols_t = MatRef {
                        ptr: src.as_ptr(),
                        row_stride: 1,
                        col_stride: n as isize,
                    };
                    // SAFETY: dy is c_out × n, cols_t n × k, grad_w c_out × k, owned by this task.
                    unsafe {
                        gemm_into(
                            s.c_out,
                            k,
                            n,
                            grad_w.as_mut_ptr(),
                            true,
                            dy,
                            cols_t,
                            gemm_threads,
                        )
                    };
                    let dst = if s.is_pointwise() {
                        gx.as_mut_ptr()
                    } else {
                        grad_cols.as_mut_ptr()
                    };
                    // SAFETY: wt is k × c_out, dy c_out × n, dst k × n (gx for pointwise, which
                    // has exactly c_in·h·w = k·n values), owned by this task.
                    unsafe { gemm_into(k, n, s.c_out, dst, false, wt, dy, gemm_threads) };
                    if !s.is_pointwise() {
                        col2im_add(s, grad_cols, gx);
                    }
                }
            });
            grad_w
        })
        .collect();
    let mut grad_w = vec![0f32; s.weight_len()];
    for p in &partials {
        for (g, v) in grad_w.iter_mut().zip(p) {
            *g += v;
        }
    }
    Ok((grad_x, grad_w))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct six-deep-loop convolution: the definition, for checking the lowering.
    fn direct(s: &Conv2dShape, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (ho, wo) = (s.out_h(), s.out_w());
        let mut out = vec![0f32; s.batch * s.c_out * ho * wo];
        for b in 0..s.batch {
            for co in 0..s.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0f32;
                        for ci in 0..s.c_in {
                            for ky in 0..s.kh {
                                for kx in 0..s.kw {
                                    let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                                    let ix = (ox * s.stride + kx) as isize - s.padding as isize;
                                    if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize
                                    {
                                        continue;
                                    }
                                    let xv = x[((b * s.c_in + ci) * s.h + iy as usize) * s.w
                                        + ix as usize];
                                    let wv = w[((co * s.c_in + ci) * s.kh + ky) * s.kw + kx];
                                    acc += xv * wv;
                                }
                            }
                        }
                        out[((b * s.c_out + co) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        out
    }

    fn pseudo_random(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn shapes() -> Vec<Conv2dShape> {
        let base = Conv2dShape {
            batch: 3,
            c_in: 4,
            h: 7,
            w: 6,
            c_out: 5,
            kh: 3,
            kw: 3,
            stride: 1,
            padding: 1,
        };
        vec![
            base,
            Conv2dShape { stride: 2, ..base },
            Conv2dShape { padding: 0, ..base },
            Conv2dShape {
                kh: 1,
                kw: 1,
                padding: 0,
                ..base
            },
            Conv2dShape {
                batch: 1,
                kh: 2,
                kw: 3,
                stride: 2,
                ..base
            },
            // Winograd F(2×2, 3×3): odd and even output sizes, with and without padding, one
            // image (parallel inside) and several (one per task).
            Conv2dShape {
                batch: 1,
                c_in: 16,
                h: 17,
                w: 18,
                c_out: 17,
                ..base
            },
            Conv2dShape {
                batch: 3,
                c_in: 19,
                h: 18,
                w: 19,
                c_out: 16,
                padding: 0,
                ..base
            },
        ]
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn forward_matches_the_definition() {
        for (i, s) in shapes().into_iter().enumerate() {
            let x = pseudo_random(s.input_len(), i as u32 + 1);
            let w = pseudo_random(s.weight_len(), i as u32 + 100);
            let want = direct(&s, &x, &w);
            let got = conv2d_forward(&s, &x, &w).unwrap();
            assert!(max_diff(&got, &want) < 1e-5, "{s:?}");
            // With the filter transforms computed beforehand (the inference path), Winograd
            // runs at every batch size.
            if s.kh == 3 && s.kw == 3 {
                let pre = WinogradWeights::new(s.c_out, s.c_in, &w).unwrap();
                let got = conv2d_forward_with(&s, &x, &w, Some(&pre)).unwrap();
                assert!(max_diff(&got, &want) < 1e-5, "{s:?} with transforms");
            }
        }
    }

    #[test]
    fn reused_scratch_with_stale_contents_gives_the_same_results() {
        // A big convolution fills this thread's scratch with non-zero values; a smaller padded
        // one then reuses it and must still see zeros in its padding.
        let big = Conv2dShape {
            batch: 1,
            c_in: 8,
            h: 12,
            w: 12,
            c_out: 3,
            kh: 3,
            kw: 3,
            stride: 1,
            padding: 0,
        };
        let xb = pseudo_random(big.input_len(), 7);
        let wb = pseudo_random(big.weight_len(), 8);
        let _ = conv2d_forward(&big, &xb, &wb).unwrap();
        let _ = conv2d_backward(&big, &xb, &wb, &pseudo_random(big.output_len(), 9)).unwrap();
        for (i, s) in shapes().into_iter().enumerate() {
            let x = pseudo_random(s.input_len(), i as u32 + 1);
            let w = pseudo_random(s.weight_len(), i as u32 + 100);
            let first = conv2d_forward(&s, &x, &w).unwrap();
            let _ = conv2d_forward(&big, &xb, &wb).unwrap();
            let again = conv2d_forward(&s, &x, &w).unwrap();
            assert!(max_diff(&first, &direct(&s, &x, &w)) < 1e-5, "{s:?}");
            assert_eq!(first, again, "{s:?}");
        }
    }

    /// The backward pass is the adjoint of the forward one: for a random `dy`,
    /// `<dy, conv(x, w)>` has gradient `grad_x` in x and `grad_w` in w. Both are linear, so
    /// the identities `<grad_x, x> = <dy, conv(x, w)> = <grad_w, w>` hold exactly.
    #[test]
    fn backward_is_the_adjoint_of_forward() {
        for (i, s) in shapes().into_iter().enumerate() {
            let x = pseudo_random(s.input_len(), i as u32 + 7);
            let w = pseudo_random(s.weight_len(), i as u32 + 70);
            let dy = pseudo_random(s.output_len(), i as u32 + 700);
            let (gx, gw) = conv2d_backward(&s, &x, &w, &dy).unwrap();
            let y = direct(&s, &x, &w);
            // In f64: the finite differences below subtract two sums of thousands of terms.
            let dot = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(p, q)| f64::from(*p) * f64::from(*q))
                    .sum::<f64>()
            };
            let reference = dot(&dy, &y);
            assert!(
                (dot(&gx, &x) - reference).abs() < 1e-3 * reference.abs().max(1.0),
                "{s:?}"
            );
            assert!(
                (dot(&gw, &w) - reference).abs() < 1e-3 * reference.abs().max(1.0),
                "{s:?}"
            );
            // And elementwise against a finite difference on one weight and one input.
            let eps = 1e-2;
            let mut w2 = w.clone();
            w2[3] += eps;
            let num = (dot(&dy, &direct(&s, &x, &w2)) - reference) / f64::from(eps);
            assert!(
                (num - f64::from(gw[3])).abs() < 1e-2 * num.abs().max(1.0),
                "{s:?}: {num} vs {}",
                gw[3]
            );
            let mut x2 = x.clone();
            x2[5] += eps;
            let num = (dot(&dy, &direct(&s, &x2, &w)) - reference) / f64::from(eps);
            assert!(
                (num - f64::from(gx[5])).abs() < 1e-2 * num.abs().max(1.0),
                "{s:?}: {num} vs {}",
                gx[5]
            );
        }
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let s = shapes()[0];
        let x = vec![0f32; s.input_len() - 1];
        let w = vec![0f32; s.weight_len()];
        assert!(conv2d_forward(&s, &x, &w).is_err());
        let zero_stride = Conv2dShape { stride: 0, ..s };
        assert!(conv2d_forward(&zero_stride, &vec![0f32; s.input_len()], &w).is_err());
        let dy = vec![0f32; 3];
        assert!(conv2d_backward(&s, &vec![0f32; s.input_len()], &w, &dy).is_err());
    }
}
