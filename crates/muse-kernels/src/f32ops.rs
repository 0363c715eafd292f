//! f32 vector primitives (dot product, `y += a·x`) with an AVX2+FMA path chosen at run time.
//!
//! The portable bodies use 16 independent accumulators so the compiler can keep them in vector
//! registers without reassociating a single sum (which it may not do for floats); compiled inside a
//! `#[target_feature]` function the same body becomes AVX2 FMA code.

use crate::cpu::{SimdLevel, simd_level};

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

#[cfg(test)]
mod tests {
    use super::*;

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
