//! `muse eval`, `muse generate --n` and `muse generate --best-of`: JSON shapes, scores in range,
//! and one-line errors for bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

mod common;

use common::{assert_one_line_error, have_models, json, muse};
use serde_json::Value;

fn assert_unit_scores(v: &Value) {
    for k in ["coherence", "fluency", "relevance", "creativity", "overall"] {
        let s = v[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing in {v}"));
        assert!((0.0..=1.0).contains(&s), "{k} = {s}");
    }
}

const PROMPT: &str = "Explain why the sky looks blue.";
const TEXT: &str = "Sunlight holds every colour of the rainbow. As it passes through the air, \
    the short blue waves bounce off gas molecules far more than the long red ones. This \
    scattered blue light reaches our eyes from every direction, so the whole sky looks blue.";

#[test]
fn eval_prints_four_scores_details_and_the_weighted_overall() {
    if !have_models() {
        return;
    }
    let v = json(&muse(&[
        "eval", "--prompt", PROMPT, "--text", TEXT, "--json",
    ]));
    assert_unit_scores(&v);
    let want = 0.4 * v["coherence"].as_f64().unwrap()
        + 0.3 * v["fluency"].as_f64().unwrap()
        + 0.2 * v["relevance"].as_f64().unwrap()
        + 0.1 * v["creativity"].as_f64().unwrap();
    assert!((v["overall"].as_f64().unwrap() - want).abs() < 1e-9);
    assert!(v["details"]["fluency"]["perplexity"].as_f64().unwrap() > 1.0);
    assert_eq!(v["details"]["coherence"]["sentences"], 3);
    assert!(v["details"]["relevance"]["groundedness"].is_null());

    // Only creativity counts: overall equals creativity.
    let v = json(&muse(&[
        "eval",
        "--prompt",
        PROMPT,
        "--text",
        TEXT,
        "--weights",
        "0,0,0,1",
        "--json",
    ]));
    assert!((v["overall"].as_f64().unwrap() - v["creativity"].as_f64().unwrap()).abs() < 1e-9);

    // A passage enables groundedness.
    let v = json(&muse(&[
        "eval",
        "--prompt",
        PROMPT,
        "--text",
        TEXT,
        "--json",
        "--passage",
        "Blue light is scattered by the molecules of the air more than red light.",
    ]));
    assert!(v["details"]["relevance"]["groundedness"].as_f64().unwrap() > 0.0);
}

#[test]
fn eval_defines_scores_for_odd_texts() {
    if !have_models() {
        return;
    }
    let long_prompt = "Tell me about the sea. ".repeat(200);
    for (prompt, text) in [
        (PROMPT, "Blue."),
        (
            PROMPT,
            "天空是蓝色的，因为空气散射了蓝光。阳光包含所有颜色。",
        ),
        (long_prompt.as_str(), TEXT),
    ] {
        let v = json(&muse(&[
            "eval", "--prompt", prompt, "--text", text, "--json",
        ]));
        assert_unit_scores(&v);
    }
}

#[test]
fn eval_errors_are_one_line() {
    assert_one_line_error(
        &muse(&["eval", "--prompt", PROMPT, "--text", "  "]),
        "empty",
    );
    assert_one_line_error(
        &muse(&[
            "eval",
            "--prompt",
            PROMPT,
            "--text",
            TEXT,
            "--weights",
            "1,2",
        ]),
        "weights",
    );
    assert_one_line_error(
        &muse(&["eval", "--prompt", PROMPT, "--file", "/nonexistent/x.txt"]),
        "/nonexistent/x.txt",
    );
}

#[test]
fn n_returns_every_choice() {
    if !have_models() {
        return;
    }
    let v = json(&muse(&[
        "generate",
        PROMPT,
        "--n",
        "3",
        "--max-tokens",
        "12",
        "--json",
    ]));
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for c in choices {
        assert!(c["text"].is_string() && c["tokens"].as_u64().unwrap() <= 12);
        assert!(["stop", "length"].contains(&c["finish_reason"].as_str().unwrap()));
    }
}

#[test]
fn best_of_marks_the_highest_scoring_candidate() {
    if !have_models() {
        return;
    }
    let v = json(&muse(&[
        "generate",
        PROMPT,
        "--best-of",
        "3",
        "--max-tokens",
        "24",
        "--json",
    ]));
    let cands = v["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 3);
    let chosen = v["chosen"].as_u64().unwrap() as usize;
    let best = cands
        .iter()
        .map(|c| c["scores"]["overall"].as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(cands[chosen]["scores"]["overall"].as_f64().unwrap(), best);
    assert_eq!(cands.iter().filter(|c| c["chosen"] == true).count(), 1);
    assert_eq!(v["text"], cands[chosen]["text"]);
    for c in cands {
        assert_unit_scores(&c["scores"]);
    }
}

#[test]
fn refinement_runs_more_rounds_below_the_minimum() {
    if !have_models() {
        return;
    }
    // No text reaches 1.0: every round runs, each with new seeds.
    let v = json(&muse(&[
        "generate",
        PROMPT,
        "--best-of",
        "2",
        "--min-score",
        "1.0",
        "--max-rounds",
        "2",
        "--max-tokens",
        "16",
        "--json",
    ]));
    assert_eq!(v["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(v["candidates"].as_array().unwrap().len(), 4);
    assert_eq!(v["reached_min_score"], false);
    let seeds: std::collections::HashSet<u64> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds.len(), 4);
}

#[test]
fn optimizer_flags_are_validated() {
    assert_one_line_error(&muse(&["generate", "x", "--n", "0"]), "--n");
    assert_one_line_error(&muse(&["generate", "x", "--best-of", "0"]), "--best-of");
    assert_one_line_error(
        &muse(&["generate", "x", "--best-of", "2", "--min-score", "2"]),
        "--min-score",
    );
    assert_one_line_error(&muse(&["generate", "x", "--min-score", "0.5"]), "--best-of");
    assert_one_line_error(
        &muse(&["generate", "x", "--best-of", "2", "--weights", "a,b,c,d"]),
        "weights",
    );
}
