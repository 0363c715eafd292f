//! Dot products of one quantized weight row with one row of [`Q8Acts`](crate::Q8Acts).
//!
//! Each hot format (Q4_0, Q4_1, Q8_0) has three implementations of the same formula:
//! `Σ_blocks d_w·d_a·Σ_j q_w[j]·q_a[j]` plus the format's offset term applied once per block through
//! the activation block's integer sum (Q4_0: −8·Σq_a; Q4_1: m_w·s_a with s_a = f16(d_a·Σq_a), as ggml). The integer inner product
//! is exact in every path; only the order of the f32 accumulation differs, so the SIMD paths agree
//! with the portable one to rounding (tested below on random blocks).
//!
//! [`kernel_for`] picks the implementation once per matrix product, not per row.

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use crate::cpu::{SimdLevel, simd_level};
use crate::q8::Q8Row;
use crate::types::GgmlType;

/// A weight-row · activation-row kernel. Safe to call with any slices: it reads at most as many
/// blocks as both sides hold.
pub type DotFn = fn(&[u8], Q8Row<'_>) -> f32;

/// A kernel over four activation rows at once (prefill), for formats where unpacking a weight
/// block costs more than using it.
pub type Dot4Fn = fn(&[u8], &[Q8Row<'_>; 4]) -> [f32; 4];

/// The four-row kernel for `ty` on this CPU, if there is one.
pub fn kernel4_for(ty: GgmlType) -> Option<Dot4Fn> {
    #[cfg(target_arch = "x86_64")]
    if simd_level() >= SimdLevel::Avx512Vnni {
        match ty {
            GgmlType::Q4_1 => return Some(x86::q4_1_vnni_x4 as Dot4Fn),
            GgmlType::Q8_0 => return Some(x86::q8_0_vnni_x4 as Dot4Fn),
            _ => {}
        }
    }
    let _ = ty;
    None
}

/// The fastest kernel for `ty` on this CPU, or `None` if `ty` has no direct Q8 kernel.
pub fn kernel_for(ty: GgmlType) -> Option<DotFn> {
    kernel_at(ty, simd_level())
}

/// The kernel for `ty` at a given SIMD level (falls back to lower levels where needed).
pub fn kernel_at(ty: GgmlType, level: SimdLevel) -> Option<DotFn> {
    // Never above what this CPU has: the SIMD wrappers rely on it.
    let level = level.min(simd_level());
    #[cfg(target_arch = "x86_64")]
    {
        let fast = match (ty, level) {
            (GgmlType::Q4_0, SimdLevel::Avx512Vnni) => Some(x86::q4_0_vnni as DotFn),
            (GgmlType::Q4_1, SimdLevel::Avx512Vnni) => Some(x86::q4_1_vnni as DotFn),
            (GgmlType::Q8_0, SimdLevel::Avx512Vnni) => Some(x86::q8_0_vnni as DotFn),
            (GgmlType::Q4_0, SimdLevel::Avx2) => Some(x86::q4_0_avx2 as DotFn),
            (GgmlType::Q4_1, SimdLevel::Avx2) => Some(x86::q4_1_avx2 as DotFn),
            (GgmlType::Q8_0, SimdLevel::Avx2) => Some(x86::q8_0_avx2 as DotFn),
            _ => None,
        };
        if fast.is_some() {
            return fast;
        }
    }
    let _ = level;
    match ty {
        GgmlType::Q4_0 => Some(portable::q4_0 as DotFn),
        GgmlType::Q4_1 => Some(portable::q4_1 as DotFn),
        GgmlType::Q8_0 => Some(portable::q8_0 as DotFn),
        _ => None,
    }
}

/// Number of whole blocks both sides hold (the kernels never read past either slice).
#[inline]
fn common_blocks(w: &[u8], block_bytes: usize, a: &Q8Row<'_>) -> usize {
    (w.len() / block_bytes)
        .min(a.d.len())
        .min(a.isum.len())
        .min(a.s.len())
        .min(a.qs.len() / 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Q8Acts;
    use crate::dequant::dequantize_row;

    fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    /// Random blocks whose f16 scale fields hold small finite values.
    fn random_row(ty: GgmlType, cols: usize, seed: u64) -> Vec<u8> {
        let mut w = random_bytes(ty.row_bytes(cols).unwrap_or(0), seed);
        let scale_fields: &[usize] = match ty {
            GgmlType::Q4_0 | GgmlType::Q8_0 => &[0],
            GgmlType::Q4_1 => &[0, 2],
            _ => &[],
        };
        for (b, blk) in w.chunks_exact_mut(ty.block_bytes()).enumerate() {
            for &f in scale_fields {
                let v = half::f16::from_f32(((b * 13 + f) % 17) as f32 / 170.0 - 0.04);
                blk[f..f + 2].copy_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        w
    }

    #[test]
    fn every_level_matches_dequantized_reference() {
        // SmolLM2's width (18 blocks, not a multiple of 256), and an odd block count that leaves a
        // tail for the two-block AVX-512 loops.
        for cols in [576, 608] {
            let x: Vec<f32> = (0..cols)
                .map(|i| ((i * 31 % 97) as f32 - 48.0) / 23.0)
                .collect();
            let mut q = Q8Acts::new();
            q.quantize(&x, cols);
            let row = q.row(0);
            // Reference: dequantized weights · dequantized activations, in f64.
            let xa: Vec<f64> = (0..cols)
                .map(|i| row.qs[i] as f64 * row.d[i / 32] as f64)
                .collect();
            for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
                for seed in 0..4 {
                    let w = random_row(ty, cols, seed + 1);
                    let mut wf = vec![0.0; cols];
                    assert!(dequantize_row(ty, &w, &mut wf).is_ok());
                    let want: f64 = wf.iter().zip(&xa).map(|(a, b)| *a as f64 * b).sum();
                    let scale: f64 = wf.iter().zip(&xa).map(|(a, b)| (*a as f64 * b).abs()).sum();
                    for level in [SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512Vnni] {
                        if level > crate::cpu::simd_level() {
                            continue;
                        }
                        let Some(k) = kernel_at(ty, level) else {
                            panic!("no kernel for {ty}")
                        };
                        let got = k(&w, row) as f64;
                        assert!(
                            (got - want).abs() <= 1e-5 * scale + 1e-6,
                            "{ty} {level:?} seed {seed}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn four_row_kernel_matches_single_row_kernel() {
        for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
            let Some(k4) = kernel4_for(ty) else {
                eprintln!("SKIPPED: no four-row {ty} kernel on this CPU");
                continue;
            };
            let Some(k1) = kernel_for(ty) else {
                panic!("no kernel")
            };
            for cols in [576, 608] {
                let x: Vec<f32> = (0..4 * cols)
                    .map(|i| ((i * 17 % 89) as f32 - 44.0) / 17.0)
                    .collect();
                let mut q = Q8Acts::new();
                q.quantize(&x, cols);
                let w = random_row(ty, cols, 5);
                let rows = [q.row(0), q.row(1), q.row(2), q.row(3)];
                let got = k4(&w, &rows);
                for t in 0..4 {
                    let want = k1(&w, rows[t]);
                    // Same integer products and formula; only the f32 accumulation order differs.
                    assert!(
                        (got[t] - want).abs() <= 2e-4 * want.abs().max(1.0),
                        "{ty} {t}: {} vs {want}",
                        got[t]
                    );
                }
            }
        }
    }

    #[test]
    fn short_activation_fields_are_not_read_past() {
        let mut q = Q8Acts::new();
        q.quantize(&[0.5; 128], 128);
        let full = q.row(0);
        let w = random_row(GgmlType::Q4_1, 128, 3);
        for level in [SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512Vnni] {
            let Some(k) = kernel_at(GgmlType::Q4_1, level) else {
                panic!("no kernel")
            };
            // Each field cut to one block: the kernel must use one block only.
            let one = k(&w, full.skip_blocks(3));
            for cut in 0..4 {
                let mut r = full;
                match cut {
                    0 => r.s = &full.s[..1],
                    1 => r.isum = &full.isum[..1],
                    2 => r.d = &full.d[..1],
                    _ => r.qs = &full.qs[..32],
                }
                let v = k(&w, r);
                assert!(v.is_finite(), "{level:?} cut {cut}");
                let first = k(&w[..20], full);
                assert!(
                    (v - first).abs() <= 1e-6 * first.abs().max(1.0),
                    "{level:?} cut {cut}: {v} vs {first}"
                );
            }
            assert!(one.is_finite());
        }
    }

    #[test]
    fn short_slices_are_not_read_past() {
        let mut q = Q8Acts::new();
        q.quantize(&[1.0; 64], 64);
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
            let Some(k) = kernel_for(ty) else {
                panic!("no kernel")
            };
            // One block of weights against two blocks of activations: only one block is used.
            let w = random_row(ty, 32, 9);
            let v = k(&w, q.row(0));
            assert!(v.is_finite());
        }
    }
}
