//! Weight matrix × activations, parallel over output rows.
//!
//! `out[t][r] = Σ_c W[r][c] · x[t][c]` for a weight of `rows × cols` stored in a ggml block format
//! (one row = `cols` values, as GGUF lays out `ne0 = cols, ne1 = rows`). Formats with a direct kernel
//! take the quantized activations; the rest dequantize one weight row at a time into a small buffer
//! and reuse it for every token, so nothing is ever dequantized whole.

use crate::dequant::dequantize_row;
use crate::dot::{Dot4Fn, DotFn, kernel_for, kernel4_for};
use crate::f32ops;
use crate::q8::Q8Acts;
use crate::types::{GgmlType, KernelError};
use rayon::prelude::*;

/// A weight matrix borrowed from a (usually memory-mapped) file.
#[derive(Debug, Clone, Copy)]
pub struct QWeight<'a> {
    ty: GgmlType,
    data: &'a [u8],
    rows: usize,
    cols: usize,
    row_bytes: usize,
}

impl<'a> QWeight<'a> {
    /// Checks that `data` holds exactly `rows` rows of `cols` values of `ty`.
    pub fn new(
        ty: GgmlType,
        data: &'a [u8],
        rows: usize,
        cols: usize,
    ) -> Result<Self, KernelError> {
        let row_bytes = ty.row_bytes(cols)?;
        let expected = row_bytes.saturating_mul(rows);
        if data.len() != expected {
            return Err(KernelError::WrongByteLength {
                ty,
                rows,
                cols,
                expected,
                found: data.len(),
            });
        }
        Ok(Self {
            ty,
            data,
            rows,
            cols,
            row_bytes,
        })
    }

    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The raw bytes of row `r` (empty if out of range).
    pub fn row(&self, r: usize) -> &'a [u8] {
        self.data
            .get(r * self.row_bytes..(r + 1) * self.row_bytes)
            .unwrap_or(&[])
    }

    /// Dequantize row `r` into `out` (`cols` values).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) -> Result<(), KernelError> {
        if r >= self.rows {
            return Err(KernelError::Shape(format!(
                "row {r} of a {}-row matrix",
                self.rows
            )));
        }
        dequantize_row(self.ty, self.row(r), out)
    }
}

/// Reusable buffers for [`matmul`]: the quantized activations of the last input.
#[derive(Debug, Default, Clone)]
pub struct MatmulScratch {
    q8: Q8Acts,
    exact_f32: bool,
}

impl MatmulScratch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Route every format through row dequantization and f32 dot products, without quantizing
    /// the activations: several times slower, but exact up to f32 rounding — the reference the
    /// quantized kernels are judged against.
    pub fn set_exact_f32(&mut self, exact: bool) {
        self.exact_f32 = exact;
    }

    /// The activations quantized by the last [`MatmulScratch::prepare`].
    pub(crate) fn q8(&self) -> &Q8Acts {
        &self.q8
    }

    /// Whether [`MatmulScratch::set_exact_f32`] is on.
    pub fn is_exact_f32(&self) -> bool {
        self.exact_f32
    }

    /// Quantize `x` once; every following [`matmul`] with the same input reuses it.
    pub fn prepare(&mut self, x: &[f32], cols: usize) {
        if !self.exact_f32 && cols.is_multiple_of(32) && cols > 0 {
            self.q8.quantize(x, cols);
        }
    }
}

fn chunk_rows(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(threads * 4).max(4)
}

/// The token count of an `x` of `x_len` values against a `rows × cols` matrix, checking that `x`
/// holds whole rows and `out` has `tokens × rows` values.
pub(crate) fn check_shapes(
    rows: usize,
    cols: usize,
    x_len: usize,
    out_len: usize,
) -> Result<usize, KernelError> {
    if cols == 0 || !x_len.is_multiple_of(cols) {
        return Err(KernelError::Shape(format!(
            "input of {x_len} values for a matrix with {cols} columns"
        )));
    }
    let tokens = x_len / cols;
    if out_len != tokens * rows {
        return Err(KernelError::Shape(format!(
            "output of {out_len} values for {tokens}x{rows}"
        )));
    }
    Ok(tokens)
}

/// `out = x · Wᵀ` for `tokens = x.len() / cols` tokens. `scratch.prepare(x, cols)` must have been
/// called with this `x` when `w` has a quantized kernel (checked by shape).
pub fn matmul(
    w: &QWeight<'_>,
    x: &[f32],
    scratch: &MatmulScratch,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let (rows, cols) = (w.rows, w.cols);
    let tokens = check_shapes(rows, cols, x.len(), out.len())?;
    let kernel = if scratch.exact_f32 {
        None
    } else {
        kernel_for(w.ty)
    };
    if kernel.is_some() && (scratch.q8.cols() != cols || scratch.q8.tokens() != tokens) {
        return Err(KernelError::Shape(
            "activations were not prepared for this input".into(),
        ));
    }
    let ch = chunk_rows(rows);
    match (kernel, tokens) {
        (Some(k), 1) => {
            let a = scratch.q8.row(0);
            out.par_chunks_mut(ch).enumerate().for_each(|(ci, o)| {
                for (i, v) in o.iter_mut().enumerate() {
                    *v = k(w.row(ci * ch + i), a);
                }
            });
        }
        _ => {
            // Each task computes a tokens × chunk tile, then the tiles are scattered into `out`.
            let tiles: Vec<Result<Vec<f32>, KernelError>> = (0..rows.div_ceil(ch))
                .into_par_iter()
                .map(|ci| {
                    tile(
                        w,
                        kernel,
                        x,
                        &scratch.q8,
                        ci * ch..((ci + 1) * ch).min(rows),
                    )
                })
                .collect();
            for (ci, t) in tiles.into_iter().enumerate() {
                let t = t?;
                let r0 = ci * ch;
                let n = t.len() / tokens;
                for tok in 0..tokens {
                    out[tok * rows + r0..tok * rows + r0 + n]
                        .copy_from_slice(&t[tok * n..(tok + 1) * n]);
                }
            }
        }
    }
    Ok(())
}

