//! x86-64 kernels: AVX2 (`maddubs` + `madd`) and AVX-512 VNNI (`vpdpbusd` on 256-bit vectors).
//!
//! Both compute the integer inner product of a 32-value block as unsigned × signed bytes: the 4-bit
//! formats are unsigned already, and Q8_0 weights are made so by moving their sign onto the
//! activations (`|w| · sign(x, w)`, the trick of ggml's x86 kernels). One block's i32 lanes are
//! converted to f32 and accumulated with the block's combined scale by FMA; the horizontal sum runs
//! once per row.
//!
//! The `pub(super)` functions are safe wrappers: `kernel_at` hands them out only after run-time
//! detection confirmed the features their `#[target_feature]` bodies need.

use super::common_blocks;
use crate::q8::Q8Row;
use std::arch::x86_64::*;

#[inline(always)]
unsafe fn f16_load(p: *const u8) -> f32 {
    // SAFETY: the caller has F16C and `p` points at two readable bytes.
    unsafe {
        let bits = (p as *const u16).read_unaligned();
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
    }
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    // SAFETY: plain AVX register arithmetic.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

/// 16 packed bytes → 32 nibbles, low nibbles in the low 128 bits (ggml's value order).
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> __m256i {
    // SAFETY: `p` points at 16 readable bytes.
    unsafe {
        let q = _mm_loadu_si128(p as *const __m128i);
        let both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
        _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
    }
}

#[inline(always)]
unsafe fn load32(p: *const i8) -> __m256i {
    // SAFETY: `p` points at 32 readable bytes.
    unsafe { _mm256_loadu_si256(p as *const __m256i) }
}

/// Unsigned × signed byte products summed in groups of four (AVX2; no overflow for |u|·|s| ≤ 128·127).
#[inline(always)]
unsafe fn udot_avx2(u: __m256i, s: __m256i) -> __m256i {
    // SAFETY: AVX2 arithmetic.
    unsafe { _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)) }
}

#[inline(always)]
unsafe fn udot_vnni(u: __m256i, s: __m256i) -> __m256i {
    // SAFETY: AVX-512 VNNI + VL arithmetic.
    unsafe { _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s) }
}

/// One generic body per format, instantiated per instruction set through `$udot`.
macro_rules! kernels {
    ($q4_0:ident, $q4_1:ident, $q8_0:ident, $udot:ident, $features:literal) => {
        #[target_feature(enable = $features)]
        unsafe fn $q4_0(w: &[u8], a: Q8Row<'_>) -> f32 {
            let nb = common_blocks(w, 18, &a);
            // SAFETY: every pointer below stays inside block `b < nb` of `w` and `a`.
            unsafe {
                let mut acc = _mm256_setzero_ps();
                let mut corr = 0.0f32;
                for b in 0..nb {
                    let p = w.as_ptr().add(b * 18);
                    let scale = f16_load(p) * *a.d.get_unchecked(b);
                    let i = $udot(nibbles(p.add(2)), load32(a.qs.as_ptr().add(b * 32)));
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(scale), acc);
                    corr += scale * (8 * *a.isum.get_unchecked(b)) as f32;
                }
                hsum(acc) - corr
            }
        }

        #[target_feature(enable = $features)]
        unsafe fn $q4_1(w: &[u8], a: Q8Row<'_>) -> f32 {
            let nb = common_blocks(w, 20, &a);
            // SAFETY: as above.
            unsafe {
                let mut acc = _mm256_setzero_ps();
                let mut corr = 0.0f32;
                for b in 0..nb {
                    let p = w.as_ptr().add(b * 20);
                    let da = *a.d.get_unchecked(b);
                    let i = $udot(nibbles(p.add(4)), load32(a.qs.as_ptr().add(b * 32)));
                    acc = _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(i),
                        _mm256_set1_ps(f16_load(p) * da),
                        acc,
                    );
                    corr += f16_load(p.add(2)) * *a.s.get_unchecked(b);
                }
                hsum(acc) + corr
            }
        }

        #[target_feature(enable = $features)]
        unsafe fn $q8_0(w: &[u8], a: Q8Row<'_>) -> f32 {
            let nb = common_blocks(w, 34, &a);
            // SAFETY: as above.
            unsafe {
                let mut acc = _mm256_setzero_ps();
                for b in 0..nb {
                    let p = w.as_ptr().add(b * 34);
                    let wv = load32(p.add(2) as *const i8);
                    let xv = load32(a.qs.as_ptr().add(b * 32));
                    let i = $udot(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
                    let scale = f16_load(p) * *a.d.get_unchecked(b);
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(scale), acc);
                }
                hsum(acc)
            }
        }
    };
}

