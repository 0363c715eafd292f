//! Portable kernels: plain Rust, the reference the SIMD paths are tested against.

use super::common_blocks;
use crate::dequant::f16_at;
use crate::q8::Q8Row;

/// Integer dot of 16 packed nibbles (values j and j+16) with 32 int8 activations.
#[inline]
fn nibble_dot(qs: &[u8], a: &[i8]) -> i32 {
    let mut s = 0i32;
    for j in 0..16 {
        s += (qs[j] & 0x0F) as i32 * a[j] as i32 + (qs[j] >> 4) as i32 * a[j + 16] as i32;
    }
    s
}

pub(super) fn q4_0(w: &[u8], a: Q8Row<'_>) -> f32 {
    let mut acc = 0.0f32;
    for b in 0..common_blocks(w, 18, &a) {
        let blk = &w[b * 18..b * 18 + 18];
        let s = nibble_dot(&blk[2..18], &a.qs[b * 32..b * 32 + 32]) - 8 * a.isum[b];
        acc += f16_at(blk, 0) * a.d[b] * s as f32;
    }
    acc
}

pub(super) fn q4_1(w: &[u8], a: Q8Row<'_>) -> f32 {
    let mut acc = 0.0f32;
    for b in 0..common_blocks(w, 20, &a) {
        let blk = &w[b * 20..b * 20 + 20];
        let s = nibble_dot(&blk[4..20], &a.qs[b * 32..b * 32 + 32]);
        acc += f16_at(blk, 0) * a.d[b] * s as f32 + f16_at(blk, 2) * a.s[b];
    }
    acc
}

pub(super) fn q8_0(w: &[u8], a: Q8Row<'_>) -> f32 {
    let mut acc = 0.0f32;
    for b in 0..common_blocks(w, 34, &a) {
        let blk = &w[b * 34..b * 34 + 34];
        let xs = &a.qs[b * 32..b * 32 + 32];
        let s: i32 = blk[2..34]
            .iter()
            .zip(xs)
            .map(|(&q, &x)| (q as i8) as i32 * x as i32)
            .sum();
        acc += f16_at(blk, 0) * a.d[b] * s as f32;
    }
    acc
}
