//! Activation quantization: each run of 32 f32 values becomes one scale and 32 int8 values
//! (symmetric, round-to-nearest: the scheme of ggml's `quantize_row_q8_0`, with the scale kept in f32
//! instead of f16 and the integer sum of each block stored beside it, as ggml's `block_q8_1` does, so
//! kernels for formats with an offset (Q4_0's −8, Q4_1's minimum) can apply it once per block).
//!
//! The layout is struct-of-arrays so a SIMD kernel loads 32 contiguous int8 values per block.

/// Quantized activations for `tokens` rows of `cols` values.
#[derive(Debug, Default, Clone)]
pub struct Q8Acts {
    cols: usize,
    tokens: usize,
    qs: Vec<i8>,
    d: Vec<f32>,
    isum: Vec<i32>,
}

/// One token's quantized activations.
#[derive(Debug, Clone, Copy)]
pub struct Q8Row<'a> {
    pub qs: &'a [i8],
    pub d: &'a [f32],
    pub isum: &'a [i32],
}

impl Q8Acts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Quantize `x` (`tokens` × `cols`, row-major; `cols` a multiple of 32), reusing the buffers.
    pub fn quantize(&mut self, x: &[f32], cols: usize) {
        debug_assert!(cols % 32 == 0 && cols > 0 && x.len() % cols == 0);
        let tokens = x.len() / cols;
        let nb = cols / 32;
        self.cols = cols;
        self.tokens = tokens;
        self.qs.resize(x.len(), 0);
        self.d.resize(tokens * nb, 0.0);
        self.isum.resize(tokens * nb, 0);
        for (((xb, qb), d), s) in x
            .chunks_exact(32)
            .zip(self.qs.chunks_exact_mut(32))
            .zip(self.d.iter_mut())
            .zip(self.isum.iter_mut())
        {
            let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let mut sum = 0i32;
            for (q, v) in qb.iter_mut().zip(xb) {
                // amax/scale = 127 exactly, so rounding stays within i8.
                let r = (v * inv).round() as i32;
                *q = r as i8;
                sum += r;
            }
            *d = scale;
            *s = sum;
        }
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
                assert!((back - x[b * 32 + j]).abs() <= r.d[b] * 0.5 + 1e-6);
                s += r.qs[b * 32 + j] as i32;
            }
            assert_eq!(s, r.isum[b]);
        }
    }

    #[test]
    fn zero_block_has_zero_scale() {
        let mut q = Q8Acts::new();
        q.quantize(&[0.0; 32], 32);
        assert_eq!(q.row(0).d[0], 0.0);
        assert!(q.row(0).qs.iter().all(|&v| v == 0));
    }
}
