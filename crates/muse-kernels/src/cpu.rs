//! Run-time CPU feature detection, done once. The kernels are compiled for several instruction sets
//! (`#[target_feature]`) and the best one the running CPU supports is used, so the default build runs
//! on any x86-64 machine and still uses AVX-512 VNNI where it exists.

use std::sync::OnceLock;

/// The SIMD level the kernels dispatch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// Portable Rust; the compiler's baseline for the target.
    Portable,
    /// AVX2 + FMA + F16C (Haswell, Zen 1 and later).
    Avx2,
    /// AVX2 level plus AVX-512 F/BW/VL and VNNI (Ice Lake, Zen 4 and later).
    Avx512Vnni,
}

impl SimdLevel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::Avx2 => "avx2",
            Self::Avx512Vnni => "avx512-vnni",
        }
    }
}

static LEVEL: OnceLock<SimdLevel> = OnceLock::new();

/// The best SIMD level of this CPU. `MUSE_SIMD=portable|avx2` lowers it (for testing and comparison).
pub fn simd_level() -> SimdLevel {
    *LEVEL.get_or_init(|| {
        let detected = detect();
        match std::env::var("MUSE_SIMD").ok().as_deref() {
            Some("portable") => SimdLevel::Portable,
            Some("avx2") => detected.min(SimdLevel::Avx2),
            _ => detected,
        }
    })
}

#[cfg(target_arch = "x86_64")]
fn detect() -> SimdLevel {
    let avx2 = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    let avx512 = avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni");
    if avx512 {
        SimdLevel::Avx512Vnni
    } else if avx2 {
        SimdLevel::Avx2
    } else {
        SimdLevel::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> SimdLevel {
    SimdLevel::Portable
}
