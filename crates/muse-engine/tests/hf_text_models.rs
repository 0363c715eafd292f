//! Hugging Face model folders through the whole engine: `TextModel::load` picks the architecture
//! from config.json, scoring agrees with transformers' logits, and generation (single and
//! batched) runs on Qwen2, Llama and GPT-2 folders.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_engine::{FinishReason, GenerateRequest, ScoreInput, TextModel};
use muse_sample::SamplingParams;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../muse-models/tests/fixtures")
        .join(name)
}

#[derive(serde::Deserialize)]
struct Expected {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    input_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
    #[serde(default)]
    positions: Option<Vec<usize>>,
}

fn log_softmax(row: &[f32], target: usize) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    let z: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
    row[target] as f64 - max - z.ln()
}

#[test]
fn scoring_a_qwen2_folder_matches_transformers() {
    for name in ["qwen2_tiny", "llama_tiny_tied"] {
        let dir = fixture(name);
        let m = TextModel::load(&dir).unwrap();
        let exp: Expected =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        for case in exp.cases.iter().filter(|c| c.positions.is_none()) {
            let s = m
                .score(&ScoreInput::TokenIds(case.input_ids.clone()))
                .unwrap();
            for (i, lp) in s.logprobs.iter().enumerate() {
                let want = log_softmax(&case.logits[i], case.input_ids[i + 1] as usize);
                assert!(
                    (lp - want).abs() < 1e-4,
                    "{name} position {i}: {lp} vs {want}"
                );
            }
        }
    }
}

#[test]
fn a_qwen2_folder_generates_with_its_chat_template() {
    let m = TextModel::load(&fixture("qwen2_tiny")).unwrap();
    assert!(m.has_chat_template());
    let mut req = GenerateRequest::new("Hello there");
    req.max_tokens = 6;
    req.sampling = SamplingParams::greedy();
    let text = m.prompt_text(&req).unwrap();
    assert!(
        text.starts_with("<|im_start|>user\nHello there<|im_end|>"),
        "{text:?}"
    );
    let g = m.generate(&req, |_| ControlFlow::Continue(())).unwrap();
    assert!(g.tokens <= 6);
    let batch = m.generate_n(&req, 2).unwrap();
    // Greedy: both choices are the single greedy run.
    for c in &batch.choices {
        assert_eq!(c.text, g.text);
    }
}

#[test]
fn a_gpt2_folder_generates_and_scores() {
    // The GPT-2 parity fixture plus a word-level tokenizer small enough for its 97-token vocabulary.
    let src = fixture("gpt2_tiny_a");
    let dir = std::env::temp_dir().join(format!("muse-gpt2-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let words = [
        "<eos>", "the", "sea", "is", "calm", "and", "blue", "waves", "roll", "in",
    ];
    let vocab: serde_json::Map<String, serde_json::Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), serde_json::json!(i)))
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [{"id": 0, "content": "<eos>", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<eos>"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"eos_token": "<eos>"}"#,
    )
    .unwrap();
    let m = TextModel::load(&dir).unwrap();
    assert!(!m.has_chat_template());
    let mut req = GenerateRequest::new("the sea is");
    req.max_tokens = 5;
    req.sampling = SamplingParams::greedy();
    let g = m.generate(&req, |_| ControlFlow::Continue(())).unwrap();
    assert!(g.tokens <= 5);
    assert!(g.finish_reason == FinishReason::Length || g.finish_reason == FinishReason::Stop);
    let batch = m.generate_n(&req, 3).unwrap();
    assert!(
        batch.choices.iter().all(|c| c.text == g.text),
        "greedy choices differ"
    );
    let s = m
        .score(&ScoreInput::Text("the sea is calm".into()))
        .unwrap();
    assert_eq!(s.logprobs.len(), 3);
    assert!(s.logprobs.iter().all(|lp| lp.is_finite() && *lp < 0.0));
}

#[test]
fn an_unsupported_folder_is_named() {
    let src = fixture("llama_tiny_tied");
    let dir = std::env::temp_dir().join(format!("muse-bert-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        cfg.replace("LlamaForCausalLM", "BertModel"),
    )
    .unwrap();
    let e = TextModel::load(&dir).unwrap_err().to_string();
    assert!(
        e.contains("BertModel") && e.contains("GPT2LMHeadModel"),
        "{e}"
    );
}
