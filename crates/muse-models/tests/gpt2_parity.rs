//! GPT-2 against Hugging Face transformers: two tiny random `GPT2LMHeadModel`s
//! (`tests/fixtures/gpt2_tiny_{a,b}/`, made by `scripts/fixtures/gpt2_tiny_transformers.py`) and
//! their float32 logits for fixed token sequences. Checked both as one full-sequence forward and
//! token by token through the KV cache; then the errors a caller can meet.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use candle_core::Device;
use muse_models::{Gpt2, ModelError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const TOL: f32 = 1e-4;

#[derive(serde::Deserialize)]
struct Expected {
    torch: String,
    transformers: String,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    tokens: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected(dir: &Path) -> Expected {
    serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap()
}

fn max_diff(got: &[f32], want: &[Vec<f32>]) -> f32 {
    let want: Vec<f32> = want.iter().flatten().copied().collect();
    assert_eq!(got.len(), want.len(), "logit count");
    got.iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn check_parity(name: &str) {
    let dir = fixture(name);
    let exp = expected(&dir);
    let model = Gpt2::from_dir(&dir).unwrap();
    let vocab = model.config().vocab_size;
    let mut worst = 0f32;
    for case in &exp.cases {
        // Whole sequence at once.
        let mut cache = model.new_cache();
        let full = model.forward(&case.tokens, &mut cache).unwrap();
        assert_eq!(cache.len(), case.tokens.len());
        let d = max_diff(&full, &case.logits);
        assert!(d <= TOL, "{name} full forward: max |diff| {d}");
        worst = worst.max(d);

        // One token at a time through the cache.
        let mut cache = model.new_cache();
        let mut stepped = Vec::with_capacity(full.len());
        for &t in &case.tokens {
            let row = model.forward(&[t], &mut cache).unwrap();
            assert_eq!(row.len(), vocab);
            stepped.extend(row);
        }
        let d = max_diff(&stepped, &case.logits);
        assert!(d <= TOL, "{name} token-by-token decode: max |diff| {d}");
        worst = worst.max(d);

        // A prefix, then the rest in one chunk.
        let mut cache = model.new_cache();
        let (a, b) = case.tokens.split_at(3);
        let mut chunked = model.forward(a, &mut cache).unwrap();
        chunked.extend(model.forward(b, &mut cache).unwrap());
        let d = max_diff(&chunked, &case.logits);
        assert!(d <= TOL, "{name} chunked prefill: max |diff| {d}");
        worst = worst.max(d);
    }
    eprintln!(
        "{name}: max |logit diff| {worst:e} vs torch {} / transformers {}",
        exp.torch, exp.transformers
    );
}

#[test]
fn tiny_a_matches_transformers() {
    check_parity("gpt2_tiny_a");
}

#[test]
fn tiny_b_matches_transformers() {
    check_parity("gpt2_tiny_b");
}

#[test]
fn token_out_of_range_is_named_and_cache_untouched() {
    let model = Gpt2::from_dir(&fixture("gpt2_tiny_a")).unwrap();
    let mut cache = model.new_cache();
    model.forward(&[1, 2], &mut cache).unwrap();
    let e = model.forward(&[3, 97], &mut cache).unwrap_err();
    assert!(
        matches!(e, ModelError::TokenOutOfRange { id: 97, vocab: 97 }),
        "{e}"
    );
    assert_eq!(cache.len(), 2);
}

#[test]
fn too_many_positions_is_an_error() {
    let model = Gpt2::from_dir(&fixture("gpt2_tiny_a")).unwrap();
    let n = model.config().n_positions;
    let mut cache = model.new_cache();
    let e = model.forward(&vec![1; n + 1], &mut cache).unwrap_err();
    assert!(
        matches!(e, ModelError::ContextOverflow { tokens, context } if tokens == n + 1 && context == n),
        "{e}"
    );
    // Exactly full is fine; one more step is not.
    model.forward(&vec![1; n], &mut cache).unwrap();
    let e = model.forward(&[1], &mut cache).unwrap_err();
    assert!(matches!(e, ModelError::ContextOverflow { .. }), "{e}");
}

/// A copy of fixture `a` with its weights rewritten by `edit`.
fn edited_copy(tag: &str, edit: impl FnOnce(&mut HashMap<String, candle_core::Tensor>)) -> PathBuf {
    let src = fixture("gpt2_tiny_a");
    let dir = std::env::temp_dir().join(format!("muse-gpt2-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let mut ts =
        candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
    edit(&mut ts);
    candle_core::safetensors::save(&ts, dir.join("model.safetensors")).unwrap();
    dir
}

fn load_err(dir: &Path) -> ModelError {
    match Gpt2::from_dir(dir) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn missing_tensor_is_named() {
    let dir = edited_copy("missing", |ts| {
        ts.remove("transformer.h.1.mlp.c_fc.weight").unwrap();
    });
    let e = load_err(&dir);
    assert!(
        matches!(&e, ModelError::MissingTensor(n) if n == "transformer.h.1.mlp.c_fc.weight"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_shape_names_tensor_and_both_shapes() {
    let dir = edited_copy("shape", |ts| {
        let w = ts["transformer.h.0.attn.c_proj.weight"]
            .narrow(0, 0, 40)
            .unwrap();
        ts.insert("transformer.h.0.attn.c_proj.weight".into(), w);
    });
    let e = load_err(&dir);
    assert!(
        matches!(&e, ModelError::TensorShape { name, expected, found }
            if name == "transformer.h.0.attn.c_proj.weight" && expected == &[48, 48] && found == &[40, 48]),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unprefixed_keys_and_untied_head_load() {
    let model = Gpt2::from_dir(&fixture("gpt2_tiny_a")).unwrap();
    let tokens = [5u32, 17, 0, 96];
    let want = model.forward(&tokens, &mut model.new_cache()).unwrap();
    // Strip `transformer.` and add an explicit lm_head equal to wte: same logits.
    let dir = edited_copy("bare", |ts| {
        let old: Vec<_> = ts.drain().collect();
        for (k, v) in old {
            let k = k.strip_prefix("transformer.").unwrap_or(&k).to_string();
            ts.insert(k, v);
        }
        let wte = ts["wte.weight"].clone();
        ts.insert("lm_head.weight".into(), wte);
    });
    let bare = Gpt2::from_dir(&dir).unwrap();
    let got = bare.forward(&tokens, &mut bare.new_cache()).unwrap();
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let src = fixture("gpt2_tiny_a");
    let dir = std::env::temp_dir().join(format!("muse-gpt2-{}-arch", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = std::fs::read_to_string(src.join("config.json"))
        .unwrap()
        .replace("\"GPT2LMHeadModel\"", "\"GPTNeoForCausalLM\"");
    std::fs::write(dir.join("config.json"), cfg).unwrap();
    std::fs::copy(src.join("model.safetensors"), dir.join("model.safetensors")).unwrap();
    let e = load_err(&dir).to_string();
    assert!(
        e.contains("GPTNeoForCausalLM") && e.contains("GPT2LMHeadModel") && e.contains("GPT2Model"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batched_decode_matches_one_sequence_at_a_time() {
    let model = Gpt2::from_dir(&fixture("gpt2_tiny_a")).unwrap();
    let prompts: [&[u32]; 3] = [&[5, 17, 0], &[1, 2, 3, 50, 60], &[96]];
    let mut solo: Vec<_> = prompts
        .iter()
        .map(|p| {
            let mut c = model.new_cache();
            model.forward(p, &mut c).unwrap();
            c
        })
        .collect();
    let mut batched = solo.clone();
    let vocab = model.config().vocab_size;
    for step in [[7u32, 8, 9], [42, 42, 0]] {
        let mut refs: Vec<_> = batched.iter_mut().collect();
        let got = model.forward_batch(&step, &mut refs).unwrap();
        for (i, c) in solo.iter_mut().enumerate() {
            let want = model.forward(&[step[i]], c).unwrap();
            let d = got[i * vocab..(i + 1) * vocab]
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(d < 1e-5, "sequence {i}: {d}");
        }
    }
    let mut refs: Vec<_> = batched.iter_mut().collect();
    assert!(model.forward_batch(&[1, 2], &mut refs).is_err());
    assert!(model.forward_batch(&[1, 2, 999], &mut refs).is_err());
    assert_eq!(
        refs[0].len(),
        5,
        "a rejected step leaves the caches untouched"
    );
}
