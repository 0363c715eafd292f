//! Q4_1 and Q8_0 weights repacked sixteen rows at a time, for products over several tokens at
//! once (batched decode of concurrent requests, prefill, and the output head over a batch).
//!
//! The row-at-a-time kernels in [`crate::dot`] spend one f32 conversion, one scale permute and one
//! FMA on every 64 multiply-adds: the vector lanes there split *one* row's block into partial sums,
//! so every block of every row × token pair has to be rescaled separately. Here lane `j` of a
//! 512-bit vector belongs to row `j` of a group of sixteen, so one `vpdpbusd` performs four
//! multiply-adds for each of sixteen rows against one broadcast word of the activations, and the
//! per-block rescaling (`d_w·d_a·Σq_w q_a + m_w·s_a`, ggml's Q4_1 · Q8_1 formula) happens once per
//! sixteen rows, with the sixteen scales of a group already side by side. This is the idea behind
//! llama.cpp's "repacked" CPU buffers (`ggml-cpu/repack.cpp`, `block_q4_0x8`): interleave rows so
//! the SIMD lanes run across rows instead of along one.
//!
//! Layout of one group of 16 rows, for each block `b` of 32 columns (always as many bytes as the
//! sixteen original blocks):
//!
//! * **Q4_1** (320 bytes): bytes 0..32 the sixteen rows' `d` (f16), row order; 32..64 their `m`;
//!   64..320 four chunks of 64 bytes, chunk `k` holding bytes `4k..4k+4` of each row's packed
//!   nibbles in row order. A low nibble of byte `i` is column `i`, a high nibble column `i + 16`
//!   (the ggml order), so chunk `k` pairs with activation columns `4k..4k+4` (low nibbles) and
//!   `16+4k..16+4k+4` (high nibbles).
//! * **Q8_0** (544 bytes): bytes 0..32 the sixteen `d`; 32..544 eight chunks of 64 bytes, chunk
//!   `k` holding quants `4k..4k+4` of each row, stored as `q + 128` so they are the unsigned side
//!   of `vpdpbusd`; the `128·Σq_a` this adds is subtracted once per block from the integer sum.
//!
//! Only matrices whose row count is a multiple of 16 are packed, and only where AVX-512 VNNI
//! exists; everything else keeps the row kernels.

use rayon::prelude::*;

use crate::matmul::{MatmulScratch, QWeight, check_shapes};
use crate::types::{GgmlType, KernelError};

/// Rows per packed group: one per 32-bit lane of a 512-bit vector.
pub const GROUP: usize = 16;

/// A Q4_1 or Q8_0 matrix in the row-interleaved layout described in the module docs.
#[derive(Debug, Clone)]
pub struct Packed {
    ty: GgmlType,
    data: Vec<u8>,
    rows: usize,
    cols: usize,
}

/// Bytes of one original block of `ty` (the packed formats only).
fn block_bytes(ty: GgmlType) -> usize {
    match ty {
        GgmlType::Q8_0 => 34,
        _ => 20,
    }
}

impl Packed {
    /// Whether a matrix of this type and shape can be packed and has a packed kernel on this CPU.
    pub fn supported(ty: GgmlType, rows: usize, cols: usize) -> bool {
        matches!(ty, GgmlType::Q4_1 | GgmlType::Q8_0)
            && rows > 0
            && rows.is_multiple_of(GROUP)
            && cols > 0
            && cols.is_multiple_of(32)
            && has_kernel()
    }

