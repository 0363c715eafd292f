//! Helpers shared by the `muse` binary's test files: run it, parse its JSON, check the
//! one-line error contract, and find the packaged models.

#![allow(dead_code, reason = "each test file uses its own subset")]

use serde_json::Value;
use std::process::{Command, Output};

/// Run `muse` with `args`.
pub fn muse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_muse"))
        .args(args)
        .env_remove("MUSE_THREADS")
        .output()
        .expect("run muse")
}

/// Both packaged models (prints SKIPPED and returns false when absent, fails under CI).
pub fn have_models() -> bool {
    muse_test_utils::packaged(muse_test_utils::SMOLLM2).is_some()
        && muse_test_utils::packaged(muse_test_utils::MINILM).is_some()
}

/// The one JSON object a successful run printed.
pub fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "muse failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// The error contract: non-zero exit, nothing on stdout, one line on stderr containing `needle`.
pub fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout should be empty");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "stderr {stderr:?} lacks {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
