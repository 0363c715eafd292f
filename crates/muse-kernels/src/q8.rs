//! Activation quantization: each run of 32 f32 values becomes one scale and 32 int8 values, exactly
//! as ggml's x86 `quantize_row_q8_0` / `quantize_row_q8_1` do it: `d = amax / 127` rounded to f16,
//! values `round_half_even(x · 127 / amax)`, and for Q8_1 the block sum `s = f16(d · Σq)`. Matching
//! that bit for bit is deliberate: two implementations that quantize activations differently
//! disagree by ~0.05 nats per token, enough to flip near-tied greedy choices; quantizing the same
//! way leaves only summation order between Muse and llama.cpp.
//!
//! The layout is struct-of-arrays so a SIMD kernel loads 32 contiguous int8 values per block.

/// Quantized activations for `tokens` rows of `cols` values.
use half::f16;

#[derive(Debug, Default, Clone)]
pub struct Q8Acts {
    cols: usize,
    tokens: usize,
    qs: Vec<i8>,
    d: Vec<f32>,
    isum: Vec<i32>,
    s: Vec<f32>,
}

/// One token's quantized activations.
#[derive(Debug, Clone, Copy)]
pub struct Q8Row<'a> {
    pub qs: &'a [i8],
    /// Block scales (f16 values held in f32).
    pub d: &'a [f32],
    /// Integer sums of each block's quants.
    pub isum: &'a [i32],
    /// `f16(d_unrounded · isum)`, ggml's `block_q8_1::s`, used by formats with a minimum (Q4_1).
    pub s: &'a [f32],
}

impl<'a> Q8Row<'a> {
    /// The same row without its first `n` blocks (empty if `n` is past the end).
    pub fn skip_blocks(&self, n: usize) -> Q8Row<'a> {
        Q8Row {
            qs: self.qs.get(n * 32..).unwrap_or(&[]),
            d: self.d.get(n..).unwrap_or(&[]),
            isum: self.isum.get(n..).unwrap_or(&[]),
            s: self.s.get(n..).unwrap_or(&[]),
        }
    }
}