kernels!(
    q4_0_avx2_impl,
    q4_1_avx2_impl,
    q8_0_avx2_impl,
    udot_avx2,
    "avx2,fma,f16c"
);
kernels!(
    q4_0_vnni_impl,
    q4_1_vnni_impl,
    q8_0_vnni_impl,
    udot_vnni,
    "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
);

/// How far ahead of the current block to prefetch weights (bytes): a few rows' worth of blocks
/// keeps the two streams of a decode step busy without thrashing L1.
const PREFETCH_AHEAD: usize = 1024;

#[inline(always)]
unsafe fn read_u32(p: *const u8) -> i32 {
    // SAFETY: `p` points at four readable bytes.
    unsafe { (p as *const i32).read_unaligned() }
}

/// Q4_1 with AVX-512 VNNI, two blocks per 512-bit step.
///
/// Lanes 0–7 of the product belong to the first block and 8–15 to the second. The two blocks'
/// (d, m) pairs are converted from f16 in one instruction, and the minimum term `m·s_a` is
/// accumulated in a vector too, so no scalar dependency chain runs through the loop.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q4_1_vnni512_impl(w: &[u8], a: Q8Row<'_>) -> f32 {
    let nb = common_blocks(w, 20, &a);
    // SAFETY: every pointer stays inside blocks `b, b + 1 < nb` of `w` and `a`; prefetches never fault.
    unsafe {
        let mask = _mm512_set1_epi8(0x0F);
        // Broadcast lane 0 to the low eight lanes and lane 1 to the high eight.
        let spread = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        let mut acc = _mm512_setzero_ps();
        let mut corr = _mm_setzero_ps();
        let wp = w.as_ptr();
        let mut b = 0;
        while b + 2 <= nb {
            let p0 = wp.add(b * 20);
            let p1 = p0.add(20);
            _mm_prefetch::<_MM_HINT_T0>(p0.wrapping_add(PREFETCH_AHEAD) as *const i8);
            // [d0, m0, d1, m1] from two adjacent f16 pairs.
            let dm = _mm_cvtph_ps(_mm_insert_epi32::<1>(
                _mm_cvtsi32_si128(read_u32(p0)),
                read_u32(p1),
            ));
            let da = _mm_castsi128_ps(_mm_loadl_epi64(a.d.as_ptr().add(b) as *const __m128i));
            let sa = _mm_castsi128_ps(_mm_loadl_epi64(a.s.as_ptr().add(b) as *const __m128i));
            // [d0·da0, d1·da1, m0·s0, m1·s1]
            let prod = _mm_mul_ps(
                _mm_shuffle_ps::<0b11_01_10_00>(dm, dm),
                _mm_movelh_ps(da, sa),
            );
            corr = _mm_add_ps(corr, prod);

            let q = _mm256_set_m128i(
                _mm_loadu_si128(p1.add(4) as *const __m128i),
                _mm_loadu_si128(p0.add(4) as *const __m128i),
            );
            // 128-bit lanes: [b0 lo, b1 lo, b0 hi, b1 hi] → [b0 lo, b0 hi, b1 lo, b1 hi].
            let z = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(q), _mm256_srli_epi16::<4>(q));
            let z = _mm512_shuffle_i64x2::<0b11_01_10_00>(
                _mm512_and_si512(z, mask),
                _mm512_and_si512(z, mask),
            );
            let x = _mm512_loadu_si512(a.qs.as_ptr().add(b * 32) as *const __m512i);
            let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z, x);
            let scale = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(prod));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc);
            b += 2;
        }
        // Lanes 2 and 3 of `corr` hold the minimum terms.
        let mut total = _mm512_reduce_add_ps(acc)
            + _mm_cvtss_f32(_mm_movehl_ps(corr, corr))
            + _mm_cvtss_f32(_mm_shuffle_ps::<0b11_11_11_11>(corr, corr));
        if b < nb {
            let rest = a.skip_blocks(b);
            total += q4_1_vnni_impl(&w[b * 20..], rest);
        }
        total
    }
}

