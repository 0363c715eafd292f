//! Reference dequantization of every supported block format to f32.
//!
//! Formulas follow ggml's `dequantize_row_*` functions (llama.cpp `ggml/src/ggml-quants.c`) and the
//! block layouts of `ggml-common.h`; the fixture `tests/fixtures/quant_blocks.gguf` of muse-models holds
//! random blocks of each format with gguf-py's dequantization beside them, and the parity test
//! compares the two. These loops are scalar on purpose: they are the fallback path and the
//! definition the SIMD kernels in [`crate::dot`] are tested against.

use crate::types::{GgmlType, KernelError};
use half::{bf16, f16};

#[inline]
pub(crate) fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

/// Dequantize one row (`out.len()` values) stored as `ty` in `data`.
pub fn dequantize_row(ty: GgmlType, data: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    let cols = out.len();
    let expected = ty.row_bytes(cols)?;
    if data.len() != expected {
        return Err(KernelError::WrongByteLength {
            ty,
            rows: 1,
            cols,
            expected,
            found: data.len(),
        });
    }
    let bb = ty.block_bytes();
    let bl = ty.block_len();
    match ty {
        GgmlType::F32 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(2)) {
                *o = f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
            }
        }
        GgmlType::BF16 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(2)) {
                *o = bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
            }
        }
        _ => {
            for (blk, y) in data.chunks_exact(bb).zip(out.chunks_exact_mut(bl)) {
                match ty {
                    GgmlType::Q4_0 => q4_0(blk, y),
                    GgmlType::Q4_1 => q4_1(blk, y),
                    GgmlType::Q5_0 => q5_0(blk, y),
                    GgmlType::Q5_1 => q5_1(blk, y),
                    GgmlType::Q8_0 => q8_0(blk, y),
                    GgmlType::Q2K => q2_k(blk, y),
                    GgmlType::Q3K => q3_k(blk, y),
                    GgmlType::Q4K => q4_k(blk, y),
                    GgmlType::Q5K => q5_k(blk, y),
                    GgmlType::Q6K => q6_k(blk, y),
                    GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {}
                }
            }
        }
    }
    Ok(())
}

/// `block_q4_0 { half d; u8 qs[16]; }`: y = (q - 8) * d; low nibbles are values 0..16, high 16..32.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..16 {
        let q = b[2 + j];
        y[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
        y[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
    }
}

/// `block_q4_1 { half d, m; u8 qs[16]; }`: y = q * d + m.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    for j in 0..16 {
        let q = b[4 + j];
        y[j] = (q & 0x0F) as f32 * d + m;
        y[j + 16] = (q >> 4) as f32 * d + m;
    }
}

/// Fifth bits of the Q5 formats: bit j of `qh` belongs to value j.
fn q5_high(qh: u32, j: usize) -> (u8, u8) {
    let lo = (((qh >> j) << 4) & 0x10) as u8;
    let hi = ((qh >> (j + 12)) & 0x10) as u8;
    (lo, hi)
}

/// `block_q5_0 { half d; u8 qh[4]; u8 qs[16]; }`: y = (q - 16) * d.
fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for j in 0..16 {
        let (h0, h1) = q5_high(qh, j);
        let q = b[6 + j];
        y[j] = (((q & 0x0F) | h0) as i32 - 16) as f32 * d;
        y[j + 16] = (((q >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

/// `block_q5_1 { half d, m; u8 qh[4]; u8 qs[16]; }`: y = q * d + m.
fn q5_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for j in 0..16 {
        let (h0, h1) = q5_high(qh, j);
        let q = b[8 + j];
        y[j] = ((q & 0x0F) | h0) as f32 * d + m;
        y[j + 16] = ((q >> 4) | h1) as f32 * d + m;
    }
}

/// `block_q8_0 { half d; i8 qs[32]; }`: y = q * d.
fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        y[j] = (b[2 + j] as i8) as f32 * d;
    }
}

/// `block_q2_K { u8 scales[16]; u8 qs[64]; half d, dmin; }`: 16 sub-blocks of 16 two-bit values,
/// each with a 4-bit scale (low nibble) and 4-bit min (high nibble).
fn q2_k(b: &[u8], y: &mut [f32]) {
    let scales = &b[0..16];
    let qs = &b[16..80];
    let d = f16_at(b, 80);
    let dmin = f16_at(b, 82);
    let mut is = 0;
    let mut out = 0;
    for half in 0..2 {
        let q = &qs[half * 32..half * 32 + 32];
        for shift in [0u32, 2, 4, 6] {
            for part in 0..2 {
                let sc = scales[is];
                is += 1;
                let dl = d * (sc & 0x0F) as f32;
                let ml = dmin * (sc >> 4) as f32;
                for l in 0..16 {
                    y[out] = dl * ((q[part * 16 + l] >> shift) & 3) as f32 - ml;
                    out += 1;
                }
            }
        }
    }
}

/// The 16 six-bit signed scales of Q3_K, packed into 12 bytes.
fn q3_k_scales(packed: &[u8]) -> [i8; 16] {
    let mut s = [0i8; 16];
    for (j, v) in s.iter_mut().enumerate() {
        let low = if j < 8 {
            packed[j] & 0x0F
        } else {
            packed[j - 8] >> 4
        };
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 0x03;
        *v = ((low | (high << 4)) as i32 - 32) as i8;
    }
    s
}

/// `block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d; }`: 3-bit values (2 low bits in `qs`,
/// the third in `hmask`, where a *clear* bit subtracts 4), 16 six-bit scales.
fn q3_k(b: &[u8], y: &mut [f32]) {
    let hmask = &b[0..32];
    let qs = &b[32..96];
    let scales = q3_k_scales(&b[96..108]);
    let d = f16_at(b, 108);
    let mut is = 0;
    let mut out = 0;
    let mut m: u8 = 1;
    for half in 0..2 {
        let q = &qs[half * 32..half * 32 + 32];
        for shift in [0u32, 2, 4, 6] {
            for part in 0..2 {
                let dl = d * scales[is] as f32;
                is += 1;
                for l in 0..16 {
                    let idx = part * 16 + l;
                    let low = ((q[idx] >> shift) & 3) as i32;
                    let sub = if hmask[idx] & m != 0 { 0 } else { 4 };
                    y[out] = dl * (low - sub) as f32;
                    out += 1;
                }
            }
            m <<= 1;
        }
    }
}

/// Six-bit scale and min `j` of the Q4_K / Q5_K 12-byte packing (ggml `get_scale_min_k4`).
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        let d = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        (d, m)
    }
}

