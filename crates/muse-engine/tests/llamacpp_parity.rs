//! Parity of Muse's GGUF Llama path on the packaged SmolLM2-135M-Instruct Q4_1, against two
//! references:
//!
//! * `smollm2_numpy_f32.json` (`scripts/fixtures/smollm2_numpy_f32.py`): a float64 NumPy forward pass
//!   on weights dequantized by gguf-py. Muse's exact path (`set_exact_f32`) computes the same
//!   function, so teacher-forced logprobs must agree to 1e-3 nats (measured: 1e-5).
//! * `smollm2_llamacpp.json` (`scripts/fixtures/smollm2_llamacpp.py`, llama-cpp-python 0.3.36, f32
//!   KV cache): llama.cpp's quantized path. Both it and Muse's quantized path quantize activations to
//!   8 bits per 32-value block (llama.cpp with an f16 scale, Muse with f32) and sum in different
//!   orders, so each sits a few hundredths of a nat from the exact function (measured on this text:
//!   llama.cpp 0.052 mean / 0.25 max, Muse 0.051 / 0.24). Tolerances: mean |Δ| to llama.cpp ≤ 0.1 and
//!   max ≤ 0.6 nats; Muse's own distance from the exact reference at most 1.5× llama.cpp's; top-1 equal
//!   wherever llama.cpp's top-2 margin exceeds 0.3 nats (a closer call may flip under that noise and
//!   must then be in llama.cpp's top 5); tokenization identical on every fixture string.
//!
//! Greedy continuations: on 5 everyday prompts the exact path equals NumPy's 20 tokens; the quantized
//! path equals llama.cpp's up to llama.cpp's first step decided by less than 0.35 nats (beyond that,
//! two correct quantized implementations may differ — see the generator), and in full on prompts
//! whose 20 steps are all decided by more.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

mod common;

use muse_engine::{ScoreInput, TextModel};
use muse_models::LogitsMode;
use serde_json::Value;
use std::path::Path;

fn fixture() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../muse-models/tests/fixtures/smollm2_llamacpp.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn model() -> Option<TextModel> {
    let path = common::packaged(common::SMOLLM2)?;
    let m = TextModel::load(&path).unwrap();
    Some(m)
}

#[test]
fn tokenizer_matches_llama_cpp() {
    let Some(m) = model() else { return };
    let fx = fixture();
    let mut checked = 0;
    for case in fx["tokenization"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want = ids(&case["ids"]);
        // Muse always parses control tokens; llama.cpp's special=false cases contain none except the
        // one deliberately testing that mode, which we skip.
        if case["special"] == Value::Bool(false) && text.contains("<|im_start|>") {
            continue;
        }
        let got = m.tokenizer().encode(text).unwrap();
        assert_eq!(got, want, "tokenization of {text:?}");
        assert_eq!(
            m.tokenizer().decode(&got),
            text.replace("<|im_start|>", "").replace("<|im_end|>", "")
        );
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} cases checked");
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn mean_max_abs_diff(a: &[f64], b: &[f64]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    (
        d.iter().sum::<f64>() / d.len() as f64,
        d.iter().cloned().fold(0.0, f64::max),
    )
}

fn numpy_fixture() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../muse-models/tests/fixtures/smollm2_numpy_f32.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn exact_path_matches_float64_numpy_reference() {
    let Some(mut m) = model() else { return };
    m.set_exact_f32(true);
    let fx = numpy_fixture();
    let token_ids = ids(&fx["token_ids"]);
    let scored = m.score(&ScoreInput::TokenIds(token_ids)).unwrap();
    let (mean, max) = mean_max_abs_diff(&scored.logprobs, &floats(&fx["logprobs"]));
    eprintln!("exact path vs NumPy float64: mean |diff| {mean:.2e}, max {max:.2e}");
    assert!(max <= 1e-3, "max |logprob diff| {max}");
}

#[test]
fn quantized_logprobs_match_llama_cpp() {
    let Some(m) = model() else { return };
    let tf = fixture()["teacher_forced"].clone();
    let token_ids = ids(&tf["token_ids"]);
    assert_eq!(
        m.tokenizer().encode(tf["text"].as_str().unwrap()).unwrap(),
        token_ids
    );
    let exact = floats(&numpy_fixture()["logprobs"]);
    let theirs = floats(&tf["logprobs"]);
    let ours = m
        .score(&ScoreInput::TokenIds(token_ids.clone()))
        .unwrap()
        .logprobs;

    let (mean, max) = mean_max_abs_diff(&ours, &theirs);
    let (our_noise, _) = mean_max_abs_diff(&ours, &exact);
    let (their_noise, _) = mean_max_abs_diff(&theirs, &exact);
    eprintln!(
        "quantized vs llama.cpp: mean |diff| {mean:.4}, max {max:.4}; distance from exact: Muse {our_noise:.4}, llama.cpp {their_noise:.4}"
    );
    assert!(mean <= 0.1 && max <= 0.6, "mean {mean} max {max}");
    assert!(
        our_noise <= 1.5 * their_noise,
        "Muse {our_noise} vs llama.cpp {their_noise} from exact"
    );

    // Top-1 per position from Muse's logits.
    let vocab = m.lm().vocab();
    let mut cache = m.lm().new_cache(token_ids.len());
    let mut logits = Vec::new();
    m.lm()
        .forward(&token_ids, &mut cache, LogitsMode::All, &mut logits)
        .unwrap();
    let top5 = tf["top5"].as_array().unwrap();
    let mut agree = 0;
    for (i, t5) in top5.iter().enumerate() {
        let ours = muse_sample::greedy(&logits[i * vocab..(i + 1) * vocab]).unwrap();
        let their_ids = ids(&t5["ids"]);
        let lp = floats(&t5["logprobs"]);
        if ours == their_ids[0] {
            agree += 1;
        } else {
            let margin = lp[0] - lp[1];
            assert!(
                margin <= 0.3,
                "position {i}: top-1 {ours} vs llama.cpp {} (margin {margin})",
                their_ids[0]
            );
            assert!(
                their_ids.contains(&ours),
                "position {i}: top-1 {ours} not in llama.cpp's top 5"
            );
        }
    }
    eprintln!("top-1 agreement with llama.cpp: {agree}/{}", top5.len());
}

fn greedy_20(m: &TextModel, prompt: &[u32]) -> Vec<u32> {
    let mut cache = m.lm().new_cache(prompt.len() + 20);
    let mut logits = Vec::new();
    m.lm()
        .forward(prompt, &mut cache, LogitsMode::Last, &mut logits)
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        let t = muse_sample::greedy(&logits).unwrap();
        got.push(t);
        m.lm()
            .forward(&[t], &mut cache, LogitsMode::Last, &mut logits)
            .unwrap();
    }
    got
}

