#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
//! The Fréchet distance against the reference formula (pytorch-fid's, with `scipy.linalg.sqrtm`)
//! on seeded feature sets: shifted, correlated, scaled-and-rotated, 16-dimensional
//! (`scripts/fixtures/frechet_scipy.py`).

use muse_train::frechet::frechet_distance_of;
use std::path::Path;

#[test]
fn matches_scipy_on_every_fixture_case() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/frechet_scipy.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    for c in cases {
        let dim = c["dim"].as_u64().unwrap() as usize;
        let (a, b) = (floats(&c["a"]), floats(&c["b"]));
        let want = c["frechet"].as_f64().unwrap();
        let got = frechet_distance_of(&a, &b, dim).unwrap();
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1.0),
            "{}: muse {got} vs scipy {want}",
            c["name"]
        );
    }
}