/// `block_q4_K { half d, dmin; u8 scales[12]; u8 qs[128]; }`: 8 sub-blocks of 32 four-bit values.
fn q4_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..144];
    for chunk in 0..4 {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        let (s1, m1) = scale_min_k4(2 * chunk, scales);
        let (s2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1) = (d * s1 as f32, dmin * m1 as f32);
        let (d2, m2) = (d * s2 as f32, dmin * m2 as f32);
        let base = chunk * 64;
        for l in 0..32 {
            y[base + l] = d1 * (q[l] & 0x0F) as f32 - m1;
            y[base + 32 + l] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// `block_q5_K { half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }`: Q4_K plus a fifth bit.
fn q5_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for chunk in 0..4 {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        let (s1, m1) = scale_min_k4(2 * chunk, scales);
        let (s2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1) = (d * s1 as f32, dmin * m1 as f32);
        let (d2, m2) = (d * s2 as f32, dmin * m2 as f32);
        let u1 = 1u8 << (2 * chunk);
        let u2 = 2u8 << (2 * chunk);
        let base = chunk * 64;
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[base + l] = d1 * ((q[l] & 0x0F) + h1) as f32 - m1;
            y[base + 32 + l] = d2 * ((q[l] >> 4) + h2) as f32 - m2;
        }
    }
}

/// `block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; half d; }`: 6-bit values centred on 32.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 208);
    for half in 0..2 {
        let ql = &b[half * 64..half * 64 + 64];
        let qh = &b[128 + half * 32..128 + half * 32 + 32];
        let sc = &b[192 + half * 8..192 + half * 8 + 8];
        let yb = &mut y[half * 128..half * 128 + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            yb[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            yb[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            yb[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            yb[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q3_k_scale_unpacking_matches_ggml_bit_twiddling() {
        // ggml unpacks with 32-bit masks; check our per-index form against that formulation.
        let packed: Vec<u8> = (0..12u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        let mut aux = [0u32; 4];
        for i in 0..3 {
            aux[i] = u32::from_le_bytes([
                packed[4 * i],
                packed[4 * i + 1],
                packed[4 * i + 2],
                packed[4 * i + 3],
            ]);
        }
        let (k1, k2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
        let tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
        aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
        aux[0] = (aux[0] & k2) | ((tmp & k1) << 4);
        aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
        let bytes: Vec<u8> = aux.iter().flat_map(|a| a.to_le_bytes()).collect();
        let ours = q3_k_scales(&packed);
        for j in 0..16 {
            assert_eq!(ours[j] as i32, bytes[j] as i8 as i32 - 32, "scale {j}");
        }
    }

    #[test]
    fn ragged_rows_and_wrong_lengths_are_errors() {
        let mut out = vec![0.0; 33];
        assert!(matches!(
            dequantize_row(GgmlType::Q4_0, &[0; 18], &mut out),
            Err(KernelError::RaggedRow { .. })
        ));
        let mut out = vec![0.0; 32];
        assert!(matches!(
            dequantize_row(GgmlType::Q4_0, &[0; 17], &mut out),
            Err(KernelError::WrongByteLength { .. })
        ));
    }
}
