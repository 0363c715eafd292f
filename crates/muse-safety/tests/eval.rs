//! Precision and recall of the default chain on the committed labelled set
//! `data/eval_text.jsonl` (hand-written short texts: benign, including hard cases such as
//! "how do I kill a Python process", and harmful). A text counts as caught when the chain's
//! action is not `allow` (`redact` for personal data, `block` otherwise). This measures the
//! *rule baseline*; run with `--nocapture` to see the figures and every error.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_safety::{Action, ContentFilter, FilterChain, Stage};
use serde::Deserialize;

#[derive(Deserialize)]
struct Example {
    text: String,
    label: String,
    #[serde(default)]
    category: Option<String>,
}

/// Floors chosen after measuring (precision 1.000, recall 0.933 when first measured; see
/// the crate README); they guard against regressions, they are not targets.
const MIN_PRECISION: f64 = 0.95;
const MIN_RECALL: f64 = 0.85;

#[test]
fn default_chain_precision_and_recall() {
    let data = include_str!("../data/eval_text.jsonl");
    let examples: Vec<Example> = data
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let benign = examples.iter().filter(|e| e.label == "benign").count();
    let harmful = examples.iter().filter(|e| e.label == "harmful").count();
    assert!(
        benign >= 110 && harmful >= 110,
        "{benign} benign, {harmful} harmful"
    );
    assert_eq!(
        benign + harmful,
        examples.len(),
        "labels must be benign|harmful"
    );

    let chain = FilterChain::builtin().unwrap();
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for e in &examples {
        let v = chain.check_text(&e.text, Stage::Input).unwrap();
        let caught = v.action != Action::Allow;
        let harmful = e.label == "harmful";
        let cat = e.category.as_deref().unwrap_or("-");
        match (harmful, caught) {
            (true, true) => tp += 1,
            (false, true) => {
                fp += 1;
                eprintln!(
                    "FALSE POSITIVE [{cat}] {:?} -> {:?} {:?}",
                    e.text, v.action, v.categories
                );
            }
            (true, false) => {
                fn_ += 1;
                eprintln!("MISSED         [{cat}] {:?} -> {:?}", e.text, v.categories);
            }
            (false, false) => {}
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    eprintln!(
        "rule baseline on {} texts ({benign} benign, {harmful} harmful): \
         precision {precision:.3} ({tp}/{}), recall {recall:.3} ({tp}/{}), {fp} false positives, {fn_} misses",
        examples.len(),
        tp + fp,
        tp + fn_
    );
    assert!(
        precision >= MIN_PRECISION,
        "precision {precision:.3} < {MIN_PRECISION}"
    );
    assert!(recall >= MIN_RECALL, "recall {recall:.3} < {MIN_RECALL}");
}
