//! The non-matmul steps of the BERT forward pass as fused CPU operations on packed rows.
//!
//! candle 0.11 runs large elementwise ops (bias adds, residuals) on its own spinning "barrier"
//! thread pool, beside the rayon pool its matmuls use; on two cores the two pools' threads took
//! turns spinning against each other (≈ 25 % of a MiniLM forward in `perf`). Here every step
//! after a matmul is one pass over the rows in the rayon pool, bias included:
//!
//! * [`Gemm`] — `x · W` with W pre-transposed to `(in, out)`. candle 0.11 hands gemm the
//!   whole product with `Parallelism::Rayon`, which for MiniLM's inner dimension of 384 ran at
//!   ≈ 58 GFLOP/s on two threads against ≈ 90 on *one* (`examples/gemm_probe.rs`). Here each
//!   thread computes its own block of output columns with single-threaded gemm calls, so it packs
//!   only its share of the weights.
//! * [`PackedAttention`] — `softmax(q kᵀ / √d) v` per sequence and head (Vaswani et al. 2017,
//!   eq. 1), q, k, v read from the fused projection with their biases added.
//! * [`BiasGelu`] — `GELU(y + b)` with the exact erf form (Hendrycks & Gimpel 2016).
//! * [`AddNorm`] — `LayerNorm(y + b + residual)` (Ba et al. 2016), BERT's post-norm step; its
//!   three-input form sums the embeddings.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape};
use rayon::prelude::*;

/// Rows per parallel work item in row-wise ops: enough work to amortise a task.
const ROWS_PER_TASK: usize = 16;

