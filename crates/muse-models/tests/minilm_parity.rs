//! Parity of Muse's MiniLM sentence embeddings with sentence-transformers 6.2 (fixture from
//! `scripts/fixtures/minilm_sentence_transformers.py`), on the model `./setup.sh` installs.
//! Skips with a visible message when the model is absent; fails instead under CI.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_models::SentenceEmbedder;
use serde_json::Value;
use std::path::PathBuf;

/// The packaged MiniLM folder, or `None` after a visible SKIPPED line (a failure under CI).
fn minilm() -> Option<PathBuf> {
    muse_test_utils::packaged(muse_test_utils::MINILM)
}

fn fixture() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/minilm_sentence_transformers.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn minilm_matches_sentence_transformers() {
    let Some(dir) = minilm() else { return };
    let fx = fixture();
    let items = fx["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    let model = SentenceEmbedder::load(&dir).unwrap();
    assert_eq!(model.dim(), fx["dim"].as_u64().unwrap() as usize);
    assert_eq!(
        model.max_seq_length(),
        fx["max_seq_length"].as_u64().unwrap() as usize
    );
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();

    for (i, item) in items.iter().enumerate() {
        let want: Vec<u32> = item["token_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            model.token_ids(texts[i]).unwrap(),
            want,
            "token ids of input {i}"
        );
    }

    let e = model.embed(&texts).unwrap();
    assert_eq!(e.vectors.len(), 20);
    let mut worst = 1.0f64;
    for (i, item) in items.iter().enumerate() {
        let want: Vec<f64> = item["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let c = cosine(&e.vectors[i], &want);
        worst = worst.min(c);
        assert!(c >= 0.99999, "input {i} ({:?}): cosine {c}", texts[i]);
        let norm: f32 = e.vectors[i].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "input {i}: norm {norm}");
    }
    eprintln!("worst cosine against sentence-transformers: {worst:.9}");

    let want_truncated: Vec<(usize, usize)> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| it["truncated"].as_bool().unwrap())
        .map(|(i, it)| (i, it["tokens_untruncated"].as_u64().unwrap() as usize))
        .collect();
    assert!(
        !want_truncated.is_empty(),
        "the fixture must exercise truncation"
    );
    let got: Vec<(usize, usize)> = e.truncated.iter().map(|t| (t.index, t.tokens)).collect();
    assert_eq!(got, want_truncated);
    assert!(e.truncated.iter().all(|t| t.kept == 256));
}

#[test]
fn minilm_batching_does_not_change_results() {
    let Some(dir) = minilm() else { return };
    let model = SentenceEmbedder::load(&dir).unwrap().with_batch_size(3);
    let texts = [
        "short",
        "",
        "a somewhat longer sentence with several more words in it",
        "Le chat dort.",
        "one more",
    ];
    let batched = model.embed(&texts).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let alone = model.embed(&[t]).unwrap();
        let d = batched.vectors[i]
            .iter()
            .zip(&alone.vectors[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-5, "input {i}: batched and alone differ by {d}");
    }
    let empty = model.embed(&[]).unwrap();
    assert!(empty.vectors.is_empty() && empty.truncated.is_empty());
    assert_eq!(empty.dim, 384);
}
