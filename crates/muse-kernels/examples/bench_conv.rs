//! Times the 3×3 convolutions of the ddpm-cifar10-32 UNet. Prints, per shape, the best of 20 runs
//! in ms of `conv2d_forward` (no kept transforms: Winograd with per-call filter transforms at
//! batch ≥ 4, im2col + GEMM below) and of `conv2d_forward_with` the filter transforms computed
//! once (the inference path of a cached layer). `MUSE_NO_WINOGRAD=1` makes both im2col + GEMM.
//!
//!     cargo run --release -p muse-kernels --example bench_conv

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::time::Instant;

use muse_kernels::KernelError;
use muse_kernels::conv2d::{Conv2dShape, WinogradWeights, conv2d_forward, conv2d_forward_with};

fn main() -> Result<(), KernelError> {
    let shapes = [
        (1, 128, 32, 128),
        (1, 256, 32, 128),
        (1, 256, 16, 256),
        (1, 512, 16, 256),
        (8, 128, 32, 128),
        (8, 256, 16, 256),
    ];
    for (batch, c_in, side, c_out) in shapes {
        let s = Conv2dShape {
            batch,
            c_in,
            h: side,
            w: side,
            c_out,
            kh: 3,
            kw: 3,
            stride: 1,
            padding: 1,
        };
        let x: Vec<f32> = (0..batch * c_in * side * side)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let w: Vec<f32> = (0..c_out * c_in * 9)
            .map(|i| ((i * 104_729) % 1000) as f32 / 5000.0 - 0.1)
            .collect();
        let pre = WinogradWeights::new(c_out, c_in, &w)?;
        let uncached = best_ms(|| conv2d_forward(&s, &x, &w))?;
        let cached = best_ms(|| conv2d_forward_with(&s, &x, &w, Some(&pre)))?;
        let gflop = 2.0 * (batch * c_out * c_in * 9 * side * side) as f64 / 1e9;
        println!(
            "b{batch} {c_in}->{c_out} {side}x{side}: uncached {uncached:.3} ms, kept transforms \
             {cached:.3} ms ({:.0} GFLOP/s direct-equivalent)",
            gflop / cached * 1e3
        );
    }
    Ok(())
}

/// The best of 20 runs of `f`, in ms.
fn best_ms(f: impl Fn() -> Result<Vec<f32>, KernelError>) -> Result<f64, KernelError> {
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let t = Instant::now();
        std::hint::black_box(f()?);
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(best)
}
