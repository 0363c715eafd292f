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

/// A minimal GGUF v3 writer for crafted files: metadata of u32/u64/string values and F32 tensors.
enum Meta<'a> {
    U32(u32),
    U64(u64),
    Str(&'a str),
}

fn gguf(meta: &[(&str, Meta<'_>)], tensors: &[(&str, &[u64])]) -> Vec<u8> {
    let mut b = Vec::new();
    let s = |b: &mut Vec<u8>, v: &str| {
        b.extend((v.len() as u64).to_le_bytes());
        b.extend(v.as_bytes());
    };
    b.extend(b"GGUF");
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((meta.len() as u64).to_le_bytes());
    for (k, v) in meta {
        s(&mut b, k);
        match v {
            Meta::U32(x) => {
                b.extend(4u32.to_le_bytes());
                b.extend(x.to_le_bytes());
            }
            Meta::U64(x) => {
                b.extend(10u32.to_le_bytes());
                b.extend(x.to_le_bytes());
            }
            Meta::Str(x) => {
                b.extend(8u32.to_le_bytes());
                s(&mut b, x);
            }
        }
    }
    let mut offset = 0u64;
    let mut sizes = Vec::new();
    for (name, dims) in tensors {
        s(&mut b, name);
        b.extend((dims.len() as u32).to_le_bytes());
        for d in *dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(0u32.to_le_bytes()); // F32
        b.extend(offset.to_le_bytes());
        let bytes = dims.iter().product::<u64>() * 4;
        sizes.push(bytes);
        offset += bytes.div_ceil(32) * 32;
    }
    while b.len() % 32 != 0 {
        b.push(0);
    }
    for bytes in sizes {
        b.extend(std::iter::repeat_n(0u8, (bytes.div_ceil(32) * 32) as usize));
    }
    b
}

fn llama_meta<'a>(overrides: &[(&'a str, Meta<'a>)]) -> Vec<(&'a str, Meta<'a>)> {
    let mut m: Vec<(&str, Meta<'_>)> = vec![
        ("general.architecture", Meta::Str("llama")),
        ("llama.block_count", Meta::U32(1)),
        ("llama.context_length", Meta::U32(64)),
        ("llama.embedding_length", Meta::U32(32)),
        ("llama.feed_forward_length", Meta::U32(64)),
        ("llama.attention.head_count", Meta::U32(4)),
        ("llama.vocab_size", Meta::U32(8)),
        ("llama.attention.layer_norm_rms_epsilon", Meta::U32(1)),
    ];
    for (k, v) in overrides.iter() {
        m.retain(|(mk, _)| mk != k);
        m.push((
            *k,
            match v {
                Meta::U32(x) => Meta::U32(*x),
                Meta::U64(x) => Meta::U64(*x),
                Meta::Str(x) => Meta::Str(x),
            },
        ));
    }
    m
}

fn load_err(meta: &[(&str, Meta<'_>)], tensors: &[(&str, &[u64])]) -> String {
    let p = write_tmp("crafted.gguf", &gguf(meta, tensors));
    let g = GgufFile::open(&p).unwrap();
    match Llama::load(g) {
        Ok(_) => panic!("crafted model loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn crafted_hyperparameters_are_rejected_with_the_key_named() {
    // Nine unrelated tensors, so a one-layer model passes the tensor-count plausibility check.
    let pads = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"];
    let mut padded: Vec<(&str, &[u64])> = pads.iter().map(|p| (*p, &[8u64][..])).collect();
    let msg = load_err(
        &llama_meta(&[("llama.embedding_length", Meta::U32(0))]),
        &[],
    );
    assert!(
        msg.contains("llama.embedding_length") && msg.contains("positive"),
        "{msg}"
    );
    let msg = load_err(
        &llama_meta(&[("llama.attention.key_length", Meta::Str("sixty-four"))]),
        &[],
    );
    assert!(
        msg.contains("llama.attention.key_length") && msg.contains("wrong type"),
        "{msg}"
    );
    let msg = load_err(
        &llama_meta(&[("llama.block_count", Meta::U64(u64::MAX))]),
        &[],
    );
    assert!(msg.contains("block_count"), "{msg}");
    let msg = load_err(
        &llama_meta(&[("llama.rope.scaling.type", Meta::Str("yarn"))]),
        &[],
    );
    assert!(
        msg.contains("yarn") && msg.contains("not supported"),
        "{msg}"
    );
    // Consistent hyper-parameters but no tensors: the first missing tensor is named.
    let msg = load_err(&llama_meta(&[]), &padded);
    assert!(
        msg.contains("blk.0.attn_norm.weight") && msg.contains("missing"),
        "{msg}"
    );
    // A tensor of the wrong shape names expected and found.
    padded.push(("blk.0.attn_norm.weight", &[31]));
    let msg = load_err(&llama_meta(&[]), &padded);
    assert!(
        msg.contains("blk.0.attn_norm.weight") && msg.contains("[31]") && msg.contains("[32]"),
        "{msg}"
    );
}

#[test]
fn duplicate_names_and_oversized_arrays_are_corrupt() {
    let p = write_tmp(
        "dup.gguf",
        &gguf(&[("a", Meta::U32(1))], &[("x", &[8]), ("x", &[8])]),
    );
    let msg = GgufFile::open(&p).unwrap_err().to_string();
    assert!(msg.contains("`x` appears twice"), "{msg}");
    // An array header claiming 2^40 u64 elements in a tiny file.
    let mut b = gguf(&[], &[]);
    b[16..24].copy_from_slice(&1u64.to_le_bytes()); // one metadata pair
    b.truncate(24);
    b.extend(1u64.to_le_bytes());
    b.push(b'k');
    b.extend(9u32.to_le_bytes()); // array
    b.extend(10u32.to_le_bytes()); // of u64
    b.extend((1u64 << 40).to_le_bytes());
    b.extend([0u8; 64]);
    let msg = GgufFile::open(write_tmp("bigarray.gguf", &b))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("larger than the file"), "{msg}");
}