/// Q8_0 with AVX-512 VNNI, two blocks per 512-bit step. `vpdpbusd` multiplies unsigned by signed
/// bytes, so the weights' signs move onto the activations (|w| · ±x; AVX-512 has no `vpsignb`, so a
/// masked negate does it).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q8_0_vnni512_impl(w: &[u8], a: Q8Row<'_>) -> f32 {
    let nb = common_blocks(w, 34, &a);
    // SAFETY: as in `q4_1_vnni512_impl`.
    unsafe {
        let spread = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        let mut acc = _mm512_setzero_ps();
        let wp = w.as_ptr();
        let mut b = 0;
        while b + 2 <= nb {
            let p0 = wp.add(b * 34);
            let p1 = p0.add(34);
            _mm_prefetch::<_MM_HINT_T0>(p0.wrapping_add(PREFETCH_AHEAD) as *const i8);
            let d01 = _mm_insert_epi16::<1>(
                _mm_cvtsi32_si128((p0 as *const u16).read_unaligned() as i32),
                (p1 as *const u16).read_unaligned() as i32,
            );
            let da = _mm_castsi128_ps(_mm_loadl_epi64(a.d.as_ptr().add(b) as *const __m128i));
            let prod = _mm_mul_ps(_mm_cvtph_ps(d01), da);
            let wv = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_loadu_si256(p0.add(2) as *const __m256i)),
                _mm256_loadu_si256(p1.add(2) as *const __m256i),
            );
            let x = _mm512_loadu_si512(a.qs.as_ptr().add(b * 32) as *const __m512i);
            let neg = _mm512_movepi8_mask(wv);
            let x = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
            let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(wv), x);
            let scale = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(prod));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc);
            b += 2;
        }
        let mut total = _mm512_reduce_add_ps(acc);
        if b < nb {
            let rest = a.skip_blocks(b);
            total += q8_0_vnni_impl(&w[b * 34..], rest);
        }
        total
    }
}

/// Q4_1 against four tokens at once (prefill): each weight block pair is unpacked once and used
/// four times, which is where the per-token kernel spends most of its instructions.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q4_1_vnni512_x4_impl(w: &[u8], a: &[Q8Row<'_>; 4]) -> [f32; 4] {
    let nb = a.iter().map(|r| common_blocks(w, 20, r)).min().unwrap_or(0);
    // SAFETY: as in `q4_1_vnni512_impl`, for each of the four rows.
    unsafe {
        let mask = _mm512_set1_epi8(0x0F);
        let spread = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut corr = [_mm_setzero_ps(); 4];
        let wp = w.as_ptr();
        let mut b = 0;
        while b + 2 <= nb {
            let p0 = wp.add(b * 20);
            let p1 = p0.add(20);
            let dm = _mm_cvtph_ps(_mm_insert_epi32::<1>(
                _mm_cvtsi32_si128(read_u32(p0)),
                read_u32(p1),
            ));
            let dsh = _mm_shuffle_ps::<0b11_01_10_00>(dm, dm);
            let q = _mm256_set_m128i(
                _mm_loadu_si128(p1.add(4) as *const __m128i),
                _mm_loadu_si128(p0.add(4) as *const __m128i),
            );
            let z = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(q), _mm256_srli_epi16::<4>(q));
            let z = _mm512_shuffle_i64x2::<0b11_01_10_00>(
                _mm512_and_si512(z, mask),
                _mm512_and_si512(z, mask),
            );
            for k in 0..4 {
                let r = a.get_unchecked(k);
                let da = _mm_castsi128_ps(_mm_loadl_epi64(r.d.as_ptr().add(b) as *const __m128i));
                let sa = _mm_castsi128_ps(_mm_loadl_epi64(r.s.as_ptr().add(b) as *const __m128i));
                let prod = _mm_mul_ps(dsh, _mm_movelh_ps(da, sa));
                corr[k] = _mm_add_ps(corr[k], prod);
                let x = _mm512_loadu_si512(r.qs.as_ptr().add(b * 32) as *const __m512i);
                let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z, x);
                let scale = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(prod));
                acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[k]);
            }
            b += 2;
        }
        let mut out = [0.0f32; 4];
        for k in 0..4 {
            let c = corr[k];
            out[k] = _mm512_reduce_add_ps(acc[k])
                + _mm_cvtss_f32(_mm_movehl_ps(c, c))
                + _mm_cvtss_f32(_mm_shuffle_ps::<0b11_11_11_11>(c, c));
            if b < nb {
                out[k] += q4_1_vnni_impl(&w[b * 20..], a[k].skip_blocks(b));
            }
        }
        out
    }
}

