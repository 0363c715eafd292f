//! Loading a sentence-embedding folder: every broken piece is a typed error naming what is wrong,
//! never a panic. The folders are crafted here: a tiny BERT (hidden 8, 2 layers) with seeded
//! random weights written as safetensors, a hand-written WordPiece tokenizer.json and the
//! sentence-transformers side files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use candle_core::{DType, Device, Tensor};
use muse_models::{ModelError, SentenceEmbedder};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const HIDDEN: usize = 8;
const INTER: usize = 16;
const LAYERS: usize = 2;
const VOCAB: usize = 16;
const MAX_POS: usize = 32;

fn config_json(arch: &str) -> String {
    format!(
        r#"{{"architectures": ["{arch}"], "model_type": "bert", "vocab_size": {VOCAB},
        "hidden_size": {HIDDEN}, "num_hidden_layers": {LAYERS}, "num_attention_heads": 2,
        "intermediate_size": {INTER}, "max_position_embeddings": {MAX_POS},
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}}"#
    )
}

/// WordPiece over a 16-token vocabulary, with fixed padding to 16 switched on (as
/// all-MiniLM-L6-v2's tokenizer.json has it) to check that the loader switches it off.
const TOKENIZER_JSON: &str = r###"{
  "version": "1.0",
  "truncation": {"max_length": 12, "strategy": "LongestFirst", "stride": 0},
  "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null,
              "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
  "added_tokens": [
    {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
  ],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                 "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
    "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
             {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
             {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
    "special_tokens": {
      "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
      "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
    }
  },
  "decoder": null,
  "model": {
    "type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
    "max_input_chars_per_word": 100,
    "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "the": 4, "cat": 5, "sat": 6,
              "on": 7, "mat": 8, "a": 9, "dog": 10, ".": 11, "##s": 12, "big": 13, "red": 14, "!": 15}
  }
}"###;

const POOLING_MEAN: &str = r#"{"word_embedding_dimension": 8, "pooling_mode_cls_token": false,
  "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
  "pooling_mode_mean_sqrt_len_tokens": false}"#;

/// Every tensor of the tiny model, in the order `BertModel::new` reads them, with its shape.
fn tensor_specs() -> Vec<(String, Vec<usize>)> {
    let mut v = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![VOCAB, HIDDEN],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![MAX_POS, HIDDEN],
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, HIDDEN],
        ),
        ("embeddings.LayerNorm.weight".into(), vec![HIDDEN]),
        ("embeddings.LayerNorm.bias".into(), vec![HIDDEN]),
    ];
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for (name, shape) in [
            ("attention.self.query.weight", vec![HIDDEN, HIDDEN]),
            ("attention.self.query.bias", vec![HIDDEN]),
            ("attention.self.key.weight", vec![HIDDEN, HIDDEN]),
            ("attention.self.key.bias", vec![HIDDEN]),
            ("attention.self.value.weight", vec![HIDDEN, HIDDEN]),
            ("attention.self.value.bias", vec![HIDDEN]),
            ("attention.output.dense.weight", vec![HIDDEN, HIDDEN]),
            ("attention.output.dense.bias", vec![HIDDEN]),
            ("attention.output.LayerNorm.weight", vec![HIDDEN]),
            ("attention.output.LayerNorm.bias", vec![HIDDEN]),
            ("intermediate.dense.weight", vec![INTER, HIDDEN]),
            ("intermediate.dense.bias", vec![INTER]),
            ("output.dense.weight", vec![HIDDEN, INTER]),
            ("output.dense.bias", vec![HIDDEN]),
            ("output.LayerNorm.weight", vec![HIDDEN]),
            ("output.LayerNorm.bias", vec![HIDDEN]),
        ] {
            v.push((format!("{p}.{name}"), shape));
        }
    }
    v
}

/// Seeded weights (a small LCG, so the files are the same on every run).
fn weights(prefix: &str) -> HashMap<String, Tensor> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.8
    };
    tensor_specs()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if name.contains("LayerNorm.weight") {
                (0..n).map(|_| 1.0 + next() * 0.1).collect()
            } else {
                (0..n).map(|_| next()).collect()
            };
            let t = Tensor::from_vec(data, shape, &Device::Cpu).unwrap();
            (format!("{prefix}{name}"), t)
        })
        .collect()
}

