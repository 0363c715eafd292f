//! f32 vector primitives (dot product, `y += a·x`) with an AVX2+FMA path chosen at run time.
//!
//! The portable bodies use 16 independent accumulators so the compiler can keep them in vector
//! registers without reassociating a single sum (which it may not do for floats); compiled inside a
//! `#[target_feature]` function the same body becomes AVX2 FMA code.

use crate::cpu::{SimdLevel, simd_level};

/// Calls `x86_512::$kernel::<G, C>` for the group sizes and head widths it is compiled for
/// (G ≤ 4 query heads; width 64 or 128 = 4 or 8 vectors) and returns; otherwise falls through.
#[cfg(target_arch = "x86_64")]
macro_rules! dispatch_group {
    ($kernel:ident, $g:expr, $width:expr, $($arg:expr),*) => {
        macro_rules! go {
            ($gg:literal, $c:literal) => {
                // SAFETY: AVX-512F detected (the caller checked the level); every row lies inside
                // `rows` (checked by `rows_fit`); the slices hold `G` vectors of `16·C` and `G`
                // runs of `n`.
                return unsafe { x86_512::$kernel::<$gg, $c>($($arg),*) }
            };
        }
        match ($g, $width) {
            (1, 64) => go!(1, 4),
            (2, 64) => go!(2, 4),
            (3, 64) => go!(3, 4),
            (4, 64) => go!(4, 4),
            (1, 128) => go!(1, 8),
            (2, 128) => go!(2, 8),
            (3, 128) => go!(3, 8),
            (4, 128) => go!(4, 8),
            _ => {}
        }
    };
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..16 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    let mut s = 0.0;
    for v in acc {
        s += v;
    }
    s + tail
}

#[inline(always)]
fn axpy_body(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = xi.mul_add(a, *yi);
    }
}

/// `out[p] = q · rows[p]` where row `p` is `rows[p * stride + offset..][..q.len()]`.
#[inline(always)]
fn dot_rows_body(q: &[f32], rows: &[f32], stride: usize, offset: usize, out: &mut [f32]) {
    let n = q.len();
    for (p, o) in out.iter_mut().enumerate() {
        let start = p * stride + offset;
        *o = match rows.get(start..start + n) {
            Some(r) => dot_body(q, r),
            None => 0.0,
        };
    }
}

/// `out += Σ_p w[p] · rows[p]` with rows laid out as in [`dot_rows`].
#[inline(always)]
fn axpy_rows_body(w: &[f32], rows: &[f32], stride: usize, offset: usize, out: &mut [f32]) {
    let n = out.len();
    for (p, &wp) in w.iter().enumerate() {
        let start = p * stride + offset;
        if let Some(r) = rows.get(start..start + n) {
            axpy_body(wp, r, out);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_rows_avx2(q: &[f32], rows: &[f32], stride: usize, offset: usize, out: &mut [f32]) {
    dot_rows_body(q, rows, stride, offset, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_rows_avx2(w: &[f32], rows: &[f32], stride: usize, offset: usize, out: &mut [f32]) {
    axpy_rows_body(w, rows, stride, offset, out)
}

/// Dot products of `q` with many strided rows (attention scores against a KV cache), in one
/// dispatched call: per-row dispatch cost more than the 64-wide products themselves.
/// Rows that would run past `rows` give 0.
pub fn dot_rows(q: &[f32], rows: &[f32], stride: usize, offset: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx512Vnni && rows_fit(q.len(), rows, stride, offset, out.len()) {
        let n = out.len();
        dispatch_group!(dot_rows_group, 1, q.len(), q, rows, stride, offset, n, out);
    }
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx2 {
        // SAFETY: AVX2 and FMA were detected at run time.
        unsafe { dot_rows_avx2(q, rows, stride, offset, out) };
        return;
    }
    dot_rows_body(q, rows, stride, offset, out)
}

/// `out += Σ_p w[p] · row_p` over strided rows (attention's weighted sum of values).
pub fn axpy_rows(w: &[f32], rows: &[f32], stride: usize, offset: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx512Vnni && rows_fit(out.len(), rows, stride, offset, w.len()) {
        let n = w.len();
        dispatch_group!(
            axpy_rows_group,
            1,
            out.len(),
            w,
            rows,
            stride,
            offset,
            n,
            out
        );
    }
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx2 {
        // SAFETY: AVX2 and FMA were detected at run time.
        unsafe { axpy_rows_avx2(w, rows, stride, offset, out) };
        return;
    }
    axpy_rows_body(w, rows, stride, offset, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(a: f32, x: &[f32], y: &mut [f32]) {
    axpy_body(a, x, y)
}

/// Σ a[i]·b[i] over the common length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx2 {
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { dot_avx2(a, b) };
    }
    dot_body(a, b)
}

/// y[i] += a·x[i] over the common length.
#[inline]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx2 {
        // SAFETY: AVX2 and FMA were detected at run time.
        unsafe { axpy_avx2(a, x, y) };
        return;
    }
    axpy_body(a, x, y)
}

/// Softmax of `scores · scale` in place: `exp(s·scale − max·scale) / Σ`. The AVX-512 path
/// evaluates `exp` as a polynomial (Cephes' `expf`: range reduction by ln 2, degree-5
/// minimax polynomial, `vscalefps` for the power of two; within 2 ulp of libm) sixteen lanes at a
/// time — the scalar libm calls were 3% of a batched decode step.
pub fn softmax_scaled(scores: &mut [f32], scale: f32) {
    if scores.is_empty() {
        return;
    }
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s)) * scale;
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx512Vnni {
        // SAFETY: AVX-512F was detected (implied by the VNNI level).
        let sum = unsafe { x86_512::exp_shifted(scores, scale, max) };
        let inv = 1.0 / sum;
        for s in scores.iter_mut() {
            *s *= inv;
        }
        return;
    }
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s * scale - max).exp();
        sum += *s;
    }
    let inv = 1.0 / sum;
    for s in scores.iter_mut() {
        *s *= inv;
    }
}

