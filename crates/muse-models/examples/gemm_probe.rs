//! Speed of candle's f32 matmul on MiniLM's shapes (752 rows = 32 sentences of ~23.5 tokens;
//! 24 rows = one sentence), for comparing thread settings:
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p muse-models --example gemm_probe
//!
//! With K = 384 candle's gemm call ran at ≈ 58 GFLOP/s on two threads and ≈ 90 on one, which is
//! why `bert_ops::Gemm` splits the output columns across threads itself.

#![expect(clippy::unwrap_used, clippy::print_stdout, reason = "a measuring tool")]

use candle_core::{Device, Tensor};

fn main() {
    let dev = Device::Cpu;
    let shapes = [
        (752usize, 384usize, 1152usize),
        (752, 384, 384),
        (752, 384, 1536),
        (752, 1536, 384),
        (24, 384, 1536),
        (24, 1536, 384),
        (1024, 1024, 1024),
    ];
    for (m, k, n) in shapes {
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (k, n), &dev).unwrap();
        for _ in 0..3 {
            a.matmul(&b).unwrap();
        }
        let flop = 2.0 * (m * k * n) as f64;
        let reps = (2e10 / flop) as usize + 1;
        let t = std::time::Instant::now();
        for _ in 0..reps {
            a.matmul(&b).unwrap();
        }
        let s = t.elapsed().as_secs_f64() / reps as f64;
        println!(
            "{m}x{k}x{n}: {:.3} ms {:.1} GFLOP/s",
            s * 1e3,
            flop / s / 1e9
        );
    }
}
