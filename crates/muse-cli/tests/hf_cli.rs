//! `muse generate` and `muse score` on Hugging Face model folders (`--model DIR`), exactly as on
//! GGUF files. Uses the tiny random fixtures of muse-models, so it needs no installed model.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use serde_json::Value;
use std::process::Command;

fn fixture(name: &str) -> String {
    format!(
        "{}/../muse-models/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn muse_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_muse"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn generate_and_score_run_on_hf_folders() {
    for name in ["qwen2_tiny", "llama_tiny_llama3", "qwen2_tiny_sharded"] {
        let dir = fixture(name);
        let g = muse_json(&[
            "generate",
            "Hello",
            "--model",
            &dir,
            "--max-tokens",
            "5",
            "--json",
        ]);
        assert_eq!(g["model"], name);
        assert!(g["tokens"].as_u64().unwrap() <= 5);
        let n = muse_json(&[
            "generate",
            "Hello",
            "--model",
            &dir,
            "--max-tokens",
            "4",
            "--n",
            "2",
            "--json",
        ]);
        assert_eq!(n["choices"].as_array().unwrap().len(), 2);
        let s = muse_json(&[
            "score",
            "--text",
            "The fox jumps over the river.",
            "--model",
            &dir,
        ]);
        assert!(s["perplexity"].as_f64().unwrap() > 1.0);
    }
}

#[test]
fn a_folder_that_is_not_a_model_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_muse"))
        .args(["generate", "Hi", "--model", env!("CARGO_MANIFEST_DIR")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("config.json"), "{err}");
}
