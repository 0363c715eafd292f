//! Continuous batching (`start_sequences` / `step_batch`): sequences of different prompts that
//! join the batch at different steps must each give exactly their single `generate` run, and a
//! sequence cancelled by its consumer leaves the batch without disturbing the others.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

mod common;

use muse_engine::{ActiveSeq, FinishReason, GenerateRequest, TextModel};
use muse_sample::SamplingParams;
use std::ops::ControlFlow;

fn model() -> Option<TextModel> {
    let path = common::packaged(common::SMOLLM2)?;
    let mut m = TextModel::load(&path).unwrap();
    // f32 activations: batched and single logits agree to rounding, so sampled tokens match.
    m.set_exact_f32(true);
    Some(m)
}

fn request(prompt: &str, seed: u64, max_tokens: usize) -> GenerateRequest {
    let mut req = GenerateRequest::new(prompt);
    req.max_tokens = max_tokens;
    req.sampling = SamplingParams {
        temperature: 0.9,
        seed,
        ..SamplingParams::default()
    };
    req
}

#[test]
fn staggered_sequences_equal_their_single_runs() {
    let Some(m) = model() else { return };
    let reqs = [
        request("Write one sentence about rivers.", 1, 20),
        request(
            "List three fruits, then explain why you like the first one.",
            2,
            16,
        ),
        request("Hi", 3, 12),
    ];
    let mut texts = vec![String::new(); reqs.len()];
    let mut seqs: Vec<(usize, ActiveSeq)> = Vec::new();
    let mut batch = m.lm().new_batch();
    let mut logits = Vec::new();
    // Request k joins after 4·k steps.
    for step in 0..200 {
        for (k, req) in reqs.iter().enumerate() {
            if step == 4 * k {
                let (s, _) = m
                    .start_sequences(req, 1, &mut |_, t| {
                        texts[k].push_str(t);
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                seqs.extend(s.into_iter().map(|s| (k, s)));
            }
        }
        let owners: Vec<usize> = seqs.iter().map(|(k, _)| *k).collect();
        let mut refs: Vec<&mut ActiveSeq> = seqs.iter_mut().map(|(_, s)| s).collect();
        m.step_batch(&mut refs, &mut batch, &mut logits, &mut |i, t| {
            texts[owners[i]].push_str(t);
            ControlFlow::Continue(())
        })
        .unwrap();
        if step > 8 && seqs.iter().all(|(_, s)| s.is_finished()) {
            break;
        }
    }
    for (k, req) in reqs.iter().enumerate() {
        let single = m.generate(req, |_| ControlFlow::Continue(())).unwrap();
        let (_, s) = seqs.iter().find(|(o, _)| *o == k).unwrap();
        assert_eq!(texts[k], single.text, "request {k}: streamed text");
        assert_eq!(s.text(), single.text, "request {k}: sequence text");
        assert_eq!(s.tokens(), single.tokens);
        assert_eq!(s.finish_reason(), single.finish_reason);
    }
}

#[test]
fn a_cancelled_sequence_leaves_the_others_running() {
    let Some(m) = model() else { return };
    let req = request("Write one sentence about rivers.", 5, 24);
    let (mut seqs, prompt_tokens) = m
        .start_sequences(&req, 2, &mut |_, _| ControlFlow::Continue(()))
        .unwrap();
    assert!(prompt_tokens > 0);
    let mut batch = m.lm().new_batch();
    let mut logits = Vec::new();
    for _ in 0..100 {
        let mut refs: Vec<&mut ActiveSeq> = seqs.iter_mut().collect();
        // The consumer of sequence 0 has gone.
        m.step_batch(&mut refs, &mut batch, &mut logits, &mut |i, _| {
            if i == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        if seqs.iter().all(ActiveSeq::is_finished) {
            break;
        }
    }
    assert_eq!(seqs[0].finish_reason(), FinishReason::Cancelled);
    assert!(seqs[0].tokens() <= 2);
    let mut single = req.clone();
    single.sampling.seed += 1;
    let g = m.generate(&single, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(seqs[1].text(), g.text);
}

#[test]
fn bad_n_is_named() {
    let Some(m) = model() else { return };
    let err = m
        .start_sequences(&request("Hi", 1, 4), 0, &mut |_, _| {
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert!(err.to_string().contains("`n`"), "{err}");
}
