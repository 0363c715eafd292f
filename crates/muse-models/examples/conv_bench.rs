//! Muse's im2col + GEMM convolution against candle's CPU convolution, forward and backward, at
//! the shapes of a small Fashion-MNIST UNet (batch 64). Prints ms per call and the ratio.
//!
//! `cargo run --release -p muse-models --example conv_bench`

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};
use muse_models::conv_op::conv2d;

fn time<F: FnMut() -> Result<()>>(reps: usize, mut f: F) -> Result<f64> {
    f()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / reps as f64)
}

fn main() -> Result<()> {
    let dev = Device::Cpu;
    println!(
        "shape (x; w; stride)            | fwd muse ms | fwd candle ms | fwd+bwd muse ms | fwd+bwd candle ms"
    );
    for &(b, c_in, hw, c_out, stride) in &[
        (64, 32, 28, 32, 1),
        (64, 64, 14, 64, 1),
        (64, 32, 28, 32, 2),
        (64, 128, 7, 64, 1),
    ] {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, c_in, hw, hw), &dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (c_out, c_in, 3, 3), &dev)?)?;
        let fm = time(5, || conv2d(&x, &w, stride, 1).map(|_| ()))?;
        let fc = time(5, || x.conv2d(&w, 1, stride, 1, 1).map(|_| ()))?;
        let bm = time(3, || {
            conv2d(&x, &w, stride, 1)?.sum_all()?.backward().map(|_| ())
        })?;
        let bc = time(1, || {
            x.conv2d(&w, 1, stride, 1, 1)?
                .sum_all()?
                .backward()
                .map(|_| ())
        })?;
        println!(
            "[{b},{c_in},{hw},{hw}]; [{c_out},{c_in},3,3]; {stride} | {fm:.1} | {fc:.1} | {bm:.1} | {bc:.1}"
        );
    }
    Ok(())
}