/// A complete, valid tiny folder.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("muse-bert-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(dir.join("config.json"), config_json("BertModel")).unwrap();
    std::fs::write(dir.join("tokenizer.json"), TOKENIZER_JSON).unwrap();
    std::fs::write(dir.join("1_Pooling/config.json"), POOLING_MEAN).unwrap();
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 10, "do_lower_case": false}"#,
    )
    .unwrap();
    save(&dir.join("model.safetensors"), &weights(""));
    dir
}

fn save(path: &Path, ts: &HashMap<String, Tensor>) {
    candle_core::safetensors::save(ts, path).unwrap();
}

fn load_err(dir: &Path) -> ModelError {
    match SentenceEmbedder::load(dir) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn tiny_model_embeds_unit_vectors_without_padding() {
    let dir = folder("ok");
    let m = SentenceEmbedder::load(&dir).unwrap();
    assert_eq!(m.dim(), HIDDEN);
    assert_eq!(m.max_seq_length(), 10);
    // Fixed padding to 16 in tokenizer.json is off: [CLS] the cat [SEP].
    assert_eq!(m.token_ids("the cat").unwrap(), vec![2, 4, 5, 3]);
    assert_eq!(m.token_ids("").unwrap(), vec![2, 3]);

    let texts = ["the cat sat on the mat .", "", "a big red dog !", "cats"];
    let e = m.embed(&texts).unwrap();
    assert_eq!(e.vectors.len(), 4);
    assert!(e.truncated.is_empty());
    for v in &e.vectors {
        assert_eq!(v.len(), HIDDEN);
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "norm {n}");
        assert!(v.iter().all(|x| x.is_finite()));
    }
    // Batched (packed with others) or alone, and in any batch size: the same vectors.
    for (i, t) in texts.iter().enumerate() {
        let alone = SentenceEmbedder::load(&dir)
            .unwrap()
            .with_batch_size(1)
            .embed(&[t])
            .unwrap();
        let d = e.vectors[i]
            .iter()
            .zip(&alone.vectors[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-6, "input {i} differs by {d}");
    }
    assert!(m.embed(&[]).unwrap().vectors.is_empty());
}

#[test]
fn long_inputs_are_truncated_and_reported() {
    let dir = folder("trunc");
    let m = SentenceEmbedder::load(&dir).unwrap();
    let long = "the cat sat on the mat . the dog sat on the big red mat !";
    let e = m.embed(&["a dog", long]).unwrap();
    assert_eq!(e.truncated.len(), 1);
    let t = &e.truncated[0];
    assert_eq!((t.index, t.tokens, t.kept), (1, 18, 10));
    // Truncation keeps [CLS] … [SEP].
    let ids = m.token_ids(long).unwrap();
    assert_eq!(ids.len(), 10);
    assert_eq!((ids[0], ids[9]), (2, 3));
}

#[test]
fn bert_prefix_and_sharded_weights_load_the_same_model() {
    let plain = folder("plain");
    let want = SentenceEmbedder::load(&plain)
        .unwrap()
        .embed(&["the cat sat"])
        .unwrap();

    let prefixed = folder("prefixed");
    save(&prefixed.join("model.safetensors"), &weights("bert."));
    let got = SentenceEmbedder::load(&prefixed)
        .unwrap()
        .embed(&["the cat sat"])
        .unwrap();
    assert_eq!(got.vectors, want.vectors);

    let sharded = folder("sharded");
    std::fs::remove_file(sharded.join("model.safetensors")).unwrap();
    let all = weights("");
    let (mut a, mut b) = (HashMap::new(), HashMap::new());
    let mut map = serde_json::Map::new();
    for (k, v) in all {
        let file = if k.starts_with("encoder.layer.1") {
            b.insert(k.clone(), v);
            "model-00002-of-00002.safetensors"
        } else {
            a.insert(k.clone(), v);
            "model-00001-of-00002.safetensors"
        };
        map.insert(k, serde_json::Value::String(file.into()));
    }
    save(&sharded.join("model-00001-of-00002.safetensors"), &a);
    save(&sharded.join("model-00002-of-00002.safetensors"), &b);
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {}, "weight_map": map}).to_string(),
    )
    .unwrap();
    let got = SentenceEmbedder::load(&sharded)
        .unwrap()
        .embed(&["the cat sat"])
        .unwrap();
    assert_eq!(got.vectors, want.vectors);
}