pub(crate) fn contiguous_f32<'s>(
    storage: &'s CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'s [f32]> {
    let CpuStorage::F32(v) = storage else {
        candle_core::bail!(
            "{op}: f32 input expected, got {:?}",
            candle_core::backend::BackendStorage::dtype(storage)
        );
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// `x (m, k) · w (k, n)` for a row-major `w` of `k × n`, split by output columns across the
/// rayon pool. Up to [`SMALL_M`] rows it uses [`small_matmul`] on `panels` (the same weights
/// packed by [`pack_panels`]) instead of gemm.
pub(crate) struct Gemm<'a> {
    pub w: &'a [f32],
    pub panels: &'a [f32],
    pub k: usize,
    pub n: usize,
}

/// Rows up to which [`small_matmul`] beats gemm. gemm packs the whole weight matrix into its own
/// layout on every call; with a handful of rows (one sentence) that copy costs as much as the
/// arithmetic, while the pre-packed panels are read straight from memory.
pub(crate) const SMALL_M: usize = 64;
/// Output columns per panel of pre-packed weights: two AVX registers per row.
const PANEL: usize = 16;
/// Rows computed together against one panel (6 × 2 accumulators stay in registers, as in
/// gemm's own 16 × 6 AVX2 tile).
const ROW_BLOCK: usize = 6;

/// Pack a row-major `k × n` matrix into column panels: panel `p` holds columns
/// `p·16 .. p·16+16` as `k` contiguous rows of 16 (the last panel zero-padded).
pub(crate) fn pack_panels(w: &[f32], k: usize, n: usize) -> Vec<f32> {
    let panels = n.div_ceil(PANEL);
    let mut out = vec![0f32; panels * k * PANEL];
    for (p, panel) in out.chunks_exact_mut(k * PANEL).enumerate() {
        let c0 = p * PANEL;
        let cols = PANEL.min(n - c0);
        for (kk, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
            dst[..cols].copy_from_slice(&w[kk * n + c0..kk * n + c0 + cols]);
        }
    }
    out
}

/// `x (m, k) · W` from packed panels, parallel over panels. Returns the row-major `m × n` result.
pub(crate) fn small_matmul(x: &[f32], m: usize, k: usize, panels: &[f32], n: usize) -> Vec<f32> {
    let blocks: Vec<Vec<f32>> = panels
        .par_chunks_exact(k * PANEL)
        .map(|panel| {
            let mut block = vec![0f32; m * PANEL];
            panel_product(x, m, k, panel, &mut block);
            block
        })
        .collect();
    let mut out = vec![0f32; m * n];
    for (p, block) in blocks.iter().enumerate() {
        let c0 = p * PANEL;
        let cols = PANEL.min(n - c0);
        for (r, row) in block.chunks_exact(PANEL).enumerate() {
            out[r * n + c0..r * n + c0 + cols].copy_from_slice(&row[..cols]);
        }
    }
    out
}

/// One panel against every row of `x`: `block (m, 16) = x · panel`.
fn panel_product(x: &[f32], m: usize, k: usize, panel: &[f32], block: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { panel_product_avx2(x, m, k, panel, block) };
        return;
    }
    panel_product_body::<false>(x, m, k, panel, block);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_product_avx2(x: &[f32], m: usize, k: usize, panel: &[f32], block: &mut [f32]) {
    panel_product_body::<true>(x, m, k, panel, block);
}

/// The kernel, written so the compiler keeps a 6 × 16 accumulator tile in registers and
/// vectorises the 16 columns. `FMA` selects fused multiply-add, which is only fast when the
/// function is compiled for a CPU that has it (elsewhere `mul_add` is a library call).
#[inline(always)]
fn panel_product_body<const FMA: bool>(
    x: &[f32],
    m: usize,
    k: usize,
    panel: &[f32],
    block: &mut [f32],
) {
    let mut r = 0;
    while r < m {
        let rows = (m - r).min(ROW_BLOCK);
        // Short last block: repeat its last row (the extra results are not stored).
        let xs: [&[f32]; ROW_BLOCK] = std::array::from_fn(|i| &x[(r + i.min(rows - 1)) * k..][..k]);
        let mut acc = [[0f32; PANEL]; ROW_BLOCK];
        for (kk, w) in panel.chunks_exact(PANEL).enumerate() {
            let Ok(w) = <&[f32; PANEL]>::try_from(w) else {
                continue;
            };
            for (a, xr) in acc.iter_mut().zip(&xs) {
                let xv = xr[kk];
                for (aj, wj) in a.iter_mut().zip(w) {
                    *aj = if FMA {
                        xv.mul_add(*wj, *aj)
                    } else {
                        *aj + xv * wj
                    };
                }
            }
        }
        for (i, a) in acc.iter().enumerate().take(rows) {
            block[(r + i) * PANEL..(r + i + 1) * PANEL].copy_from_slice(a);
        }
        r += ROW_BLOCK;
    }
}

/// A raw destination pointer shared by threads that write disjoint column blocks.
#[derive(Clone, Copy)]
struct DstPtr(*mut f32);
// SAFETY: every thread writes only its own columns of the buffer behind the pointer, and the
// buffer outlives the parallel loop that uses it.
unsafe impl Send for DstPtr {}
unsafe impl Sync for DstPtr {}

impl DstPtr {
    /// A method, not a field access, so closures capture the whole `Send` wrapper.
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// Columns per thread are rounded to this (a multiple of gemm's AVX register width).
const COL_ALIGN: usize = 16;

impl CustomOp1 for Gemm<'_> {
    fn name(&self) -> &'static str {
        "muse-gemm"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let (m, k) = layout.shape().dims2()?;
        let n = self.n;
        if k != self.k || self.w.len() != k * n {
            candle_core::bail!(
                "matmul of ({m}, {k}) by a {} × {n} weight ({} values)",
                self.k,
                self.w.len()
            );
        }
        if m <= SMALL_M {
            if self.panels.len() != n.div_ceil(PANEL) * k * PANEL {
                candle_core::bail!("packed weights do not match a {k} × {n} matrix");
            }
            let out = small_matmul(x, m, k, self.panels, n);
            return Ok((CpuStorage::F32(out), Shape::from((m, n))));
        }
        let mut out = vec![0f32; m * n];
        let threads = rayon::current_num_threads().max(1);
        let per = n.div_ceil(threads).div_ceil(COL_ALIGN) * COL_ALIGN;
        let dst = DstPtr(out.as_mut_ptr());
        (0..n.div_ceil(per)).into_par_iter().for_each(|b| {
            let c0 = b * per;
            let cols = per.min(n - c0);
            // SAFETY: `x` is m × k and `w` k × n, both row-major and fully in bounds (checked
            // above); this call reads columns c0..c0+cols of `w` and writes the same columns of
            // the m × n output, which no other iteration touches.
            unsafe {
                gemm::gemm(
                    m,
                    cols,
                    k,
                    dst.at(c0),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    self.w.as_ptr().add(c0),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// Multi-head attention over packed sequences. Input: the fused projection `(tokens, 3·hidden)`
/// *without* its bias (`bias` is added here), q, k, v side by side in each row. Output: the
/// context `(tokens, hidden)`, heads concatenated. Each sequence attends only to its own rows.
pub(crate) struct PackedAttention<'a> {
    pub seqs: &'a [(usize, usize)],
    pub bias: &'a [f32],
    pub heads: usize,
    pub head_dim: usize,
}

impl CustomOp1 for PackedAttention<'_> {
    fn name(&self) -> &'static str {
        "muse-packed-attention"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = contiguous_f32(storage, layout, self.name())?;
        let hidden = self.heads * self.head_dim;
        let (tokens, width) = layout.shape().dims2()?;
        if width != 3 * hidden || self.bias.len() != width {
            candle_core::bail!(
                "attention input has {width} columns and a {}-long bias, expected {}",
                self.bias.len(),
                3 * hidden
            );
        }
        let mut out = vec![0f32; tokens * hidden];
        // Hand each sequence its own block of output rows, so sequences run in parallel
        // without sharing anything mutable.
        let mut blocks = Vec::with_capacity(self.seqs.len());
        let mut rest = out.as_mut_slice();
        let mut next = 0;
        for &(start, len) in self.seqs {
            if start != next || rest.len() < len * hidden {
                candle_core::bail!("packed sequences are not contiguous at row {start}");
            }
            let (block, tail) = rest.split_at_mut(len * hidden);
            blocks.push((start, len, block));
            rest = tail;
            next = start + len;
        }
        if next != tokens {
            candle_core::bail!("packed sequences cover {next} of {tokens} rows");
        }
        blocks.into_par_iter().for_each(|(start, len, block)| {
            let mut rows = qkv[start * width..(start + len) * width].to_vec();
            for row in rows.chunks_exact_mut(width) {
                for (x, b) in row.iter_mut().zip(self.bias) {
                    *x += b;
                }
            }
            attend_one_fast(&rows, len, self.heads, self.head_dim, block);
        });
        Ok((CpuStorage::F32(out), Shape::from((tokens, hidden))))
    }
}

/// The row loops below are plain Rust written to vectorise (reductions over 8 partial sums);
/// each also gets a copy compiled for AVX2 + FMA, chosen at run time, because the default
/// x86-64 target only allows 4-wide SSE2.
macro_rules! with_avx2 {
    ($name:ident = $body:ident($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA, checked just above.
                    return unsafe { fast($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

with_avx2!(attend_one_fast = attend_one(rows: &[f32], len: usize, heads: usize, d: usize, out: &mut [f32]));
with_avx2!(gelu_rows_fast = gelu_rows(rows: &mut [f32], bias: &[f32]));
with_avx2!(add_norm_rows_fast = add_norm_rows(op: &AddNorm<'_>, inputs: &[&[f32]], rows: &mut [f32], base: usize, cols: usize));

/// Sum in 8 independent lanes (a fixed order, so every build gives the same result).
#[inline(always)]
fn lane_sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Dot product in 8 independent lanes.
#[inline(always)]
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Attention of one sequence: `rows` is its `(len, 3·hidden)` slice, `out` its `(len, hidden)`.
#[inline(always)]
pub(crate) fn attend_one(rows: &[f32], len: usize, heads: usize, d: usize, out: &mut [f32]) {
    let hidden = heads * d;
    let width = 3 * hidden;
    let scale = 1.0 / (d as f32).sqrt();
    let mut p = vec![0f32; len];
    for h in 0..heads {
        let (qo, ko, vo) = (h * d, hidden + h * d, 2 * hidden + h * d);
        for i in 0..len {
            let q = &rows[i * width + qo..i * width + qo + d];
            let mut max = f32::NEG_INFINITY;
            for (j, pj) in p.iter_mut().enumerate() {
                let k = &rows[j * width + ko..j * width + ko + d];
                let s = lane_dot(q, k) * scale;
                *pj = s;
                max = max.max(s);
            }
            let mut sum = 0.0;
            for pj in p.iter_mut() {
                *pj = (*pj - max).exp();
                sum += *pj;
            }
            let inv = 1.0 / sum;
            let o = &mut out[i * hidden + h * d..i * hidden + (h + 1) * d];
            o.fill(0.0);
            for (j, &pj) in p.iter().enumerate() {
                let v = &rows[j * width + vo..j * width + vo + d];
                let w = pj * inv;
                for (oi, vi) in o.iter_mut().zip(v) {
                    *oi += w * vi;
                }
            }
        }
    }
}

/// `GELU(y + bias)` with the exact erf form, `z/2 · (1 + erf(z/√2))`, row-parallel.
///
/// candle's own `gelu_erf` calls libm's scalar `erff` on one thread. This uses Abramowitz &
/// Stegun 7.1.28 (`erf x ≈ 1 − (1 + a₁x + … + a₆x⁶)⁻¹⁶`, |error| ≤ 3·10⁻⁷ for x ≥ 0, odd
/// extension below), which has no exponential and vectorises.
pub(crate) struct BiasGelu<'a> {
    pub bias: &'a [f32],
}

impl CustomOp1 for BiasGelu<'_> {
    fn name(&self) -> &'static str {
        "muse-bias-gelu"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let (_, cols) = layout.shape().dims2()?;
        if cols != self.bias.len() {
            candle_core::bail!("bias has {} values for {cols} columns", self.bias.len());
        }
        let mut out = x.to_vec();
        out.par_chunks_mut(cols * ROWS_PER_TASK)
            .for_each(|rows| gelu_rows_fast(rows, self.bias));
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

#[inline(always)]
fn gelu_rows(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            let z = *v + b;
            *v = 0.5 * z * (1.0 + erf_as(z * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// `erf` to within 3·10⁻⁷ (Abramowitz & Stegun 7.1.28).
#[inline(always)]
pub fn erf_as(x: f32) -> f32 {
    const A: [f32; 6] = [
        0.070_523_08,
        0.042_282_01,
        0.009_270_527,
        0.000_152_014_3,
        0.000_276_567_2,
        0.000_043_063_8,
    ];
    // Beyond 6 the polynomial's 16th power would overflow; erf is 1 to f32 precision there.
    let a = x.abs().min(6.0);
    let poly = 1.0 + a * (A[0] + a * (A[1] + a * (A[2] + a * (A[3] + a * (A[4] + a * A[5])))));
    let p2 = poly * poly;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    let e = 1.0 - 1.0 / (p8 * p8);
    e.copysign(x)
}

/// `LayerNorm(sum of the inputs + bias) · weight + ln_bias`, row by row, in parallel. As a
/// [`CustomOp2`] the inputs are a matmul output and the residual; as a [`CustomOp3`] the three
/// embedding lookups.
pub(crate) struct AddNorm<'a> {
    /// Added before normalising (a dense layer's bias), if any.
    pub bias: Option<&'a [f32]>,
    pub weight: &'a [f32],
    pub ln_bias: &'a [f32],
    pub eps: f32,
}

impl AddNorm<'_> {
    fn run(&self, inputs: &[&[f32]], shape: &Shape) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, cols) = shape.dims2()?;
        if self.weight.len() != cols
            || self.ln_bias.len() != cols
            || self.bias.is_some_and(|b| b.len() != cols)
        {
            candle_core::bail!("layer-norm parameters do not match {cols} columns");
        }
        let n = shape.elem_count();
        if inputs.iter().any(|x| x.len() != n) {
            candle_core::bail!("layer-norm inputs differ in size");
        }
        let mut out = inputs[0].to_vec();
        let chunk = cols * ROWS_PER_TASK;
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(c, rows)| add_norm_rows_fast(self, inputs, rows, c * chunk, cols));
        Ok((CpuStorage::F32(out), shape.clone()))
    }
}

/// Rows `base / cols ..` of the output: `rows` starts as the first input's rows.
#[inline(always)]
fn add_norm_rows(op: &AddNorm<'_>, inputs: &[&[f32]], rows: &mut [f32], base: usize, cols: usize) {
    for (r, row) in rows.chunks_exact_mut(cols).enumerate() {
        let at = base + r * cols;
        for x in inputs.iter().skip(1) {
            for (v, a) in row.iter_mut().zip(&x[at..at + cols]) {
                *v += a;
            }
        }
        if let Some(b) = op.bias {
            for (v, a) in row.iter_mut().zip(b) {
                *v += a;
            }
        }
        let mean = lane_sum(row) / cols as f32;
        for v in row.iter_mut() {
            *v -= mean;
        }
        let var = lane_dot(row, row) / cols as f32;
        let inv = 1.0 / (var + op.eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(op.weight).zip(op.ln_bias) {
            *v = *v * inv * w + b;
        }
    }
}

impl CustomOp2 for AddNorm<'_> {
    fn name(&self) -> &'static str {
        "muse-add-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = contiguous_f32(s1, l1, "muse-add-norm")?;
        let b = contiguous_f32(s2, l2, "muse-add-norm")?;
        self.run(&[a, b], l1.shape())
    }
}

impl CustomOp3 for AddNorm<'_> {
    fn name(&self) -> &'static str {
        "muse-add-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = contiguous_f32(s1, l1, "muse-add-norm")?;
        let b = contiguous_f32(s2, l2, "muse-add-norm")?;
        let c = contiguous_f32(s3, l3, "muse-add-norm")?;
        self.run(&[a, b, c], l1.shape())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use candle_core::{Device, Tensor};

    /// erf by its Maclaurin series in f64: exact enough on [-5, 5] to judge an f32 approximation.
    fn erf_ref(x: f64) -> f64 {
        if x.abs() > 5.0 {
            return x.signum();
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_approximation_is_within_a_few_ulp_of_one() {
        let mut worst = 0f64;
        for i in -8000..=8000 {
            let x = i as f32 / 1000.0;
            let err = (erf_as(x) as f64 - erf_ref(x as f64)).abs();
            worst = worst.max(err);
        }
        assert!(worst < 1.5e-6, "max |erf error| {worst}");
        assert_eq!(erf_as(0.0), 0.0);
        assert_eq!(erf_as(40.0), 1.0);
        assert_eq!(erf_as(-40.0), -1.0);
    }

    #[test]
    fn attention_of_one_token_returns_its_value() {
        // One token: softmax over one key is 1, so the context is v itself.
        let row = [1.0, 2.0, 3.0, 4.0, 0.5, 0.5, 0.5, 0.5, 9.0, 8.0, 7.0, 6.0];
        let mut out = vec![0.0; 4];
        attend_one(&row, 1, 2, 2, &mut out);
        assert_eq!(out, vec![9.0, 8.0, 7.0, 6.0]);
    }

    #[test]
    fn small_matmul_matches_a_naive_product() {
        let (m, k, n) = (7, 13, 37);
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
            .collect();
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 17) as f32 - 8.0) / 9.0)
            .collect();
        let got = small_matmul(&x, m, k, &pack_panels(&w, k, n), n);
        for r in 0..m {
            for c in 0..n {
                let want: f32 = (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum();
                assert!((got[r * n + c] - want).abs() < 1e-4, "{r},{c}");
            }
        }
    }

    #[test]
    fn add_norm_matches_the_definition() {
        let dev = Device::Cpu;
        let a = Tensor::new(&[[1f32, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, -1.0]], &dev).unwrap();
        let b = Tensor::new(&[[0.5f32, 0.0, -0.5, 1.0], [2.0, 2.0, 2.0, 2.0]], &dev).unwrap();
        let (bias, w, lb) = (
            [0.1f32, 0.2, 0.3, 0.4],
            [1.0f32, 2.0, 0.5, 1.0],
            [0.0f32, 1.0, 0.0, -1.0],
        );
        let op = AddNorm {
            bias: Some(&bias),
            weight: &w,
            ln_bias: &lb,
            eps: 1e-5,
        };
        let got = a
            .apply_op2_no_bwd(&b, &op)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let (av, bv) = (a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        for r in 0..2 {
            let s: Vec<f64> = (0..4)
                .map(|c| (av[r][c] + bv[r][c] + bias[c]) as f64)
                .collect();
            let mean = s.iter().sum::<f64>() / 4.0;
            let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0;
            for c in 0..4 {
                let want = (s[c] - mean) / (var + 1e-5).sqrt() * w[c] as f64 + lb[c] as f64;
                assert!((got[r][c] as f64 - want).abs() < 1e-5, "{r},{c}");
            }
        }
    }
}
