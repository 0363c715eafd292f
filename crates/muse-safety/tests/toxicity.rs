//! The toxicity filter without its model: the Keras tokenizer port, configuration, and the
//! typed errors for missing, truncated and corrupt model files (fail closed).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use std::path::Path;

use muse_safety::{
    ContentFilter, FilterChain, KerasTokenizer, SafetyConfig, SafetyError, Stage,
    ToxicityClassifier, ToxicityConfig, ToxicityFilter,
};

fn tokenizer_json(extra: &str) -> String {
    format!(
        r##"{{"format": "keras-tokenizer/1", "filters": "!\"#$%&()*+,-./:;<=>?@[\\]^_`{{|}}~\t\n",
        "split": " ", "lower": true, "char_level": false, "num_words": 6, "oov_token": null,
        "maxlen": 4, "padding": "pre", "truncating": "pre",
        "labels": ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"],
        "word_index": {{"the": 1, "you": 2, "don’t": 3, "a\rb": 4, "café": 5, "rare": 6{extra}}}}}"##
    )
}

fn write_tokenizer(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("tokenizer.json");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn keras_text_to_word_sequence_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let tok = KerasTokenizer::from_file(&write_tokenizer(dir.path(), &tokenizer_json(""))).unwrap();
    // Lowercased; filter characters split words; only `split` and filters separate words, so
    // `\r` stays inside a word and the typographic apostrophe is part of "don’t".
    assert_eq!(
        tok.words("THE,you!!  Don’t\ta\rb"),
        ["the", "you", "don’t", "a\rb"]
    );
    assert_eq!(tok.encode("THE,you!!  Don’t\ta\rb CAFÉ"), [1, 2, 3, 4, 5]);
    // Unknown words and words with index >= num_words (6) are dropped (no OOV token).
    assert_eq!(tok.encode("zebra rare the"), [1]);
    // pad_sequences defaults: zeros in front; longer sequences keep their *last* ids.
    assert_eq!(tok.pad(&[1, 2]), [0, 0, 1, 2]);
    assert_eq!(tok.pad(&[1, 2, 3, 4, 5]), [2, 3, 4, 5]);
    assert_eq!(tok.pad(&[]), [0, 0, 0, 0]);
}

#[test]
fn oov_token_is_supported() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        tokenizer_json(", \"<oov>\": 0").replace("\"oov_token\": null", "\"oov_token\": \"<oov>\"");
    let e = KerasTokenizer::from_file(&write_tokenizer(dir.path(), &text)).unwrap_err();
    assert!(e.to_string().contains("index 0"), "{e}");
    let text = text
        .replace("\"<oov>\": 0", "\"<oov>\": 7")
        .replace("\"num_words\": 6", "\"num_words\": 10");
    let tok = KerasTokenizer::from_file(&write_tokenizer(dir.path(), &text)).unwrap();
    assert_eq!(tok.encode("the zebra"), [1, 7]);
}

#[test]
fn bad_tokenizer_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let full = tokenizer_json("");
    let p = write_tokenizer(dir.path(), &full[..full.len() / 2]);
    let e = KerasTokenizer::from_file(&p).unwrap_err();
    assert!(matches!(e, SafetyError::Model { .. }), "{e:?}");
    assert!(e.to_string().contains("tokenizer.json"), "{e}");
    let p = write_tokenizer(
        dir.path(),
        &full.replace("\"pre\", \"truncating\"", "\"post\", \"truncating\""),
    );
    let e = KerasTokenizer::from_file(&p).unwrap_err();
    assert!(e.to_string().contains("post"), "{e}");
}