#[test]
fn missing_tensor_names_the_first_missing_one() {
    let dir = folder("missing-tensor");
    let mut w = weights("");
    w.remove("encoder.layer.1.attention.self.key.bias");
    w.remove("encoder.layer.1.output.dense.weight");
    save(&dir.join("model.safetensors"), &w);
    let e = load_err(&dir);
    assert!(
        matches!(&e, ModelError::MissingTensor(n) if n == "encoder.layer.1.attention.self.key.bias"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("encoder.layer.1.attention.self.key.bias")
    );
}

#[test]
fn wrong_shape_names_tensor_and_both_shapes() {
    let dir = folder("bad-shape");
    let mut w = weights("");
    w.insert(
        "encoder.layer.0.intermediate.dense.weight".into(),
        Tensor::zeros((INTER, HIDDEN + 1), DType::F32, &Device::Cpu).unwrap(),
    );
    save(&dir.join("model.safetensors"), &w);
    match load_err(&dir) {
        ModelError::TensorShape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "encoder.layer.0.intermediate.dense.weight");
            assert_eq!(expected, vec![INTER, HIDDEN]);
            assert_eq!(found, vec![INTER, HIDDEN + 1]);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let dir = folder("arch");
    std::fs::write(dir.join("config.json"), config_json("RobertaModel")).unwrap();
    let e = load_err(&dir);
    assert!(
        matches!(e, ModelError::UnsupportedArchitecture { .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("RobertaModel") && msg.contains("BertModel"),
        "{msg}"
    );
}

#[test]
fn corrupt_safetensors_is_a_typed_error_naming_the_file() {
    let dir = folder("corrupt");
    let path = dir.join("model.safetensors");
    let full = std::fs::read(&path).unwrap();
    // Truncated data, a header length pointing past the end, and a garbled JSON header.
    let mut garbled = full.clone();
    garbled[8..16].copy_from_slice(b"{{{{{{{{");
    let mut huge = full.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    for bytes in [&full[..full.len() / 2], &full[..5], &garbled[..], &huge[..]] {
        std::fs::write(&path, bytes).unwrap();
        let e = load_err(&dir);
        assert!(
            matches!(&e, ModelError::Corrupt { path: p, .. } if p == &path),
            "{e:?}"
        );
        assert!(e.to_string().contains("model.safetensors"), "{e}");
    }
}

#[test]
fn missing_files_are_named() {
    let dir = folder("no-tokenizer");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let e = load_err(&dir);
    assert!(
        matches!(&e, ModelError::MissingFile { path, .. } if path.ends_with("tokenizer.json")),
        "{e:?}"
    );

    let dir = folder("no-config");
    std::fs::remove_file(dir.join("config.json")).unwrap();
    let e = load_err(&dir);
    assert!(
        matches!(&e, ModelError::MissingFile { path, .. } if path.ends_with("config.json")),
        "{e:?}"
    );

    let dir = folder("no-weights");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let e = load_err(&dir);
    assert!(matches!(&e, ModelError::MissingFile { .. }), "{e:?}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");

    // sentence_bert_config.json is optional: max_seq_length falls back to the position table.
    let dir = folder("no-st-config");
    std::fs::remove_file(dir.join("sentence_bert_config.json")).unwrap();
    assert_eq!(
        SentenceEmbedder::load(&dir).unwrap().max_seq_length(),
        MAX_POS
    );
}

#[test]
fn unsupported_pooling_modes_are_named() {
    let dir = folder("pooling");
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 8, "pooling_mode_cls_token": true,
            "pooling_mode_mean_tokens": false, "pooling_mode_max_tokens": true}"#,
    )
    .unwrap();
    let e = load_err(&dir);
    assert!(matches!(e, ModelError::UnsupportedPooling { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("cls_token") && msg.contains("max_tokens"),
        "{msg}"
    );
}