/// SwiGLU's gating in place: `g = silu(g) · u = g / (1 + e^−g) · u` (the AVX-512 path uses the
/// same polynomial `exp` as [`softmax_scaled`]).
pub fn silu_mul(g: &mut [f32], u: &[f32]) {
    let n = g.len().min(u.len());
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx512Vnni {
        // SAFETY: AVX-512F was detected (implied by the VNNI level).
        unsafe { x86_512::silu_mul(&mut g[..n], &u[..n]) };
        return;
    }
    for (g, u) in g[..n].iter_mut().zip(&u[..n]) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// `out = a·x + b`, then SiLU (`v / (1 + e^−v)`) when `silu`: the output pass of a group norm,
/// fused with the activation that follows every group norm of a UNet's residual blocks (one
/// pass over the tensor instead of two, and no libm call per element). `out` and `x` have the
/// same length.
pub fn affine_silu(x: &[f32], out: &mut [f32], a: f32, b: f32, silu: bool) {
    let n = x.len().min(out.len());
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx512Vnni {
        // SAFETY: AVX-512F was detected (implied by the VNNI level).
        unsafe { x86_512::affine_silu(&x[..n], &mut out[..n], a, b, silu) };
        return;
    }
    for (o, &v) in out[..n].iter_mut().zip(&x[..n]) {
        let y = v.mul_add(a, b);
        *o = if silu { y / (1.0 + (-y).exp()) } else { y };
    }
}

/// [`dot_rows`] for `G = qs.len() / width` query vectors at once (the query heads of one
/// grouped-query-attention group share their key rows): `out[g·n + p] = q_g · row_p`, with
/// `n = out.len() / G`. Each key row is loaded once for all `G` queries.
pub fn dot_rows_group(
    qs: &[f32],
    width: usize,
    rows: &[f32],
    stride: usize,
    offset: usize,
    out: &mut [f32],
) {
    let g = qs.len().checked_div(width).unwrap_or(0);
    if g == 0 {
        return;
    }
    let n = out.len() / g;
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx512Vnni && rows_fit(width, rows, stride, offset, n) {
        dispatch_group!(dot_rows_group, g, width, qs, rows, stride, offset, n, out);
    }
    for (q, o) in qs.chunks_exact(width).zip(out.chunks_exact_mut(n)) {
        dot_rows(q, rows, stride, offset, o);
    }
}

/// [`axpy_rows`] for `G = out.len() / width` weight vectors at once: `out_g += Σ_p w[g·n + p] ·
/// row_p`, with `n = w.len() / G`. Each value row is loaded once for all `G` outputs.
pub fn axpy_rows_group(
    w: &[f32],
    width: usize,
    rows: &[f32],
    stride: usize,
    offset: usize,
    out: &mut [f32],
) {
    let g = out.len().checked_div(width).unwrap_or(0);
    if g == 0 {
        return;
    }
    let n = w.len() / g;
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx512Vnni && rows_fit(width, rows, stride, offset, n) {
        dispatch_group!(axpy_rows_group, g, width, w, rows, stride, offset, n, out);
    }
    for (wg, o) in w.chunks_exact(n.max(1)).zip(out.chunks_exact_mut(width)) {
        axpy_rows(wg, rows, stride, offset, o);
    }
}

/// Whether `n` rows of `width` values at `p * stride + offset` all lie inside `rows`.
#[cfg(target_arch = "x86_64")]
fn rows_fit(width: usize, rows: &[f32], stride: usize, offset: usize, n: usize) -> bool {
    n == 0
        || (n - 1)
            .checked_mul(stride)
            .and_then(|v| v.checked_add(offset))
            .and_then(|v| v.checked_add(width))
            .is_some_and(|end| end <= rows.len())
}

/// The attention row products at head widths of 64 and 128 (`C` = width / 16 vectors), where one
/// head row fits a few 512-bit registers: the query (or the output accumulator) stays in
/// registers across all rows, and four rows' dot products are reduced together.
#[cfg(target_arch = "x86_64")]
mod x86_512 {
    use std::arch::x86_64::*;

    /// Sum of the 16 lanes of `v`, folded to 4 lanes (the last two steps are shared by four rows).
    #[inline(always)]
    unsafe fn fold4(v: __m512) -> __m128 {
        // SAFETY: register-only AVX-512F operations; the caller enables the feature.
        unsafe {
            let h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps::<1>(v));
            _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h))
        }
    }

    /// `s = exp(s·scale − shift)` for every value; returns their sum.
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    pub(super) unsafe fn exp_shifted(scores: &mut [f32], scale: f32, shift: f32) -> f32 {
        // SAFETY: loads and stores stay within `scores` (full vectors, then a masked tail).
        unsafe {
            let (sc, sh) = (_mm512_set1_ps(scale), _mm512_set1_ps(shift));
            let mut sum = _mm512_setzero_ps();
            let n = scores.len();
            let mut i = 0;
            while i < n {
                let mask = lanes_mask(n - i);
                let p = scores.as_mut_ptr().add(i);
                let x = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(mask, p), sc, sh);
                let e = exp16(x);
                _mm512_mask_storeu_ps(p, mask, e);
                sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mask, e));
                i += 16;
            }
            _mm512_reduce_add_ps(sum)
        }
    }

    /// `exp` of sixteen lanes (Cephes `expf`): `x = n·ln2 + r`, `exp(r) = 1 + r + r²·P(r)`.
    #[inline(always)]
    unsafe fn exp16(x: __m512) -> __m512 {
        // SAFETY: register-only AVX-512F operations; the caller enables the feature.
        unsafe {
            let x = _mm512_max_ps(x, _mm512_set1_ps(-103.0));
            let x = _mm512_min_ps(x, _mm512_set1_ps(88.7));
            let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
            );
            let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
            let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
            let mut p = _mm512_set1_ps(1.987_569_1e-4);
            for c in [
                1.398_199_9e-3,
                8.333_452e-3,
                4.166_579_6e-2,
                0.166_666_65,
                0.5,
            ] {
                p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
            }
            let r2 = _mm512_mul_ps(r, r);
            let e = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0)));
            _mm512_scalef_ps(e, n)
        }
    }

    /// The mask of the first `min(left, 16)` lanes (a loop's last, partial vector).
    #[inline(always)]
    fn lanes_mask(left: usize) -> __mmask16 {
        if left >= 16 {
            0xFFFF
        } else {
            (1u16 << left) - 1
        }
    }

    /// `x / (1 + exp(−x))` of sixteen lanes.
    #[inline(always)]
    unsafe fn silu16(x: __m512) -> __m512 {
        // SAFETY: register-only AVX-512F operations; the caller enables the feature.
        unsafe {
            let e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
            _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0), e))
        }
    }

    /// `g = g / (1 + exp(−g)) · u`, lane-wise; `g` and `u` have the same length.
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    pub(super) unsafe fn silu_mul(g: &mut [f32], u: &[f32]) {
        // SAFETY: masked loads and stores stay within both slices.
        unsafe {
            let n = g.len().min(u.len());
            let mut i = 0;
            while i < n {
                let mask = lanes_mask(n - i);
                let gp = g.as_mut_ptr().add(i);
                let x = _mm512_maskz_loadu_ps(mask, gp);
                let y = _mm512_maskz_loadu_ps(mask, u.as_ptr().add(i));
                let v = _mm512_mul_ps(silu16(x), y);
                _mm512_mask_storeu_ps(gp, mask, v);
                i += 16;
            }
        }
    }

    /// `out = a·x + b` (then SiLU), lane-wise; `x` and `out` have the same length.
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    pub(super) unsafe fn affine_silu(x: &[f32], out: &mut [f32], a: f32, b: f32, silu: bool) {
        // SAFETY: masked loads and stores stay within both slices.
        unsafe {
            let n = x.len().min(out.len());
            let (va, vb) = (_mm512_set1_ps(a), _mm512_set1_ps(b));
            let mut i = 0;
            while i < n {
                let mask = lanes_mask(n - i);
                let v = _mm512_maskz_loadu_ps(mask, x.as_ptr().add(i));
                let mut y = _mm512_fmadd_ps(v, va, vb);
                if silu {
                    y = silu16(y);
                }
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(i), mask, y);
                i += 16;
            }
        }
    }

    /// Safety: AVX-512F; `qs.len() >= G·16·C`, `out.len() >= G·n`, and every row
    /// `p * stride + offset .. + 16·C` for `p < n` inside `rows`.
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    pub(super) unsafe fn dot_rows_group<const G: usize, const C: usize>(
        qs: &[f32],
        rows: &[f32],
        stride: usize,
        offset: usize,
        n: usize,
        out: &mut [f32],
    ) {
        // SAFETY: bounds as documented above.
        unsafe {
            let base = rows.as_ptr().add(offset);
            let q = qs.as_ptr();
            let o = out.as_mut_ptr();
            let dot = |r: &[__m512; C], g: usize| -> __m128 {
                let qg = q.add(g * 16 * C);
                let mut acc = _mm512_mul_ps(r[0], _mm512_loadu_ps(qg));
                for (c, v) in r.iter().enumerate().skip(1) {
                    acc = _mm512_fmadd_ps(*v, _mm512_loadu_ps(qg.add(16 * c)), acc);
                }
                fold4(acc)
            };
            let load = |p: usize| -> [__m512; C] {
                let r = base.add(p * stride);
                std::array::from_fn(|c| _mm512_loadu_ps(r.add(16 * c)))
            };
            let mut p = 0;
            while p + 4 <= n {
                let (r0, r1, r2, r3) = (load(p), load(p + 1), load(p + 2), load(p + 3));
                for g in 0..G {
                    let (a, b, c, d) = (dot(&r0, g), dot(&r1, g), dot(&r2, g), dot(&r3, g));
                    let sums = _mm_hadd_ps(_mm_hadd_ps(a, b), _mm_hadd_ps(c, d));
                    _mm_storeu_ps(o.add(g * n + p), sums);
                }
                p += 4;
            }
            while p < n {
                let r = load(p);
                for g in 0..G {
                    let a = dot(&r, g);
                    let h = _mm_hadd_ps(a, a);
                    *o.add(g * n + p) = _mm_cvtss_f32(_mm_hadd_ps(h, h));
                }
                p += 1;
            }
        }
    }

    /// Safety: AVX-512F; `w.len() >= G·n`, `out.len() >= G·16·C`, rows as in
    /// [`dot_rows_group`].
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    pub(super) unsafe fn axpy_rows_group<const G: usize, const C: usize>(
        w: &[f32],
        rows: &[f32],
        stride: usize,
        offset: usize,
        n: usize,
        out: &mut [f32],
    ) {
        // SAFETY: bounds as documented above.
        unsafe {
            let o = out.as_mut_ptr();
            let mut acc: [[__m512; C]; G] = std::array::from_fn(|g| {
                std::array::from_fn(|c| _mm512_loadu_ps(o.add(16 * (g * C + c))))
            });
            let base = rows.as_ptr().add(offset);
            let wp = w.as_ptr();
            for p in 0..n {
                let r = base.add(p * stride);
                let v: [__m512; C] = std::array::from_fn(|c| _mm512_loadu_ps(r.add(16 * c)));
                for (g, a) in acc.iter_mut().enumerate() {
                    let wv = _mm512_set1_ps(*wp.add(g * n + p));
                    for c in 0..C {
                        a[c] = _mm512_fmadd_ps(wv, v[c], a[c]);
                    }
                }
            }
            for (g, a) in acc.iter().enumerate() {
                for (c, v) in a.iter().enumerate() {
                    _mm512_storeu_ps(o.add(16 * (g * C + c)), *v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_heads_match_single_calls() {
        // Head widths 64 and 128 take the AVX-512 path where there is one; odd row counts cover
        // its four-row and single-row loops.
        for (hd, n) in [(64, 7), (128, 9), (64, 4), (128, 1)] {
            let (stride, offset) = (3 * hd + 16, hd + 5);
            let rows: Vec<f32> = (0..n * stride + offset)
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut scores = vec![0.0; n];
            dot_rows(&q, &rows, stride, offset, &mut scores);
            let w: Vec<f32> = (0..n).map(|p| 0.3 - 0.1 * p as f32).collect();
            let mut acc: Vec<f32> = (0..hd).map(|i| i as f32 * 0.01).collect();
            let mut want = acc.clone();
            axpy_rows(&w, &rows, stride, offset, &mut acc);
            for p in 0..n {
                let r = &rows[p * stride + offset..p * stride + offset + hd];
                let naive: f32 = q.iter().zip(r).map(|(a, b)| a * b).sum();
                assert!((scores[p] - naive).abs() < 1e-4, "hd {hd} row {p}");
                for (y, x) in want.iter_mut().zip(r) {
                    *y += w[p] * x;
                }
            }
            for i in 0..hd {
                assert!((acc[i] - want[i]).abs() < 1e-4, "hd {hd} lane {i}");
            }
        }
    }

    #[test]
    fn softmax_matches_libm() {
        for n in [1usize, 5, 16, 33, 100] {
            let scores: Vec<f32> = (0..n).map(|i| (i as f32 * 1.7).sin() * 40.0).collect();
            let scale = 0.125;
            let mut got = scores.clone();
            softmax_scaled(&mut got, scale);
            let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s)) * scale;
            let e: Vec<f64> = scores
                .iter()
                .map(|&s| (f64::from(s) * f64::from(scale) - f64::from(max)).exp())
                .collect();
            let sum: f64 = e.iter().sum();
            for (g, w) in got.iter().zip(&e) {
                let w = w / sum;
                // f32 rounding of the argument (up to ~5 here) alone gives ~5e-7 relative.
                assert!(
                    (f64::from(*g) - w).abs() <= 2e-6 * w + 1e-30,
                    "n {n}: {g} vs {w}"
                );
            }
        }
        // exp over the whole range it meets: relative error within a few ulp, and 0 far below.
        let xs: Vec<f32> = (0..2000).map(|i| -100.0 + i as f32 * 0.05).collect();
        let mut got = xs.clone();
        #[cfg(target_arch = "x86_64")]
        if simd_level() >= SimdLevel::Avx512Vnni {
            // SAFETY: AVX-512F detected.
            unsafe { x86_512::exp_shifted(&mut got, 1.0, 0.0) };
            for (g, x) in got.iter().zip(&xs) {
                let w = f64::from(*x).exp();
                assert!(
                    (f64::from(*g) - w).abs() <= 3e-7 * w + 1e-38,
                    "exp({x}) = {g}, want {w}"
                );
            }
        }
    }

    #[test]
    fn silu_mul_matches_the_formula() {
        let g0: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.9).collect();
        let u: Vec<f32> = (0..37).map(|i| (i as f32 * 0.3).cos()).collect();
        let mut g = g0.clone();
        silu_mul(&mut g, &u);
        for i in 0..37 {
            let x = f64::from(g0[i]);
            let want = x / (1.0 + (-x).exp()) * f64::from(u[i]);
            assert!(
                (f64::from(g[i]) - want).abs() <= 1e-6 * want.abs() + 1e-7,
                "{i}"
            );
        }
    }

    #[test]
    fn affine_silu_matches_the_formula() {
        for n in [0, 1, 15, 16, 17, 45] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 - 20.0) * 0.7).collect();
            for silu in [false, true] {
                let mut out = vec![f32::NAN; n];
                affine_silu(&x, &mut out, 1.3, -0.4, silu);
                for i in 0..n {
                    let y = f64::from(x[i]) * 1.3 - 0.4;
                    let want = if silu { y / (1.0 + (-y).exp()) } else { y };
                    assert!(
                        (f64::from(out[i]) - want).abs() <= 1e-6 * want.abs() + 1e-6,
                        "n {n} i {i} silu {silu}: {} vs {want}",
                        out[i]
                    );
                }
            }
        }
    }

    #[test]
    fn grouped_rows_match_one_query_at_a_time() {
        for (hd, g, n) in [(64, 3, 7), (64, 4, 9), (128, 2, 6), (64, 5, 3), (32, 3, 5)] {
            let (stride, offset) = (2 * hd + 16, hd / 2 + 3);
            let rows: Vec<f32> = (0..n * stride + offset)
                .map(|i| (i as f32 * 0.29).sin())
                .collect();
            let qs: Vec<f32> = (0..g * hd).map(|i| (i as f32 * 0.07).cos()).collect();
            let mut got = vec![0.0; g * n];
            dot_rows_group(&qs, hd, &rows, stride, offset, &mut got);
            let w: Vec<f32> = (0..g * n).map(|i| 0.2 - 0.03 * i as f32).collect();
            let mut acc: Vec<f32> = (0..g * hd).map(|i| i as f32 * 0.001).collect();
            let mut want_acc = acc.clone();
            axpy_rows_group(&w, hd, &rows, stride, offset, &mut acc);
            for k in 0..g {
                let mut one = vec![0.0; n];
                dot_rows(&qs[k * hd..(k + 1) * hd], &rows, stride, offset, &mut one);
                for p in 0..n {
                    assert!(
                        (got[k * n + p] - one[p]).abs() < 1e-4,
                        "hd {hd} g {k} row {p}"
                    );
                }
                axpy_rows(
                    &w[k * n..(k + 1) * n],
                    &rows,
                    stride,
                    offset,
                    &mut want_acc[k * hd..(k + 1) * hd],
                );
            }
            for i in 0..g * hd {
                assert!((acc[i] - want_acc[i]).abs() < 1e-4, "hd {hd} lane {i}");
            }
        }
    }

    #[test]
    fn strided_rows_match_single_calls() {
        let (hd, stride, offset, n) = (8, 24, 8, 5);
        let rows: Vec<f32> = (0..n * stride).map(|i| (i as f32 * 0.13).sin()).collect();
        let q: Vec<f32> = (0..hd).map(|i| i as f32 - 3.5).collect();
        let mut scores = vec![0.0; n];
        dot_rows(&q, &rows, stride, offset, &mut scores);
        let w: Vec<f32> = (0..n).map(|p| 0.1 * p as f32).collect();
        let mut acc = vec![1.0; hd];
        axpy_rows(&w, &rows, stride, offset, &mut acc);
        let mut want = vec![1.0; hd];
        for p in 0..n {
            let r = &rows[p * stride + offset..p * stride + offset + hd];
            assert!((scores[p] - dot(&q, r)).abs() < 1e-5);
            axpy(w[p], r, &mut want);
        }
        for i in 0..hd {
            assert!((acc[i] - want[i]).abs() < 1e-5);
        }
        // A row past the end scores 0 instead of panicking.
        let mut more = vec![9.0; n + 2];
        dot_rows(&q, &rows, stride, offset, &mut more);
        assert_eq!(more[n + 1], 0.0);
    }

    #[test]
    fn dot_and_axpy_match_naive_sums() {
        for n in [0, 1, 15, 16, 17, 64, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - want).abs() < 1e-4, "n={n}");
            let mut y = b.clone();
            axpy(2.0, &a, &mut y);
            for i in 0..n {
                assert!((y[i] - (b[i] + 2.0 * a[i])).abs() < 1e-6);
            }
        }
    }
}