#[test]
fn truncated_or_corrupt_weights_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_tokenizer(dir.path(), &tokenizer_json(""));
    // Missing model.safetensors.
    let e = ToxicityClassifier::from_dir(dir.path()).err().unwrap();
    assert!(
        matches!(e, SafetyError::Io { .. }) && e.to_string().contains("model.safetensors"),
        "{e}"
    );
    // Truncated: a header length pointing past the end.
    let st = dir.path().join("model.safetensors");
    std::fs::write(&st, [200u8, 0, 0, 0, 0, 0, 0, 0, b'{']).unwrap();
    let e = ToxicityClassifier::from_dir(dir.path()).err().unwrap();
    assert!(
        matches!(e, SafetyError::Model { .. }) && e.to_string().contains("model.safetensors"),
        "{e}"
    );
    // A valid safetensors file without the expected tensors.
    let header = br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&1.0f32.to_le_bytes());
    std::fs::write(&st, &bytes).unwrap();
    let e = ToxicityClassifier::from_dir(dir.path()).err().unwrap();
    assert!(e.to_string().contains("embedding.embeddings"), "{e}");
}

#[test]
fn missing_model_skips_unless_required() {
    // The library default: enabled but no model folder -> left out, chain still works.
    let chain = FilterChain::builtin().unwrap();
    assert_eq!(chain.filter_names(), ["policy", "injection"]);
    assert_eq!(chain.skipped(), ["toxicity"]);
    let mut c = SafetyConfig {
        toxicity: ToxicityConfig {
            model: Some("/nonexistent/toxic-comment-classifier".into()),
            required: false,
        },
        ..SafetyConfig::default()
    };
    assert!(FilterChain::from_config(&c).is_ok());
    // Required: the chain cannot be built, and the error says why.
    c.toxicity.required = true;
    let e = FilterChain::from_config(&c).err().unwrap();
    assert!(matches!(e, SafetyError::Unavailable { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("/nonexistent/toxic-comment-classifier"),
        "{e}"
    );
    // A folder that exists but holds a broken model is an error even when not required.
    let dir = tempfile::tempdir().unwrap();
    c.toxicity = ToxicityConfig {
        model: Some(dir.path().to_owned()),
        required: false,
    };
    let e = FilterChain::from_config(&c).err().unwrap();
    assert!(e.to_string().contains("tokenizer.json"), "{e}");
    assert!(ToxicityFilter::from_config(&c.toxicity).is_err());
}

#[test]
fn toxicity_categories_are_configurable() {
    let toml = r#"
        [safety]
        enabled = ["policy", "toxicity"]
        [safety.thresholds]
        insult = 0.7
        [safety.actions]
        threat = "allow"
        [safety.toxicity]
        required = false
    "#;
    let c = SafetyConfig::from_toml_str(toml).unwrap();
    assert!(FilterChain::from_config(&c).is_ok());
    // Toxicity labels are unknown categories when the filter is not enabled...
    let e = SafetyConfig::from_toml_str(
        "[safety]\nenabled = [\"policy\"]\n[safety.thresholds]\ninsult = 0.7\n",
    )
    .and_then(|c| FilterChain::from_config(&c).map(|_| ()))
    .unwrap_err();
    assert!(e.to_string().contains("safety.thresholds.insult"), "{e}");
    // ...and cannot redact (no span).
    let e = SafetyConfig::from_toml_str(
        "[safety.actions]\ninsult = \"redact\"\n[safety.toxicity]\nmodel = \".\"\n",
    )
    .and_then(|c| FilterChain::from_config(&c).map(|_| ()))
    .unwrap_err();
    assert!(
        e.to_string().contains("safety.actions.insult") && e.to_string().contains("redact"),
        "{e}"
    );
}

#[test]
fn chain_rejects_non_utf8_and_allows_empty_text() {
    let chain = FilterChain::builtin().unwrap();
    let e = chain.check_bytes(b"abc\xff", Stage::Input).unwrap_err();
    assert!(matches!(e, SafetyError::InvalidUtf8 { offset: 3 }), "{e:?}");
    assert_eq!(
        chain.check_text("", Stage::Input).unwrap(),
        muse_safety::Verdict::allow()
    );
}