impl Q8Acts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Quantize `x` (`tokens` × `cols`, row-major; `cols` a multiple of 32), reusing the buffers.
    /// A shape that breaks those rules leaves the buffers empty (0 tokens), which every kernel and
    /// [`crate::matmul`] treat as "not prepared".
    pub fn quantize(&mut self, x: &[f32], cols: usize) {
        if cols == 0 || !cols.is_multiple_of(32) || !x.len().is_multiple_of(cols) {
            self.cols = cols;
            self.tokens = 0;
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::simd_level() >= crate::cpu::SimdLevel::Avx512Vnni {
            // SAFETY: AVX-512F/BW were detected at run time (implied by the VNNI level).
            unsafe { self.quantize_avx512(x, cols) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::simd_level() >= crate::cpu::SimdLevel::Avx2 {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { self.quantize_avx2(x, cols) };
            return;
        }
        self.quantize_body(x, cols);
    }

    /// The same body compiled with AVX2, where `round_ties_even` is one `vroundps` instead of a
    /// libm call per value (which took 5% of prefill time).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn quantize_avx2(&mut self, x: &[f32], cols: usize) {
        self.quantize_body(x, cols);
    }

    /// One block of 32 per pair of 512-bit vectors: the same products, the same round-half-even
    /// (the default MXCSR mode of `vcvtps2dq`) and the same f16 roundings as the scalar body, so
    /// the quants are bit-identical — only faster (the scalar body took ~7% of a batch-16 decode
    /// step).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw")]
    unsafe fn quantize_avx512(&mut self, x: &[f32], cols: usize) {
        use std::arch::x86_64::*;
        self.resize_for(x.len(), cols);
        let abs_mask = _mm512_set1_epi32(0x7FFF_FFFF);
        for (b, xb) in x.chunks_exact(32).enumerate() {
            // SAFETY: `xb` has 32 values and `qs[32b..32b+32]` exists (resized above).
            unsafe {
                let x0 = _mm512_loadu_ps(xb.as_ptr());
                let x1 = _mm512_loadu_ps(xb.as_ptr().add(16));
                let a = _mm512_max_ps(
                    _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x0), abs_mask)),
                    _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x1), abs_mask)),
                );
                let amax = _mm512_reduce_max_ps(a);
                let scale = amax / 127.0;
                let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
                let iv = _mm512_set1_ps(inv);
                let q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, iv));
                let q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, iv));
                let dst = self.qs.as_mut_ptr().add(b * 32);
                _mm_storeu_si128(dst as *mut __m128i, _mm512_cvtepi32_epi8(q0));
                _mm_storeu_si128(dst.add(16) as *mut __m128i, _mm512_cvtepi32_epi8(q1));
                let sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
                *self.d.get_unchecked_mut(b) = f16::from_f32(scale).to_f32();
                *self.isum.get_unchecked_mut(b) = sum;
                *self.s.get_unchecked_mut(b) = f16::from_f32(scale * sum as f32).to_f32();
            }
        }
    }

    #[inline(always)]
    fn quantize_body(&mut self, x: &[f32], cols: usize) {
        self.resize_for(x.len(), cols);
        for ((((xb, qb), d), isum), s) in x
            .chunks_exact(32)
            .zip(self.qs.chunks_exact_mut(32))
            .zip(self.d.iter_mut())
            .zip(self.isum.iter_mut())
            .zip(self.s.iter_mut())
        {
            let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            let mut sum = 0i32;
            for (q, v) in qb.iter_mut().zip(xb) {
                // |v| · 127 / amax ≤ 127, so the rounded value stays within i8.
                let r = (v * inv).round_ties_even() as i32;
                *q = r as i8;
                sum += r;
            }
            *d = f16::from_f32(scale).to_f32();
            *isum = sum;
            *s = f16::from_f32(scale * sum as f32).to_f32();
        }
    }

    /// Sizes the buffers for `len` values in rows of `cols` (a multiple of 32).
    fn resize_for(&mut self, len: usize, cols: usize) {
        let tokens = len / cols;
        let nb = cols / 32;
        self.cols = cols;
        self.tokens = tokens;
        self.qs.resize(len, 0);
        self.d.resize(tokens * nb, 0.0);
        self.isum.resize(tokens * nb, 0);
        self.s.resize(tokens * nb, 0.0);
    }

    pub fn tokens(&self) -> usize {
        self.tokens
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The quantized row of token `t`.
    pub fn row(&self, t: usize) -> Q8Row<'_> {
        let nb = self.cols / 32;
        Q8Row {
            qs: &self.qs[t * self.cols..(t + 1) * self.cols],
            d: &self.d[t * nb..(t + 1) * nb],
            isum: &self.isum[t * nb..(t + 1) * nb],
            s: &self.s[t * nb..(t + 1) * nb],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_error_is_within_half_a_step() {
        let x: Vec<f32> = (0..96)
            .map(|i| ((i * 7919) % 201) as f32 / 37.0 - 2.7)
            .collect();
        let mut q = Q8Acts::new();
        q.quantize(&x, 96);
        let r = q.row(0);
        for b in 0..3 {
            let mut s = 0;
            for j in 0..32 {
                let back = r.qs[b * 32 + j] as f32 * r.d[b];
                // Half a step, plus the f16 rounding of the scale (2^-11 relative, times |q| ≤ 127).
                assert!((back - x[b * 32 + j]).abs() <= r.d[b] * (0.5 + 127.0 / 2048.0) + 1e-6);
                s += r.qs[b * 32 + j] as i32;
            }
            assert_eq!(s, r.isum[b]);
        }
    }

    #[test]
    fn simd_quantization_is_bit_identical_to_the_scalar_body() {
        // Values on exact .5 boundaries (ties) and across magnitudes, plus an all-zero block.
        let mut x: Vec<f32> = (0..32 * 40)
            .map(|i| ((i * 7919) % 1001) as f32 / 13.0 - 38.0)
            .collect();
        // amax 127 makes the scale factor exactly 1, so k + 0.5 are exact ties.
        for (i, v) in x[..32].iter_mut().enumerate() {
            *v = i as f32 - 15.5;
        }
        x[0] = 127.0;
        x[32..64].fill(0.0);
        let mut fast = Q8Acts::new();
        fast.quantize(&x, 320);
        let mut slow = Q8Acts::new();
        slow.quantize_body(&x, 320);
        assert_eq!(fast.qs, slow.qs);
        assert_eq!(fast.isum, slow.isum);
        assert_eq!(fast.d, slow.d);
        assert_eq!(fast.s, slow.s);
    }

    #[test]
    fn zero_block_has_zero_scale() {
        let mut q = Q8Acts::new();
        q.quantize(&[0.0; 32], 32);
        assert_eq!(q.row(0).d[0], 0.0);
        assert!(q.row(0).qs.iter().all(|&v| v == 0));
    }
}