/// Q8_0 against four tokens at once (scoring computes the output head for every position).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q8_0_vnni512_x4_impl(w: &[u8], a: &[Q8Row<'_>; 4]) -> [f32; 4] {
    let nb = a.iter().map(|r| common_blocks(w, 34, r)).min().unwrap_or(0);
    // SAFETY: as in `q8_0_vnni512_impl`, for each of the four rows.
    unsafe {
        let spread = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        let mut acc = [_mm512_setzero_ps(); 4];
        let wp = w.as_ptr();
        let mut b = 0;
        while b + 2 <= nb {
            let p0 = wp.add(b * 34);
            let p1 = p0.add(34);
            let d01 = _mm_cvtph_ps(_mm_insert_epi16::<1>(
                _mm_cvtsi32_si128((p0 as *const u16).read_unaligned() as i32),
                (p1 as *const u16).read_unaligned() as i32,
            ));
            let wv = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_loadu_si256(p0.add(2) as *const __m256i)),
                _mm256_loadu_si256(p1.add(2) as *const __m256i),
            );
            let neg = _mm512_movepi8_mask(wv);
            let aw = _mm512_abs_epi8(wv);
            for (r, acc) in a.iter().zip(acc.iter_mut()) {
                let da = _mm_castsi128_ps(_mm_loadl_epi64(r.d.as_ptr().add(b) as *const __m128i));
                let x = _mm512_loadu_si512(r.qs.as_ptr().add(b * 32) as *const __m512i);
                let x = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
                let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, x);
                let scale =
                    _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_mul_ps(d01, da)));
                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, *acc);
            }
            b += 2;
        }
        let mut out = [0.0f32; 4];
        for k in 0..4 {
            out[k] = _mm512_reduce_add_ps(acc[k]);
            if b < nb {
                out[k] += q8_0_vnni_impl(&w[b * 34..], a[k].skip_blocks(b));
            }
        }
        out
    }
}

pub(super) fn q8_0_vnni_x4(w: &[u8], a: &[Q8Row<'_>; 4]) -> [f32; 4] {
    // SAFETY: handed out by `kernel4_for` only after AVX-512 VNNI was detected.
    unsafe { q8_0_vnni512_x4_impl(w, a) }
}

pub(super) fn q4_1_vnni_x4(w: &[u8], a: &[Q8Row<'_>; 4]) -> [f32; 4] {
    // SAFETY: handed out by `kernel4_for` only after AVX-512 VNNI was detected.
    unsafe { q4_1_vnni512_x4_impl(w, a) }
}

macro_rules! safe_wrappers {
    ($($name:ident => $imp:ident),*) => {$(
        pub(super) fn $name(w: &[u8], a: Q8Row<'_>) -> f32 {
            // SAFETY: `kernel_at` returns this wrapper only at a SIMD level that run-time detection
            // confirmed, which implies every feature `$imp` enables.
            unsafe { $imp(w, a) }
        }
    )*};
}

safe_wrappers!(
    q4_0_avx2 => q4_0_avx2_impl,
    q4_1_avx2 => q4_1_avx2_impl,
    q8_0_avx2 => q8_0_avx2_impl,
    q4_0_vnni => q4_0_vnni_impl,
    q4_1_vnni => q4_1_vnni512_impl,
    q8_0_vnni => q8_0_vnni512_impl
);
