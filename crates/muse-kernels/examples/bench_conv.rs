//! Times `conv2d_forward` on the 3×3 shapes of the ddpm-cifar10-32 UNet. Prints, per shape, the
//! best of 20 runs in ms; set `MUSE_NO_WINOGRAD=1` for the im2col + GEMM path alone.
//!
//!     cargo run --release -p muse-kernels --example bench_conv

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::time::Instant;

use muse_kernels::KernelError;
use muse_kernels::conv2d::{Conv2dShape, conv2d_forward};

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
        let mut best = f64::INFINITY;
        for _ in 0..20 {
            let t = Instant::now();
            let y = conv2d_forward(&s, &x, &w)?;
            std::hint::black_box(y);
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        let gflop = 2.0 * (batch * c_out * c_in * 9 * side * side) as f64 / 1e9;
        println!(
            "b{batch} {c_in}->{c_out} {side}x{side}: {best:.3} ms ({:.0} GFLOP/s direct-equivalent)",
            gflop / best * 1e3
        );
    }
    Ok(())
}
