//! Bad model files give typed errors naming the problem — never a panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_models::{GgufFile, Llama, ModelError};
use std::path::{Path, PathBuf};

fn fixture_bytes() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant_blocks.gguf"))
        .unwrap()
}

fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("muse-gguf-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn missing_file_names_the_path() {
    let err = GgufFile::open("/nonexistent/model.gguf").unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/model.gguf"));
}

#[test]
fn non_gguf_file_is_rejected_by_magic() {
    let p = write_tmp("not.gguf", b"PK\x03\x04 this is a zip, not a model");
    let err = GgufFile::open(&p).unwrap_err();
    assert!(matches!(err, ModelError::NotGguf { .. }), "{err}");
    assert!(err.to_string().contains("not a GGUF file"));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let full = fixture_bytes();
    // Cut inside the header densely, then through the tensor data.
    let mut cuts: Vec<usize> = (0..2048.min(full.len())).collect();
    cuts.extend((2048..full.len()).step_by(997));
    for cut in cuts {
        let p = write_tmp("trunc.gguf", &full[..cut]);
        match GgufFile::open(&p) {
            Err(ModelError::Corrupt { .. } | ModelError::NotGguf { .. }) => {}
            Err(other) => panic!("cut at {cut}: unexpected error kind {other}"),
            Ok(_) => panic!("cut at {cut} of {} bytes was accepted", full.len()),
        }
    }
}

#[test]
fn unsupported_version_and_tensor_type_are_named() {
    let mut b = fixture_bytes();
    b[4..8].copy_from_slice(&7u32.to_le_bytes());
    let err = GgufFile::open(write_tmp("v7.gguf", &b)).unwrap_err();
    assert!(
        err.to_string().contains("unsupported GGUF version 7"),
        "{err}"
    );

    // Patch the first tensor's type id (F32 = 0) to an unknown one (99). Its descriptor follows the
    // name "f32": find the name, skip n_dims (u32) and two u64 dims.
    let mut b = fixture_bytes();
    let needle = b"\x03\x00\x00\x00\x00\x00\x00\x00f32\x02\x00\x00\x00";
    let at = b
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("descriptor of `f32`");
    let ty_at = at + needle.len() + 16;
    b[ty_at..ty_at + 4].copy_from_slice(&99u32.to_le_bytes());
    let err = GgufFile::open(write_tmp("badtype.gguf", &b)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("tensor `f32`") && msg.contains("unsupported ggml tensor type id 99"),
        "{msg}"
    );
}

#[test]
fn unknown_architecture_lists_the_supported_ones() {
    let g = GgufFile::open(write_tmp("arch.gguf", &fixture_bytes())).unwrap();
    // The fixture's architecture is "muse-fixture", which no model implements.
    let err = Llama::load(g).err().expect("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("unsupported architecture") && msg.contains("llama"),
        "{msg}"
    );
}
