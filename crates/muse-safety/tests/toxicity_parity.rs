//! Parity of the Rust toxicity classifier with the package's own Keras code
//! (`toxic-comment-classifier==0.3.0`, TensorFlow 2.19 / Keras 3.15): token ids exactly,
//! scores to 1e-3, on `tests/fixtures/toxicity_keras.json` (from
//! `scripts/fixtures/toxicity_keras.py`), plus the figures printed in the package's README.
//! Needs the converted model (`./setup.sh`); prints `SKIPPED:` without it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_safety::{
    Action, ContentFilter, Stage, TOXICITY_LABELS, TOXICITY_MODEL_DIR, ToxicityClassifier,
    ToxicityFilter,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    labels: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    scores: Vec<f32>,
}

const TOLERANCE: f32 = 1e-3;

fn classifier() -> Option<ToxicityClassifier> {
    let dir = muse_test_utils::packaged(TOXICITY_MODEL_DIR)?;
    Some(ToxicityClassifier::from_dir(&dir).unwrap())
}

#[test]
fn matches_keras_on_the_fixture() {
    let Some(clf) = classifier() else { return };
    let fx: Fixture = serde_json::from_str(include_str!("fixtures/toxicity_keras.json")).unwrap();
    assert_eq!(fx.labels, TOXICITY_LABELS);
    let mut worst = 0.0f32;
    for case in &fx.cases {
        assert_eq!(
            clf.tokenizer().encode(&case.text),
            case.ids,
            "ids of {:?}",
            case.text
        );
        let got = clf.classify_exact(&case.text).unwrap();
        for ((label, &want), got) in TOXICITY_LABELS.iter().zip(&case.scores).zip(got) {
            let d = (got - want).abs();
            worst = worst.max(d);
            assert!(
                d <= TOLERANCE,
                "{label} of {:?}: got {got}, Keras {want}",
                case.text
            );
        }
    }
    eprintln!(
        "toxicity parity: {} texts, max |Rust - Keras| = {worst:.2e}",
        fx.cases.len()
    );
}

#[test]
fn reproduces_the_package_readme() {
    let Some(clf) = classifier() else { return };
    // README: model.classify("You are so dumb and stupid!")
    let want = [
        0.988_940_3,
        0.072_567_72,
        0.620_429_3,
        0.019_348_46,
        0.866_407_5,
        0.040_729_48,
    ];
    let got = clf.classify_exact("You are so dumb and stupid!").unwrap();
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= TOLERANCE, "{got:?} vs README {want:?}");
    }
    // README: predict_batch (mean of the six scores), printed to 4 decimals.
    for (text, mean) in [
        ("I hate you so much!", 0.1395),
        ("This is wonderful news.", 0.0013),
        ("You're disgusting!", 0.3110),
        ("Absolutely love your energy!", 0.0088),
        ("You're the worst person ever!", 0.0937),
        ("Have a nice day :)", 0.0115),
    ] {
        let s = clf.classify_exact(text).unwrap();
        let m = s.iter().sum::<f32>() / 6.0;
        assert!(
            (m - mean).abs() <= 6e-4,
            "{text:?}: mean {m}, README {mean}"
        );
    }
}

#[test]
fn long_texts_are_scored_in_windows() {
    let Some(clf) = classifier() else { return };
    // The package sees only the last 100 words; Muse scores every window.
    let insult = "you are a stupid worthless idiot";
    let text = format!(
        "{insult} {}",
        "the weather is mild and sunny today ".repeat(30)
    );
    let exact = clf.classify_exact(&text).unwrap();
    let windowed = clf.classify(&text).unwrap();
    assert!(exact[0] < 0.5, "{exact:?}");
    assert!(windowed[0] > 0.5, "{windowed:?}");
}

#[test]
fn filter_blocks_insults_and_allows_hard_benign_cases() {
    let Some(dir) = muse_test_utils::packaged(TOXICITY_MODEL_DIR) else {
        return;
    };
    let f = ToxicityFilter::from_dir(&dir).unwrap();
    let v = f
        .check_text("You are so dumb and stupid!", Stage::Input)
        .unwrap();
    assert_eq!(v.action, Action::Block);
    assert!(v.flagged && v.score("toxic") > 0.9 && v.score("insult") > 0.8);
    let v = f
        .check_text(
            "How do I kill a Python process that is stuck?",
            Stage::Input,
        )
        .unwrap();
    assert_eq!(v.action, Action::Allow, "{:?}", v.categories);
    assert_eq!(v.categories.len(), 6);
    let v = f.check_text("   ", Stage::Input).unwrap();
    assert_eq!(v, muse_safety::Verdict::allow());
}