#[test]
fn exact_greedy_continuations_match_numpy_for_20_tokens() {
    let Some(mut m) = model() else { return };
    m.set_exact_f32(true);
    let fx = numpy_fixture();
    let cases = fx["greedy"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        // The reference's closest call is far above the exact path's error (≤ 1e-5 nats).
        assert!(floats(&case["margins"]).iter().all(|&mg| mg > 1e-3));
        assert_eq!(
            greedy_20(&m, &ids(&case["prompt_ids"])),
            ids(&case["continuation_ids"])
        );
    }
}

/// A greedy case's prompt ids, checked to be what Muse's tokenizer makes of its text.
fn fixture_prompt_ids(m: &TextModel, case: &Value) -> Vec<u32> {
    let prompt = ids(&case["prompt_ids"]);
    let text = case["prompt"].as_str().unwrap();
    assert_eq!(
        m.tokenizer().encode(text).unwrap(),
        prompt,
        "tokenization of {text:?}"
    );
    prompt
}

#[test]
fn quantized_greedy_continuations_match_llama_cpp() {
    let Some(m) = model() else { return };
    let fx = fixture();
    let min_margin = fx["greedy_min_margin"].as_f64().unwrap();
    assert!(
        min_margin >= 0.3,
        "the margin must exceed the measured quantization noise"
    );
    // Prompts whose 20 steps are all decisive: equal in full.
    let decisive = fx["greedy_decisive"].as_array().unwrap();
    assert!(decisive.len() >= 2);
    for case in decisive {
        let prompt = fixture_prompt_ids(&m, case);
        assert_eq!(
            greedy_20(&m, &prompt),
            ids(&case["continuation_ids"]),
            "{:?}",
            case["prompt"]
        );
    }
    // The five everyday prompts: equal up to llama.cpp's first near-tie.
    let mut compared = 0;
    for case in fx["greedy"].as_array().unwrap() {
        let prompt = fixture_prompt_ids(&m, case);
        let want = ids(&case["continuation_ids"]);
        let decided = floats(&case["margins"])
            .iter()
            .take_while(|&&mg| mg >= min_margin)
            .count();
        let got = greedy_20(&m, &prompt);
        assert_eq!(got[..decided], want[..decided], "{:?}", case["prompt"]);
        compared += decided;
    }
    eprintln!("greedy tokens compared with llama.cpp before its first near-tie: {compared} of 100");
}
