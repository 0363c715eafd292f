//! Scoring long texts: chunked scoring must equal one forward pass over the whole text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

mod common;

use muse_engine::{ScoreInput, TextModel};
use muse_models::LogitsMode;

#[test]
fn chunked_scoring_matches_a_single_pass() {
    let Some(path) = common::packaged(common::SMOLLM2) else {
        return;
    };
    let m = TextModel::load(&path).unwrap();
    let ids = m.filler_tokens(600).unwrap();
    let scored = m.score(&ScoreInput::TokenIds(ids.clone())).unwrap();
    assert_eq!(scored.logprobs.len(), 599);

    let vocab = m.lm().vocab();
    let mut cache = m.lm().new_cache(ids.len());
    let mut logits = Vec::new();
    m.lm()
        .forward(&ids, &mut cache, LogitsMode::All, &mut logits)
        .unwrap();
    for (i, lp) in scored.logprobs.iter().enumerate() {
        let row = &logits[i * vocab..(i + 1) * vocab];
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        let want = row[ids[i + 1] as usize] as f64 - max - z.ln();
        assert!((lp - want).abs() < 1e-3, "position {i}: {lp} vs {want}");
    }
    let mean = scored.logprobs.iter().sum::<f64>() / 599.0;
    assert!((scored.perplexity - (-mean).exp()).abs() < 1e-9 * scored.perplexity);
}
