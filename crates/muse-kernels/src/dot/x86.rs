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
                    corr += f16_load(p.add(2)) * da * *a.isum.get_unchecked(b) as f32;
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
    q4_1_vnni => q4_1_vnni_impl,
    q8_0_vnni => q8_0_vnni_impl
);