fn tile(
    w: &QWeight<'_>,
    kernel: Option<DotFn>,
    x: &[f32],
    q8: &Q8Acts,
    rows: std::ops::Range<usize>,
) -> Result<Vec<f32>, KernelError> {
    let cols = w.cols;
    let tokens = x.len() / cols;
    let n = rows.len();
    let mut t = vec![0.0f32; tokens * n];
    match kernel {
        Some(k) => {
            let k4: Option<Dot4Fn> = kernel4_for(w.ty);
            for (i, r) in rows.enumerate() {
                let wr = w.row(r);
                let mut tok = 0;
                if let Some(k4) = k4 {
                    while tok + 4 <= tokens {
                        let v = k4(
                            wr,
                            &[
                                q8.row(tok),
                                q8.row(tok + 1),
                                q8.row(tok + 2),
                                q8.row(tok + 3),
                            ],
                        );
                        for (j, val) in v.into_iter().enumerate() {
                            t[(tok + j) * n + i] = val;
                        }
                        tok += 4;
                    }
                }
                for tok in tok..tokens {
                    t[tok * n + i] = k(wr, q8.row(tok));
                }
            }
        }
        None => {
            let mut buf = vec![0.0f32; cols];
            for (i, r) in rows.enumerate() {
                w.dequantize_row(r, &mut buf)?;
                for tok in 0..tokens {
                    t[tok * n + i] = f32ops::dot(&buf, &x[tok * cols..(tok + 1) * cols]);
                }
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
        // Deterministic bytes; f16 fields of Q8_0 patched to small finite scales.
        let mut w: Vec<u8> = (0..ty.row_bytes(cols).unwrap_or(0) * rows)
            .map(|i| (i * 89 % 251) as u8)
            .collect();
        if ty == GgmlType::Q8_0 {
            for blk in w.chunks_exact_mut(34) {
                blk[0..2].copy_from_slice(&half::f16::from_f32(0.01).to_bits().to_le_bytes());
            }
        }
        if ty == GgmlType::F32 {
            w = (0..rows * cols)
                .flat_map(|i| ((i % 7) as f32 - 3.0).to_le_bytes())
                .collect();
        }
        w
    }

    #[test]
    fn batched_and_single_token_paths_agree_with_dequantized_product() {
        let (rows, cols, tokens) = (37, 64, 3);
        let x: Vec<f32> = (0..tokens * cols)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 10.0)
            .collect();
        for ty in [GgmlType::Q8_0, GgmlType::F32] {
            let bytes = matrix(ty, rows, cols);
            let w = match QWeight::new(ty, &bytes, rows, cols) {
                Ok(w) => w,
                Err(e) => panic!("{e}"),
            };
            let mut s = MatmulScratch::new();
            s.prepare(&x, cols);
            let mut out = vec![0.0; tokens * rows];
            assert!(matmul(&w, &x, &s, &mut out).is_ok());
            let mut row = vec![0.0; cols];
            for r in 0..rows {
                assert!(w.dequantize_row(r, &mut row).is_ok());
                for t in 0..tokens {
                    let want: f32 = row.iter().zip(&x[t * cols..]).map(|(a, b)| a * b).sum();
                    // Activation quantization errs by at most half a step (amax/254) per value.
                    let mag: f32 = row
                        .iter()
                        .zip(&x[t * cols..])
                        .map(|(a, b)| (a * b).abs())
                        .sum();
                    let got = out[t * rows + r];
                    assert!(
                        (got - want).abs() <= 0.01 * mag + 1e-5,
                        "{ty} r{r} t{t}: {got} vs {want}"
                    );
                }
            }
            // Single-token path gives the same as the batched path for token 0.
            s.prepare(&x[..cols], cols);
            let mut one = vec![0.0; rows];
            assert!(matmul(&w, &x[..cols], &s, &mut one).is_ok());
            for r in 0..rows {
                assert!((one[r] - out[r]).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn wrong_sizes_are_errors_not_panics() {
        assert!(QWeight::new(GgmlType::Q4_1, &[0; 19], 1, 32).is_err());
        let bytes = vec![0u8; 20];
        let Ok(w) = QWeight::new(GgmlType::Q4_1, &bytes, 1, 32) else {
            panic!("valid weight")
        };
        let s = MatmulScratch::new();
        let mut out = vec![0.0; 1];
        assert!(matmul(&w, &[0.0; 31], &s, &mut out).is_err());
        assert!(
            matmul(&w, &[0.0; 32], &s, &mut out).is_err(),
            "unprepared activations"
        );
    }
}