    /// Repack `w`; `None` when [`Packed::supported`] says no.
    pub fn pack(w: &QWeight<'_>) -> Option<Self> {
        if !Self::supported(w.ty(), w.rows(), w.cols()) {
            return None;
        }
        let (ty, rows, cols) = (w.ty(), w.rows(), w.cols());
        let nb = cols / 32;
        let bb = block_bytes(ty);
        let packed_bb = GROUP * bb;
        let mut data = vec![0u8; rows / GROUP * nb * packed_bb];
        data.par_chunks_mut(nb * packed_bb)
            .enumerate()
            .for_each(|(g, out)| {
                for (b, dst) in out.chunks_exact_mut(packed_bb).enumerate() {
                    for j in 0..GROUP {
                        let src = &w.row(g * GROUP + j)[b * bb..(b + 1) * bb];
                        dst[2 * j..2 * j + 2].copy_from_slice(&src[0..2]);
                        if ty == GgmlType::Q8_0 {
                            for k in 0..8 {
                                let at = 32 + 64 * k + 4 * j;
                                for (d, &q) in dst[at..at + 4].iter_mut().zip(&src[2 + 4 * k..]) {
                                    *d = q ^ 0x80;
                                }
                            }
                        } else {
                            dst[32 + 2 * j..32 + 2 * j + 2].copy_from_slice(&src[2..4]);
                            for k in 0..4 {
                                let at = 64 + 64 * k + 4 * j;
                                dst[at..at + 4].copy_from_slice(&src[4 + 4 * k..8 + 4 * k]);
                            }
                        }
                    }
                }
            });
        Some(Self {
            ty,
            data,
            rows,
            cols,
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

    /// Bytes held (the same as the original matrix).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn group(&self, g: usize) -> &[u8] {
        let n = self.cols / 32 * GROUP * block_bytes(self.ty);
        &self.data[g * n..(g + 1) * n]
    }
}

fn has_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::cpu::simd_level() >= crate::cpu::SimdLevel::Avx512Vnni
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out = x · Wᵀ` for a packed matrix; `scratch.prepare(x, cols)` must have been called with `x`.
pub fn matmul_packed(
    w: &Packed,
    x: &[f32],
    scratch: &MatmulScratch,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let (rows, cols) = (w.rows, w.cols);
    let tokens = check_shapes(rows, cols, x.len(), out.len())?;
    let q8 = scratch.q8();
    if q8.cols() != cols || q8.tokens() != tokens || scratch.is_exact_f32() {
        return Err(KernelError::Shape(
            "activations were not prepared for this input".into(),
        ));
    }
    let groups = rows / GROUP;
    // A few tasks per thread, each a run of groups × every token, writing its rows of every
    // token's output directly (no per-task tile to allocate and scatter).
    let per_task = groups
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1);
    let dst = OutPtr(out.as_mut_ptr());
    (0..groups.div_ceil(per_task))
        .into_par_iter()
        .for_each(|task| {
            let dst = &dst;
            for g in task * per_task..((task + 1) * per_task).min(groups) {
                let wg = w.group(g);
                let mut t0 = 0;
                while t0 < tokens {
                    let t1 = (t0 + TOKEN_TILE).min(tokens);
                    let mut acc = [[0.0f32; GROUP]; TOKEN_TILE];
                    group_product(w.ty, wg, q8, t0..t1, &mut acc);
                    for (t, a) in (t0..t1).zip(&acc) {
                        // SAFETY: `out` holds `tokens × rows` values (checked above); row group
                        // `g` of token `t` is written by this task alone.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                a.as_ptr(),
                                dst.0.add(t * rows + g * GROUP),
                                GROUP,
                            )
                        };
                    }
                    t0 = t1;
                }
            }
        });
    Ok(())
}

/// The output buffer, shared by tasks that write disjoint parts of it.
struct OutPtr(*mut f32);
// SAFETY: the tasks of `matmul_packed` write disjoint (token, row group) ranges only.
unsafe impl Sync for OutPtr {}

/// Tokens per kernel call. The Q8_0 kernel keeps all sixteen float accumulators in registers
/// beside its eight weight vectors; the Q4_1 kernel takes them in two passes of eight.
const TOKEN_TILE: usize = 16;

/// The sixteen rows of one group against tokens `ts` (at most [`TOKEN_TILE`]).
fn group_product(
    ty: GgmlType,
    wg: &[u8],
    q8: &crate::q8::Q8Acts,
    ts: std::ops::Range<usize>,
    acc: &mut [[f32; GROUP]; TOKEN_TILE],
) {
    #[cfg(target_arch = "x86_64")]
    if has_kernel() {
        // A fixed array, not a Vec: this runs once per row group and token tile.
        let last = ts.end.saturating_sub(1);
        let rows: [crate::q8::Q8Row<'_>; TOKEN_TILE] =
            std::array::from_fn(|i| q8.row((ts.start + i).min(last)));
        let rows = &rows[..ts.len().min(TOKEN_TILE)];
        // SAFETY: AVX-512 VNNI was detected; the kernel bounds every read by the slices' lengths.
        unsafe {
            match ty {
                GgmlType::Q8_0 => x86::group_product_q8_0(wg, rows, acc),
                _ => x86::group_product_q4_1(wg, rows, acc),
            }
        };
        return;
    }
    // Unreachable in practice: packing is refused where no kernel exists.
    let _ = (ty, wg, q8, ts, acc);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{GROUP, TOKEN_TILE};
    use crate::q8::Q8Row;
    use std::arch::x86_64::*;

    const Q4_1_BYTES: usize = GROUP * 20;
    const Q8_0_BYTES: usize = GROUP * 34;

    /// One token's activations as raw pointers, hoisted out of the block loop.
    #[derive(Clone, Copy)]
    struct Tok {
        qs: *const i32,
        d: *const f32,
        s: *const f32,
        isum: *const i32,
    }

    /// Blocks every token and the group hold, and the tokens' pointers.
    fn prepare<const N: usize>(
        wg: &[u8],
        group_bytes: usize,
        toks: &[Q8Row<'_>],
    ) -> (usize, [Tok; N]) {
        let mut nb = wg.len() / group_bytes;
        for r in toks {
            nb = nb
                .min(r.d.len())
                .min(r.s.len())
                .min(r.isum.len())
                .min(r.qs.len() / 32);
        }
        let ptrs = std::array::from_fn(|t| {
            let r = &toks[t.min(toks.len().saturating_sub(1))];
            Tok {
                qs: r.qs.as_ptr() as *const i32,
                d: r.d.as_ptr(),
                s: r.s.as_ptr(),
                isum: r.isum.as_ptr(),
            }
        });
        (nb, ptrs)
    }

    /// Dispatch on the tile's token count, so each kernel is compiled for a fixed `N`: the
    /// token loop unrolls and its accumulators stay in registers.
    macro_rules! by_count {
        ($kernel:ident, $wg:expr, $toks:expr, $acc:expr) => {
            match $toks.len() {
                0 => {}
                1 => $kernel::<1>($wg, $toks, $acc),
                2 => $kernel::<2>($wg, $toks, $acc),
                3 => $kernel::<3>($wg, $toks, $acc),
                4 => $kernel::<4>($wg, $toks, $acc),
                5 => $kernel::<5>($wg, $toks, $acc),
                6 => $kernel::<6>($wg, $toks, $acc),
                7 => $kernel::<7>($wg, $toks, $acc),
                8 => $kernel::<8>($wg, $toks, $acc),
                9 => $kernel::<9>($wg, $toks, $acc),
                10 => $kernel::<10>($wg, $toks, $acc),
                11 => $kernel::<11>($wg, $toks, $acc),
                12 => $kernel::<12>($wg, $toks, $acc),
                13 => $kernel::<13>($wg, $toks, $acc),
                14 => $kernel::<14>($wg, $toks, $acc),
                15 => $kernel::<15>($wg, $toks, $acc),
                _ => $kernel::<16>($wg, $toks, $acc),
            }
        };
    }

    /// Safety: the CPU has AVX-512 F/BW/VL/VNNI and F16C; `toks.len() <= TOKEN_TILE`.
    pub(super) unsafe fn group_product_q4_1(
        wg: &[u8],
        toks: &[Q8Row<'_>],
        acc: &mut [[f32; GROUP]; TOKEN_TILE],
    ) {
        // At most eight tokens per pass: sixteen float accumulators next to the eight unpacked
        // weight vectors would not leave registers for the integer sums.
        let (first, rest) = toks.split_at(toks.len().min(8));
        let (acc_first, acc_rest) = acc.split_at_mut(8);
        // SAFETY: forwarded from the caller.
        unsafe {
            by_count!(q4_1_tile, wg, first, acc_first);
            by_count!(q4_1_tile, wg, rest, acc_rest);
        }
    }

    /// Safety: as for [`group_product_q4_1`].
    pub(super) unsafe fn group_product_q8_0(
        wg: &[u8],
        toks: &[Q8Row<'_>],
        acc: &mut [[f32; GROUP]; TOKEN_TILE],
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { by_count!(q8_0_tile, wg, toks, acc) }
    }

    /// `acc[t][j] = Σ_b d_j·d_a·Σ q_j q_a + m_j·s_a` for row `j` of the group and token `t < N`.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn q4_1_tile<const N: usize>(wg: &[u8], toks: &[Q8Row<'_>], acc: &mut [[f32; GROUP]]) {
        let (nb, tk) = prepare::<N>(wg, Q4_1_BYTES, toks);
        // SAFETY: every read is within block `b < nb` of `wg` and of each token's row.
        unsafe {
            let mask = _mm512_set1_epi8(0x0F);
            let mut f = [_mm512_setzero_ps(); N];
            let wp = wg.as_ptr();
            for b in 0..nb {
                let p = wp.add(b * Q4_1_BYTES);
                let dw = _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i));
                let mw = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(32) as *const __m256i));
                let mut lo = [_mm512_setzero_si512(); 4];
                let mut hi = [_mm512_setzero_si512(); 4];
                for k in 0..4 {
                    let v = _mm512_loadu_si512(p.add(64 + 64 * k) as *const __m512i);
                    lo[k] = _mm512_and_si512(v, mask);
                    hi[k] = _mm512_and_si512(_mm512_srli_epi16::<4>(v), mask);
                }
                for t in 0..N {
                    let x = tk[t].qs.add(b * 8);
                    // Two chains (low and high nibbles) halve the dependent vpdpbusd latency.
                    let mut il = _mm512_setzero_si512();
                    let mut ih = _mm512_setzero_si512();
                    for k in 0..4 {
                        il = _mm512_dpbusd_epi32(
                            il,
                            lo[k],
                            _mm512_set1_epi32(x.add(k).read_unaligned()),
                        );
                        ih = _mm512_dpbusd_epi32(
                            ih,
                            hi[k],
                            _mm512_set1_epi32(x.add(4 + k).read_unaligned()),
                        );
                    }
                    let dot = _mm512_cvtepi32_ps(_mm512_add_epi32(il, ih));
                    let scale = _mm512_mul_ps(dw, _mm512_set1_ps(*tk[t].d.add(b)));
                    f[t] = _mm512_fmadd_ps(dot, scale, f[t]);
                    f[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(*tk[t].s.add(b)), f[t]);
                }
            }
            for t in 0..N {
                _mm512_storeu_ps(acc[t].as_mut_ptr(), f[t]);
            }
        }
    }

    /// `acc[t][j] = Σ_b d_j·d_a·(Σ (q_j + 128) q_a − 128·Σ q_a)` for row `j` and token `t < N`.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn q8_0_tile<const N: usize>(wg: &[u8], toks: &[Q8Row<'_>], acc: &mut [[f32; GROUP]]) {
        let (nb, tk) = prepare::<N>(wg, Q8_0_BYTES, toks);
        // SAFETY: every read is within block `b < nb` of `wg` and of each token's row.
        unsafe {
            let mut f = [_mm512_setzero_ps(); N];
            let wp = wg.as_ptr();
            for b in 0..nb {
                let p = wp.add(b * Q8_0_BYTES);
                let dw = _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i));
                let mut wv = [_mm512_setzero_si512(); 8];
                for (k, v) in wv.iter_mut().enumerate() {
                    *v = _mm512_loadu_si512(p.add(32 + 64 * k) as *const __m512i);
                }
                for t in 0..N {
                    let x = tk[t].qs.add(b * 8);
                    let mut i0 = _mm512_set1_epi32(-128 * *tk[t].isum.add(b));
                    let mut i1 = _mm512_setzero_si512();
                    for k in 0..4 {
                        i0 = _mm512_dpbusd_epi32(
                            i0,
                            wv[k],
                            _mm512_set1_epi32(x.add(k).read_unaligned()),
                        );
                        i1 = _mm512_dpbusd_epi32(
                            i1,
                            wv[4 + k],
                            _mm512_set1_epi32(x.add(4 + k).read_unaligned()),
                        );
                    }
                    let dot = _mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1));
                    let scale = _mm512_mul_ps(dw, _mm512_set1_ps(*tk[t].d.add(b)));
                    f[t] = _mm512_fmadd_ps(dot, scale, f[t]);
                }
            }
            for t in 0..N {
                _mm512_storeu_ps(acc[t].as_mut_ptr(), f[t]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::matmul;

    /// Random Q4_1 or Q8_0 rows with small finite f16 scales (and minimums).
    fn matrix(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let bb = block_bytes(ty);
        let mut w = vec![0u8; rows * cols / 32 * bb];
        for blk in w.chunks_exact_mut(bb) {
            let d = (next() % 1000) as f32 / 20000.0 + 0.001;
            let m = -((next() % 1000) as f32) / 10000.0;
            blk[0..2].copy_from_slice(&half::f16::from_f32(d).to_bits().to_le_bytes());
            let quants = if ty == GgmlType::Q4_1 {
                blk[2..4].copy_from_slice(&half::f16::from_f32(m).to_bits().to_le_bytes());
                4
            } else {
                2
            };
            for q in &mut blk[quants..] {
                *q = next() as u8;
            }
        }
        w
    }

    #[test]
    fn packed_products_match_the_row_kernels() {
        if !has_kernel() {
            eprintln!("skipped: no AVX-512 VNNI on this CPU");
            return;
        }
        for (ty, rows, cols) in [
            (GgmlType::Q4_1, 16, 32),
            (GgmlType::Q4_1, 48, 96),
            (GgmlType::Q4_1, 64, 576),
            (GgmlType::Q8_0, 16, 32),
            (GgmlType::Q8_0, 48, 96),
            (GgmlType::Q8_0, 64, 576),
        ] {
            let bytes = matrix(ty, rows, cols, rows as u64 * 31 + cols as u64);
            let Ok(w) = QWeight::new(ty, &bytes, rows, cols) else {
                panic!("valid matrix")
            };
            let Some(p) = Packed::pack(&w) else {
                panic!("packable")
            };
            assert_eq!(p.bytes(), bytes.len());
            for tokens in [1, 3, 8, 9, 17] {
                let x: Vec<f32> = (0..tokens * cols)
                    .map(|i| ((i * 7919 % 401) as f32 - 200.0) / 57.0)
                    .collect();
                let mut s = MatmulScratch::new();
                s.prepare(&x, cols);
                let mut want = vec![0.0; tokens * rows];
                let mut got = vec![0.0; tokens * rows];
                assert!(matmul(&w, &x, &s, &mut want).is_ok());
                assert!(matmul_packed(&p, &x, &s, &mut got).is_ok());
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    // Same integer products; only the f32 summation order differs.
                    assert!(
                        (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                        "{ty} {rows}x{cols}, {tokens} tokens, output {i}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn unsupported_shapes_are_not_packed_and_bad_inputs_are_errors() {
        let bytes = matrix(GgmlType::Q4_1, 8, 32, 1);
        let Ok(w) = QWeight::new(GgmlType::Q4_1, &bytes, 8, 32) else {
            panic!("valid matrix")
        };
        assert!(Packed::pack(&w).is_none(), "8 rows is not a group");
        if !has_kernel() {
            return;
        }
        let bytes = matrix(GgmlType::Q4_1, 16, 64, 2);
        let Ok(w) = QWeight::new(GgmlType::Q4_1, &bytes, 16, 64) else {
            panic!("valid matrix")
        };
        let Some(p) = Packed::pack(&w) else {
            panic!("packable")
        };
        let s = MatmulScratch::new();
        let mut out = vec![0.0; 16];
        assert!(matmul_packed(&p, &[0.0; 63], &s, &mut out).is_err());
        assert!(
            matmul_packed(&p, &[0.0; 64], &s, &mut out).is_err(),
            "unprepared activations"
        );
    }
}
