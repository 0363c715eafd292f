//! `generate_n`: N samples of one prompt decoded in one batch must be the N single generations
//! with consecutive seeds, each with its own stop handling and finish reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

mod common;

use muse_engine::{FinishReason, GenerateRequest, TextModel};
use muse_sample::SamplingParams;
use std::ops::ControlFlow;

fn model() -> Option<TextModel> {
    let path = common::packaged(common::SMOLLM2)?;
    let mut m = TextModel::load(&path).unwrap();
    // f32 activations: batched and single logits then agree to rounding, so sampled tokens match.
    m.set_exact_f32(true);
    Some(m)
}

fn request(max_tokens: usize) -> GenerateRequest {
    let mut req = GenerateRequest::new("Write one sentence about rivers.");
    req.max_tokens = max_tokens;
    req.sampling = SamplingParams {
        temperature: 1.0,
        seed: 7,
        ..SamplingParams::default()
    };
    req
}

#[test]
fn each_choice_equals_a_single_run_with_its_seed() {
    let Some(m) = model() else { return };
    let req = request(24);
    let batch = m.generate_n(&req, 4).unwrap();
    assert_eq!(batch.choices.len(), 4);
    for (i, c) in batch.choices.iter().enumerate() {
        let mut single = req.clone();
        single.sampling.seed = req.sampling.seed + i as u64;
        assert_eq!(c.seed, single.sampling.seed);
        let g = m.generate(&single, |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(c.text, g.text, "choice {i}");
        assert_eq!(c.tokens, g.tokens);
        assert_eq!(c.finish_reason, g.finish_reason);
    }
    let distinct: std::collections::HashSet<&str> =
        batch.choices.iter().map(|c| c.text.as_str()).collect();
    assert!(
        distinct.len() > 1,
        "four seeds at temperature 1 gave one text"
    );
    let total: usize = batch.choices.iter().map(|c| c.tokens).sum();
    assert_eq!(batch.timings.generated_tokens, total);
}

#[test]
fn sequences_finish_independently() {
    let Some(m) = model() else { return };
    // A stop string most samples hit early: some sequences stop, others run to the budget, and
    // the batch keeps decoding the rest after one has left.
    let mut req = request(20);
    req.stop = vec![" ".into()];
    req.sampling.seed = 1;
    let batch = m.generate_n(&req, 6).unwrap();
    for c in &batch.choices {
        match c.finish_reason {
            FinishReason::Stop => assert!(!c.text.contains(' '), "{:?}", c.text),
            FinishReason::Length => assert_eq!(c.tokens, 20),
            FinishReason::Cancelled => panic!("nothing cancels a batch"),
        }
    }
    assert!(
        batch
            .choices
            .iter()
            .any(|c| c.finish_reason == FinishReason::Stop)
    );
    let req = request(3);
    let batch = m.generate_n(&req, 3).unwrap();
    assert!(batch.choices.iter().all(|c| c.tokens <= 3));
}

#[test]
fn bad_n_is_named() {
    let Some(m) = model() else { return };
    for n in [0, 1000] {
        let err = m.generate_n(&request(4), n).unwrap_err().to_string();
        assert!(err.contains("`n`"), "{err}");
    }
}
