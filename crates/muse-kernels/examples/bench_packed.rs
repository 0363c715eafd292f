//! Row kernels against the repacked (sixteen-row) kernels on SmolLM2-135M's projection shapes, at
//! 1, 4 and 16 tokens: `cargo run --release -p muse-kernels --example bench_packed`.
//!
//! The weights are random bytes with valid scales: speed depends on shape and format only.

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::time::Instant;

use muse_kernels::{GgmlType, MatmulScratch, Packed, QWeight, matmul, matmul_packed};

fn random_matrix(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let bb = if ty == GgmlType::Q8_0 { 34 } else { 20 };
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut w = vec![0u8; rows * cols / 32 * bb];
    for blk in w.chunks_exact_mut(bb) {
        for b in blk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        blk[0..2].copy_from_slice(&half::f16::from_f32(0.01).to_bits().to_le_bytes());
        if ty == GgmlType::Q4_1 {
            blk[2..4].copy_from_slice(&half::f16::from_f32(-0.05).to_bits().to_le_bytes());
        }
    }
    w
}

/// Median seconds of `f` over `reps` runs.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    // One SmolLM2-135M layer's projections (q, k/v, o, gate/up, down) and its output head.
    let shapes = [
        (
            "layer (q,k,v,o,gate,up,down)",
            GgmlType::Q4_1,
            vec![
                (576, 576),
                (192, 576),
                (192, 576),
                (576, 576),
                (1536, 576),
                (1536, 576),
                (576, 1536),
            ],
        ),
        ("output head 49152x576", GgmlType::Q8_0, vec![(49152, 576)]),
    ];
    println!(
        "threads: {}; median of 51 runs; G = 1e9 weight x token multiply-adds",
        rayon::current_num_threads()
    );
    println!("| matrices | tokens | row kernels | packed | speed-up | packed GMAC/s |");
    println!("|---|---|---|---|---|---|");
    for (name, ty, mats) in &shapes {
        let data: Vec<Vec<u8>> = mats
            .iter()
            .map(|&(r, c)| random_matrix(*ty, r, c))
            .collect();
        let weights: Vec<QWeight<'_>> = mats
            .iter()
            .zip(&data)
            .filter_map(|(&(r, c), d)| QWeight::new(*ty, d, r, c).ok())
            .collect();
        let packed: Vec<Packed> = weights.iter().filter_map(Packed::pack).collect();
        if packed.len() != weights.len() {
            println!("packing unavailable on this CPU");
            return;
        }
        for tokens in [1usize, 4, 16] {
            let inputs: Vec<(Vec<f32>, MatmulScratch, Vec<f32>)> = weights
                .iter()
                .map(|w| {
                    let x: Vec<f32> = (0..tokens * w.cols())
                        .map(|i| ((i * 7919 % 401) as f32 - 200.0) / 100.0)
                        .collect();
                    let mut s = MatmulScratch::new();
                    s.prepare(&x, w.cols());
                    (x, s, vec![0.0f32; tokens * w.rows()])
                })
                .collect();
            let mut inputs = inputs;
            let row = time(51, || {
                for (w, (x, s, out)) in weights.iter().zip(inputs.iter_mut()) {
                    let _ = matmul(w, x, s, out);
                }
            });
            let pk = time(51, || {
                for (p, (x, s, out)) in packed.iter().zip(inputs.iter_mut()) {
                    let _ = matmul_packed(p, x, s, out);
                }
            });
            let macs: usize = mats.iter().map(|(r, c)| r * c * tokens).sum();
            println!(
                "| {name} | {tokens} | {:.3} ms | {:.3} ms | {:.2}x | {:.1} |",
                row * 1e3,
                pk * 1e3,
                row / pk,
                macs as f64 / pk / 1e9
            );
        }
    }
}
