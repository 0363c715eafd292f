//! Llama and Qwen2 checkpoints in the Hugging Face folder format against transformers: tiny
//! random models (tests/fixtures/{llama,qwen2}_tiny*, made by
//! scripts/fixtures/hf_causal_tiny_transformers.py) covering tied and untied heads, GQA and MQA,
//! a head size that is not a power of two, linear and llama3 RoPE scaling, Q/K/V biases, BF16
//! weights and sharded files. Logits must agree within 1e-4; greedy decoding through the KV cache
//! must give transformers' tokens; tokenizer.json must give transformers' ids.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_models::{Llama, LogitsMode, ModelError, TextTokenizer};
use std::path::{Path, PathBuf};

const TOL: f32 = 1e-4;

#[derive(serde::Deserialize)]
struct Expected {
    cases: Vec<Case>,
    greedy: Greedy,
    tokenization: Vec<Tokenized>,
}

#[derive(serde::Deserialize)]
struct Case {
    input_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
    #[serde(default)]
    positions: Option<Vec<usize>>,
}

#[derive(serde::Deserialize)]
struct Greedy {
    input_ids: Vec<u32>,
    new_tokens: Vec<u32>,
}

#[derive(serde::Deserialize)]
struct Tokenized {
    text: String,
    ids: Vec<u32>,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

fn check(name: &str) {
    let dir = fixture(name);
    let exp: Expected =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let model = Llama::from_hf_dir(&dir).unwrap();
    let vocab = model.config().vocab;
    let mut logits = Vec::new();
    let mut worst = 0f32;
    for case in &exp.cases {
        let mut cache = model.new_cache(4);
        model
            .forward(&case.input_ids, &mut cache, LogitsMode::All, &mut logits)
            .unwrap();
        let positions: Vec<usize> = case
            .positions
            .clone()
            .unwrap_or_else(|| (0..case.input_ids.len()).collect());
        assert_eq!(positions.len(), case.logits.len());
        for (&p, want) in positions.iter().zip(&case.logits) {
            let got = &logits[p * vocab..(p + 1) * vocab];
            for (a, b) in got.iter().zip(want) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    assert!(worst <= TOL, "{name}: max |logit difference| {worst}");

    // Greedy decoding one token at a time through the cache.
    let mut cache = model.new_cache(2);
    model
        .forward(
            &exp.greedy.input_ids,
            &mut cache,
            LogitsMode::Last,
            &mut logits,
        )
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..exp.greedy.new_tokens.len() {
        let t = argmax(&logits);
        got.push(t);
        model
            .forward(&[t], &mut cache, LogitsMode::Last, &mut logits)
            .unwrap();
    }
    assert_eq!(got, exp.greedy.new_tokens, "{name}: greedy continuation");

    let tok = TextTokenizer::from_hf_dir(&dir).unwrap();
    for t in &exp.tokenization {
        assert_eq!(
            tok.encode(&t.text).unwrap(),
            t.ids,
            "{name}: tokens of {:?}",
            t.text
        );
        assert_eq!(
            tok.decode(&t.ids),
            t.text.replace("<|im_start|>", "").replace("<|im_end|>", "")
        );
    }
}

#[test]
fn llama_tied_gqa() {
    check("llama_tiny_tied");
}

#[test]
fn llama_bf16_weights() {
    check("llama_tiny_tied_bf16");
}

#[test]
fn llama_untied_mqa_linear_rope() {
    check("llama_tiny_untied_gqa");
}

#[test]
fn llama3_rope_and_explicit_head_dim() {
    check("llama_tiny_llama3");
}

#[test]
fn qwen2_biases_untied() {
    check("qwen2_tiny");
}

#[test]
fn qwen2_bf16_weights() {
    check("qwen2_tiny_bf16");
}

#[test]
fn qwen2_tied() {
    check("qwen2_tiny_tied");
}

#[test]
fn qwen2_sharded_weights() {
    check("qwen2_tiny_sharded");
}

/// A copy of a fixture folder with one file rewritten.
fn edited(name: &str, tag: &str, file: &str, edit: impl FnOnce(Vec<u8>) -> Vec<u8>) -> PathBuf {
    let src = fixture(name);
    let dst = std::env::temp_dir().join(format!("muse-hf-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    let bytes = std::fs::read(dst.join(file)).unwrap();
    std::fs::write(dst.join(file), edit(bytes)).unwrap();
    dst
}

fn err(dir: &Path) -> String {
    match Llama::from_hf_dir(dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_weights_name_the_file() {
    let dir = edited("qwen2_tiny", "trunc", "model.safetensors", |b| {
        b[..b.len() / 2].to_vec()
    });
    let e = err(&dir);
    assert!(e.contains("model.safetensors"), "{e}");
}

#[test]
fn unknown_architecture_and_rope_scaling_are_named() {
    let dir = edited("llama_tiny_tied", "arch", "config.json", |b| {
        String::from_utf8(b)
            .unwrap()
            .replace("LlamaForCausalLM", "MambaForCausalLM")
            .into_bytes()
    });
    let e = err(&dir);
    assert!(
        e.contains("MambaForCausalLM") && e.contains("Qwen2ForCausalLM"),
        "{e}"
    );
    let dir = edited("llama_tiny_untied_gqa", "rope", "config.json", |b| {
        String::from_utf8(b)
            .unwrap()
            .replace("\"linear\"", "\"yarn\"")
            .into_bytes()
    });
    let e = err(&dir);
    assert!(e.contains("yarn"), "{e}");
}

#[test]
fn missing_tensor_is_named() {
    // Untie a tied model's config: the absent lm_head must be reported, not guessed.
    let dir = edited("llama_tiny_tied", "untie", "config.json", |b| {
        String::from_utf8(b)
            .unwrap()
            .replace(
                "\"tie_word_embeddings\": true",
                "\"tie_word_embeddings\": false",
            )
            .into_bytes()
    });
    let e = err(&dir);
    assert!(e.contains("lm_head.weight"), "{e}");
    assert!(matches!(
        Llama::from_hf_dir(&fixture("nonexistent")),
        Err(ModelError::MissingFile { .. })
    ));
}

/// F16 weights: the F32 fixture re-saved in half precision must load and give logits close to
/// transformers' F32 ones (within what F16 rounding of the weights moves them).
#[test]
fn f16_weights_load_and_stay_close() {
    use safetensors::tensor::TensorView;
    let src = fixture("llama_tiny_tied");
    let dst = std::env::temp_dir().join(format!("muse-hf-f16-{}", std::process::id()));
    std::fs::create_dir_all(&dst).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "expected.json",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut converted: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        assert_eq!(view.dtype(), safetensors::Dtype::F32);
        let halves: Vec<u8> = view
            .data()
            .chunks_exact(4)
            .flat_map(|b| {
                half::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes()
            })
            .collect();
        converted.push((name, view.shape().to_vec(), halves));
    }
    let views: Vec<(String, TensorView<'_>)> = converted
        .iter()
        .map(|(n, shape, data)| {
            (
                n.clone(),
                TensorView::new(safetensors::Dtype::F16, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        dst.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();

    let exp: Expected =
        serde_json::from_slice(&std::fs::read(dst.join("expected.json")).unwrap()).unwrap();
    let model = Llama::from_hf_dir(&dst).unwrap();
    let vocab = model.config().vocab;
    let mut logits = Vec::new();
    let mut worst = 0f32;
    for case in &exp.cases {
        let mut cache = model.new_cache(4);
        model
            .forward(&case.input_ids, &mut cache, LogitsMode::All, &mut logits)
            .unwrap();
        for (p, want) in case.logits.iter().enumerate() {
            for (a, b) in logits[p * vocab..(p + 1) * vocab].iter().zip(want) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    // F16 keeps 11 significant bits: weights move by ~5e-4 relative, logits of size ~10 by ~1e-2.
    assert!(worst > 0.0 && worst < 0.1, "max |logit difference| {worst}");
}
