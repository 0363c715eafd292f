//! Dequantization parity with gguf-py (`gguf.quants.dequantize`, gguf 0.19.0) on random blocks of
//! every supported format. Fixture: `fixtures/quant_blocks.gguf`, written by
//! `scripts/fixtures/gguf_quant_blocks.py`; each tensor `t` has its reference values in `t.expected`.
//!
//! The same file also exercises the GGUF reader end to end (metadata, alignment, tensor offsets),
//! and the quantized dot-product kernels against the reference values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_kernels::{GgmlType, MatmulScratch, matmul};
use muse_models::GgufFile;
use std::path::Path;

fn fixture() -> GgufFile {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant_blocks.gguf");
    match GgufFile::open(&p) {
        Ok(g) => g,
        Err(e) => panic!("open {}: {e}", p.display()),
    }
}

#[test]
fn every_format_dequantizes_like_gguf_py() {
    let g = fixture();
    assert_eq!(
        g.get_str("muse.fixture.generator").ok(),
        Some("gguf_quant_blocks.py")
    );
    let mut checked = 0;
    for ty in GgmlType::ALL {
        let name = ty.name().to_lowercase();
        let info = g
            .tensor_info(&name)
            .unwrap_or_else(|| panic!("fixture lacks `{name}`"));
        assert_eq!(info.ty, ty);
        let got = g.f32_vec(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = g
            .f32_vec(&format!("{name}.expected"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.len(), want.len());
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            // Same f32 operations as the reference up to association: allow one part in 1e6.
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1e-3),
                "{ty} value {i}: {a} vs {b}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 13);
}

#[test]
fn quantized_matmul_matches_reference_dequantization() {
    let g = fixture();
    let x: Vec<f32> = (0..512)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    for ty in GgmlType::ALL {
        let name = ty.name().to_lowercase();
        let w = g.matrix(&name).unwrap_or_else(|e| panic!("{e}"));
        let want = g
            .f32_vec(&format!("{name}.expected"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut s = MatmulScratch::new();
        s.prepare(&x, 512);
        let mut out = vec![0.0; 2];
        matmul(&w, &x, &s, &mut out).unwrap_or_else(|e| panic!("{ty}: {e}"));
        for r in 0..2 {
            let row = &want[r * 512..(r + 1) * 512];
            let exact: f64 = row.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
            let mag: f64 = row
                .iter()
                .zip(&x)
                .map(|(a, b)| (*a as f64 * *b as f64).abs())
                .sum();
            // Formats with a Q8 kernel quantize the activations (error ≤ half a step of amax/127).
            let tol = if ty.has_q8_kernel() {
                0.01 * mag
            } else {
                1e-5 * mag
            };
            assert!(
                ((out[r] as f64) - exact).abs() <= tol + 1e-6,
                "{ty} row {r}: {} vs {exact}",
                out[r]
            );
        }
    }
}
