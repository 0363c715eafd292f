//! Shared test helpers (see `muse-test-utils`).

pub use muse_test_utils::{SMOLLM2, packaged};
